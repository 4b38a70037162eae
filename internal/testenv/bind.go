package testenv

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BINDServer is a running BIND named answering DNS on Addr (UDP and TCP),
// controlled by rndc at its control address. Zone files live in ZonesDir;
// new zones may be added with `rndc addzone`.
type BINDServer struct {
	Dir         string
	Port        int
	Addr        string // where named answers DNS, IP:Port
	ControlPort int
	ZonesDir    string
	RNDCConf    string // rndc -c RNDCConf ...
	Conf        string // named.conf, for named-checkconf
	// Netns is the network namespace named runs in ("" for the root
	// namespace): see BINDOn.
	Netns string
	Proc  *Proc
}

// BINDOptions change how BINDWith starts named.
type BINDOptions struct {
	// Includes are files named.conf includes after its own zones, created
	// empty when missing: berth's managed zone lists, which it rewrites
	// and loads with rndc reconfig.
	Includes []string
}

// BIND starts named in the foreground serving zones (zone name -> zone file
// text; may be empty) as primary; it is stopped when the test ends.
func BIND(t testing.TB, zones map[string]string) *BINDServer {
	t.Helper()
	return BINDWith(t, zones, BINDOptions{})
}

// BINDWith is BIND with options: named on 127.0.0.1 at free ports.
func BINDWith(t testing.TB, zones map[string]string, opts BINDOptions) *BINDServer {
	t.Helper()
	return startBIND(t, bindAt{ip: "127.0.0.1", port: FreePort(t), controlPort: FreePort(t)}, zones, opts)
}

// BINDOn starts named inside the network namespace of h, a simulated
// machine of Hosts: it answers DNS on h.IP port 53 and rndc on h.IP port
// 953, reached from the test process through the test bridge and from the
// host's own sessions (berth over SSH) alike, and it talks to the other
// hosts from h.IP (zone transfers, NOTIFY). Its files are on the shared
// file system, in a directory of its own. It is stopped by PID when the
// test ends, or earlier by b.Proc.Stop.
func BINDOn(t testing.TB, h *NetHost, zones map[string]string, opts BINDOptions) *BINDServer {
	t.Helper()
	return startBIND(t, bindAt{ip: h.IP, port: 53, controlPort: 953, netns: h.Netns}, zones, opts)
}

// bindAt is where a named listens: DNS on ip:port, rndc on
// ip:controlPort, inside netns when not empty.
type bindAt struct {
	ip                string
	port, controlPort int
	netns             string
}

func startBIND(t testing.TB, at bindAt, zones map[string]string, opts BINDOptions) *BINDServer {
	t.Helper()
	named := need(t, "named", "bind9")
	need(t, "rndc", "bind9-utils")
	confgen := need(t, "rndc-confgen", "bind9-utils")
	checkconf := need(t, "named-checkconf", "bind9-utils")
	d := tempRoot(t, "bind")
	b := &BINDServer{Dir: d, Port: at.port, ControlPort: at.controlPort, ZonesDir: filepath.Join(d, "zones"), RNDCConf: filepath.Join(d, "rndc.conf"), Netns: at.netns}
	b.Addr = net.JoinHostPort(at.ip, strconv.Itoa(b.Port))
	control := net.JoinHostPort(at.ip, strconv.Itoa(b.ControlPort))
	mkdir(t, filepath.Join(d, "run"))
	mkdir(t, b.ZonesDir)
	key := filepath.Join(d, "rndc.key")
	run(t, confgen, "-a", "-A", "hmac-sha256", "-k", "berth-rndc", "-c", key)
	// On loopback only local clients reach rndc; in a namespace the test
	// process comes through the bridge: the key guards it.
	allow := "127.0.0.1;"
	if at.netns != "" {
		allow = "any;"
	}
	var conf strings.Builder
	fmt.Fprintf(&conf, `include "%[1]s";
options {
  directory "%[2]s/run"; pid-file "%[2]s/run/named.pid"; session-keyfile "%[2]s/run/session.key";
  managed-keys-directory "%[2]s/run";
  listen-on port %[3]d { %[5]s; }; listen-on-v6 { none; };
  recursion no; allow-query { any; }; dnssec-validation no; allow-new-zones yes;
};
controls { inet %[5]s port %[4]d allow { %[6]s } keys { "berth-rndc"; }; };
`, key, d, b.Port, b.ControlPort, at.ip, allow)
	names := make([]string, 0, len(zones))
	for z := range zones {
		names = append(names, z)
	}
	sort.Strings(names)
	for _, z := range names {
		f := filepath.Join(b.ZonesDir, z+".zone")
		writeFile(t, f, zones[z])
		fmt.Fprintf(&conf, "zone %q { type primary; file %q; };\n", z, f)
	}
	for _, inc := range opts.Includes {
		if _, err := os.Stat(inc); errors.Is(err, fs.ErrNotExist) {
			writeFile(t, inc, "")
		}
		fmt.Fprintf(&conf, "include %q;\n", inc)
	}
	cfg := filepath.Join(d, "named.conf")
	b.Conf = cfg
	writeFile(t, cfg, conf.String())
	writeFile(t, b.RNDCConf, fmt.Sprintf(`include "%s";
options { default-key "berth-rndc"; default-server %s; default-port %d; };
`, key, at.ip, b.ControlPort))
	if out, err := exec.Command(checkconf, cfg).CombinedOutput(); err != nil {
		t.Fatalf("testenv: named-checkconf: %v\n%s", err, out)
	}
	argv := []string{named, "-4", "-g", "-c", cfg}
	if at.netns != "" {
		// ip netns exec execs named itself: the PID is named's.
		argv = append([]string{"ip", "netns", "exec", at.netns}, argv...)
	}
	b.Proc = start(t, "named "+b.Addr, filepath.Join(d, "named.log"), argv, nil)
	if err := waitTCP(b.Proc, b.Addr, 20*time.Second); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := waitTCP(b.Proc, control, 20*time.Second); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// named listens before it has loaded its zones, and answers SERVFAIL
	// for a zone still loading: wait until each zone's SOA is served.
	for _, z := range names {
		if strings.TrimSpace(zones[z]) == "" {
			continue
		}
		if err := waitFor(b.Proc, "zone "+z+" served by named "+b.Addr, 20*time.Second, func() bool { return b.servesSOA(z) }); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	return b
}

// servesSOA reports whether the server answers the zone's SOA with
// authority.
func (b *BINDServer) servesSOA(zone string) bool {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(zone), dns.TypeSOA)
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	r, _, err := c.Exchange(m, b.Addr)
	return err == nil && r.Rcode == dns.RcodeSuccess && r.Authoritative && len(r.Answer) > 0
}

// RNDC runs rndc against the server and returns its output.
func (b *BINDServer) RNDC(args ...string) (string, error) {
	out, err := exec.Command("rndc", append([]string{"-c", b.RNDCConf}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("rndc %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Dig queries the server for name and type and returns the answer section
// in +short form.
func (b *BINDServer) Dig(name, typ string) (string, error) {
	out, err := exec.Command("dig", "@"+b.ip(), "-p", strconv.Itoa(b.Port), "+short", "+time=2", "+tries=1", name, typ).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("dig %s %s: %w: %s", name, typ, err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// ip is the address named answers on.
func (b *BINDServer) ip() string {
	h, _, _ := net.SplitHostPort(b.Addr)
	return h
}
