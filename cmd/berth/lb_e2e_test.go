package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testenv"
)

// cluster is a sites repo whose static platform runs on three web servers
// (web1..web3) behind load balancer lb1: four network-namespace hosts,
// each with its own sshd and nginx, which berth manages over SSH.
type cluster struct {
	*webFixture
	lb    *testenv.NetNginx
	nodes []*testenv.NetNginx
	php   []string // each node's php service (phpService), "" none
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	hosts := testenv.Hosts(t, 4)
	base := t.TempDir()
	f := &webFixture{t: t, repo: filepath.Join(base, "repo"), stateDir: filepath.Join(base, "state")}
	c := &cluster{webFixture: f}
	var known bytes.Buffer
	for _, h := range hosts {
		data, err := os.ReadFile(h.SSH.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		known.Write(data)
		f.flags = append(f.flags, "--ssh-key", h.SSH.KeyFile)
	}
	kh := filepath.Join(base, "known_hosts")
	if err := os.WriteFile(kh, known.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	f.flags = append(f.flags, "--known-hosts", kh)

	c.lb = testenv.NginxOn(t, hosts[0])
	f.addr = c.lb.Addr
	f.write("servers/lb1.yaml", fmt.Sprintf(`kind: Server
name: lb1
address: %s
ssh: { user: %s, sudo: true }
services:
  lb:
    type: nginx
    conf_dir: %s
    test: %s
    pid_file: %s
    max_fails: 1
`, hosts[0].IP, hosts[0].SSH.User, c.lb.SitesDir, flow(c.lb.TestArgv), c.lb.PIDFile))
	for i, h := range hosts[1:] {
		n := testenv.NginxOn(t, h)
		c.nodes = append(c.nodes, n)
		c.php = append(c.php, "")
		c.node(i+1, false)
	}
	f.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	f.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1, web2, web3]\nlb: lb1\n")
	f.write("code/index.html", "<h1>static platform</h1>\n")
	c.siteHeader("one")
	return c
}

// flow writes an argument vector as a YAML flow sequence.
func flow(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// node writes server webI, drained or not.
func (c *cluster) node(i int, drain bool) {
	n := c.nodes[i-1]
	c.write(fmt.Sprintf("servers/web%d.yaml", i), fmt.Sprintf(`kind: Server
name: web%d
address: %s
ssh: { user: %s, sudo: true }
drain: %t
services:
  http:
    type: nginx
    conf_dir: %s
    web_root: %s
    user: nobody
    group: nogroup
    test: %s
    pid_file: %s
%s`, i, n.Host.IP, n.Host.SSH.User, drain, n.SitesDir, filepath.Join(n.Prefix, "www"), flow(n.TestArgv), n.PIDFile, c.php[i-1]))
}

// withPHP starts a php-fpm for each node and gives the nodes' servers
// their php service.
func (c *cluster) withPHP() {
	c.t.Helper()
	for i := range c.nodes {
		c.php[i] = phpService(c.t, testenv.PHPFPM(c.t))
		c.node(i+1, false)
	}
}

// siteHeader writes site a.example.com (alias www.a.example.com) with
// header X-Version: v.
func (c *cluster) siteHeader(v string) {
	c.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\naliases: [www.a.example.com]\nweb:\n  headers:\n    X-Version: "+v+"\n")
}

// apply runs berth apply and returns its output, progress included.
func (c *cluster) apply() string {
	c.t.Helper()
	code, out, errOut := c.berth("apply", "--auto-approve")
	if code != 0 {
		c.t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	return out + errOut
}

// answer is one request through the load balancer (or to one node).
type answer struct {
	node, version string
	body          string
	err           error
}

// ask asks the load balancer for / of host.
func (c *cluster) ask(client *http.Client, host string) answer {
	return askAt(client, c.lb.Addr, host)
}

// askNode asks web server i (1-based) directly for / of host.
func (c *cluster) askNode(client *http.Client, i int, host string) answer {
	return askAt(client, c.nodes[i-1].Addr, host)
}

// askAt asks addr for / of host; an answer other than 200 with the static
// platform's page is an error.
func askAt(client *http.Client, addr, host string) answer {
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Host = host
	r, err := client.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 || !strings.Contains(string(body), "static platform") {
		return answer{err: fmt.Errorf("%s from %q: %q", r.Status, r.Header.Get("X-Berth-Node"), body)}
	}
	return answer{node: r.Header.Get("X-Berth-Node"), version: r.Header.Get("X-Version"), body: string(body)}
}

// serving waits (bounded) until the site answers through the load
// balancer: a reload takes effect shortly after its signal.
func (c *cluster) serving() {
	c.t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	testenv.EventuallyWith(c.t, "the site through the load balancer", 10*time.Second, func() (bool, string) {
		a := c.ask(client, "a.example.com")
		return a.err == nil, fmt.Sprint(a.err)
	})
}

// nodesAnswering asks the load balancer n times and counts the answers
// of each node; it fails the test on an error.
func (c *cluster) nodesAnswering(n int, host string) map[string]int {
	c.t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	seen := map[string]int{}
	for range n {
		a := c.ask(client, host)
		if a.err != nil {
			c.t.Fatalf("GET %s through the load balancer: %v", host, a.err)
		}
		seen[a.node]++
	}
	return seen
}

// nodesBecome waits (bounded) until n answers through the load balancer
// come from exactly the nodes named: a reload takes effect shortly after
// its signal.
func (c *cluster) nodesBecome(n int, nodes ...string) {
	c.t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	testenv.EventuallyWith(c.t, "answers through the load balancer from "+strings.Join(nodes, ", "), 10*time.Second, func() (bool, string) {
		seen := map[string]int{}
		for range n {
			a := c.ask(client, "a.example.com")
			if a.err != nil {
				return false, a.err.Error()
			}
			seen[a.node]++
		}
		if len(seen) != len(nodes) {
			return false, fmt.Sprint(seen)
		}
		for _, node := range nodes {
			if seen[node] == 0 {
				return false, fmt.Sprint(seen)
			}
		}
		return true, ""
	})

}

// statusShows runs berth status --observe and checks its output matches
// every pattern.
func (c *cluster) statusShows(patterns ...string) {
	c.t.Helper()
	args := append([]string{"status", "--observe", "--env", "production", "--repo", c.repo, "--state-dir", c.stateDir}, c.flags...)
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	out, errOut := stdout.String(), stderr.String()
	if code != exitOK {
		c.t.Fatalf("status --observe: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			c.t.Errorf("status --observe does not match %s:\n%s", p, out)
		}
	}
}

// loop asks the load balancer without pause until stop is called, which
// returns the answers.
func (c *cluster) loop() (stop func() []answer) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var answers []answer
	wg.Go(func() {
		client := &http.Client{Timeout: 5 * time.Second}
		tick := time.NewTicker(10 * time.Millisecond) // a steady load, not a synchronisation
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				answers = append(answers, c.ask(client, "a.example.com"))
			}
		}
	})
	return func() []answer {
		close(done)
		wg.Wait()
		return answers
	}
}

func errorsOf(answers []answer) []string {
	var out []string
	for _, a := range answers {
		if a.err != nil {
			out = append(out, a.err.Error())
		}
	}
	return out
}

// The Must show of issue 15's load balancer, drain and dead node, with
// three web servers and a load balancer on network-namespace hosts
// reached over SSH, each running its own nginx: the site answers through
// the load balancer from all three (X-Berth-Node), and a second apply
// changes nothing; draining web2 shows the load balancer's diff in the
// plan, reloads the load balancer before anything is done on web2, and
// a request loop through the load balancer sees no error while the
// load balancer stops sending web2 anything; undrained, web2 answers
// again; web3's sshd stopped, the run reports web3 unreachable
// (Degraded) and converges the others and the load balancer, and the
// site keeps answering through the load balancer; web3's nginx stopped
// too, the load balancer leaves it out without a failed request and
// status --observe shows it Degraded; web1 blackholed from berth's
// machine, the run reports it after the SSH connect timeout and
// converges web2.
func TestLoadBalancedCluster(t *testing.T) {
	c := newCluster(t)
	out := c.apply()
	c.serving()
	client := &http.Client{Timeout: 5 * time.Second}
	seen := c.nodesAnswering(9, "a.example.com")
	if len(seen) != 3 || seen["web1"] == 0 || seen["web2"] == 0 || seen["web3"] == 0 {
		t.Fatalf("answers through the load balancer by node: %v, want web1, web2 and web3\n%s", seen, out)
	}
	if s := c.nodesAnswering(3, "www.a.example.com"); len(s) != 3 {
		t.Errorf("the alias is answered by %v, want the three nodes", s)
	}
	// The nodes take the client's address from the load balancer's
	// X-Forwarded-For: their access logs show the test process, not lb1.
	logData, err := os.ReadFile(filepath.Join(c.nodes[0].Prefix, "logs", "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(logData)), "\n"); !strings.HasSuffix(strings.Fields(lines[len(lines)-1])[0], ".254") {
		t.Errorf("web1 logs a request from %s, want the client's address (the root namespace's .254), not the load balancer's", strings.Fields(lines[len(lines)-1])[0])
	}

	if code, out, errOut := c.berth("plan"); code != 0 {
		t.Fatalf("plan after apply: exit %d, want 0 (nothing to do)\n%s\n%s", code, out, errOut)
	}
	c.statusShows(`(?m)^    web1 +[0-9.]+:80 +Healthy 200$`, `(?m)^    web2 +[0-9.]+:80 +Healthy 200$`, `(?m)^    web3 +[0-9.]+:80 +Healthy 200$`)

	// Drain web2 in a run that also changes the site on every node.
	c.node(2, true)
	c.siteHeader("two")
	code, plan, errOut := c.berth("plan")
	if code != 2 {
		t.Fatalf("plan of the drain: exit %d, want 2\n%s\n%s", code, plan, errOut)
	}
	web2 := c.nodes[1].Host.IP + ":80"
	if !strings.Contains(plan, "+    server "+web2+" down; # web2: drained") || !strings.Contains(plan, "-    server "+web2+" max_fails=1") {
		t.Errorf("the plan does not show web2 marked down in lb1's upstream:\n%s", plan)
	}
	stop := c.loop()
	out = c.apply()
	answers := stop()
	if errs := errorsOf(answers); len(errs) > 0 {
		t.Errorf("%d of %d requests through the load balancer failed during the drain: %s", len(errs), len(answers), strings.Join(errs, "; "))
	}
	lbAt := strings.Index(out, "lb1: ~ lb/static@lb1")
	web2At := strings.Index(out, "web2: ~ site/a.example.com/vhost@web2")
	if lbAt < 0 || web2At < 0 || web2At < lbAt {
		t.Errorf("apply did not change lb1's upstream before web2's vhost:\n%s", out)
	}
	lbConf, _ := os.Stat(filepath.Join(c.lb.SitesDir, "berth-production-static.conf"))
	web2Conf, _ := os.Stat(filepath.Join(c.nodes[1].SitesDir, "a.example.com.conf"))
	if lbConf == nil || web2Conf == nil || web2Conf.ModTime().Before(lbConf.ModTime()) {
		t.Errorf("web2's vhost was written before lb1's upstream")
	}
	c.nodesBecome(12, "web1", "web3")
	if code, out, errOut := c.berth("plan"); code != 0 {
		t.Fatalf("plan after the drain: exit %d, want 0\n%s\n%s", code, out, errOut)
	}
	c.statusShows(`(?m)^    web2 +[0-9.]+:80 +Healthy 200 \(drained\)$`)

	// Undrain: web2 is added back after it converged.
	c.node(2, false)
	c.siteHeader("three")
	stop = c.loop()
	out = c.apply()
	answers = stop()
	if errs := errorsOf(answers); len(errs) > 0 {
		t.Errorf("%d of %d requests through the load balancer failed during the undrain: %s", len(errs), len(answers), strings.Join(errs, "; "))
	}
	web2At = strings.Index(out, "web2: ~ site/a.example.com/vhost@web2")
	lbAt = strings.Index(out, "lb1: ~ lb/static@lb1")
	if lbAt < 0 || web2At < 0 || lbAt < web2At || !strings.Contains(out[web2At:lbAt], "web2: http: reloaded") {
		t.Errorf("apply did not re-add web2 to lb1's upstream after web2 converged and reloaded:\n%s", out)
	}
	c.nodesBecome(12, "web1", "web2", "web3")

	// A dead node: web3's sshd stops (its nginx keeps serving).
	c.nodes[2].Host.SSH.Stop()
	c.siteHeader("four")
	stop = c.loop()
	start := time.Now()
	code, out, errOut = c.berth("apply", "--auto-approve")
	took := time.Since(start)
	answers = stop()
	if errs := errorsOf(answers); len(errs) > 0 {
		t.Errorf("%d of %d requests through the load balancer failed with web3 unreachable: %s", len(errs), len(answers), strings.Join(errs, "; "))
	}
	if code != exitError || !strings.Contains(out, "Degraded: server web3 could not be reached") {
		t.Errorf("apply with web3 unreachable (exit %d, %s) does not report web3 Degraded:\n%s\n%s", code, took, out, errOut)
	}
	for _, n := range []string{"web1", "web2"} {
		if !strings.Contains(errOut, n+": http: reloaded") {
			t.Errorf("apply with web3 unreachable did not converge %s:\n%s", n, out)
		}
	}
	testenv.EventuallyWith(t, "version four from web1 and web2, with web3 unreachable", 10*time.Second, func() (bool, string) {
		for range 6 {
			a := c.ask(client, "a.example.com")
			switch {
			case a.err != nil:
				t.Fatalf("with web3 unreachable: %v", a.err)
			case a.node != "web3" && a.version != "four":
				return false, fmt.Sprintf("%s answers version %s", a.node, a.version)
			}
		}
		return true, ""
	})

	// web3's nginx dies too: the load balancer leaves it out (a refused
	// connection tries the next server), no request fails, and status
	// shows the node Degraded and the environment's last run Degraded.
	c.nodes[2].Proc.Stop()
	stop = c.loop()
	c.nodesBecome(12, "web1", "web2")
	if errs := errorsOf(stop()); len(errs) > 0 {
		t.Errorf("%d requests through the load balancer failed with web3 down: %s", len(errs), strings.Join(errs, "; "))
	}
	c.statusShows(`(?m)^production \(branch main\): \w+, Degraded`, `web3: not applied: observe server web3`,
		`(?m)^    web3 +[0-9.]+:80 +Degraded: no answer`, `(?m)^    web1 +[0-9.]+:80 +Healthy 200$`)

	// web1 blackholed from berth's machine (its answers to the root
	// namespace's address are dropped; the load balancer still reaches
	// it): the SSH connect times out (bounded), the run reports it, web2
	// converges and the site keeps answering through the load balancer.
	root := c.lb.Host.IP[:strings.LastIndexByte(c.lb.Host.IP, '.')] + ".254/32"
	if out, err := exec.Command("ip", "-n", c.nodes[0].Host.Netns, "route", "add", "blackhole", root).CombinedOutput(); err != nil {
		t.Fatalf("blackhole web1: %v: %s", err, out)
	}
	c.siteHeader("five")
	stop = c.loop()
	code, out, errOut = c.berth("apply", "--auto-approve")
	if errs := errorsOf(stop()); len(errs) > 0 {
		t.Errorf("%d requests through the load balancer failed with web1 blackholed: %s", len(errs), strings.Join(errs, "; "))
	}
	if code != exitError || !strings.Contains(out, "Degraded: server web1 could not be reached") || !strings.Contains(out, "timeout") ||
		!strings.Contains(errOut, "web2: http: reloaded") {
		t.Errorf("apply with web1 blackholed (exit %d) does not report it Degraded after a timeout and converge web2:\n%s\n%s", code, out, errOut)
	}
	c.nodesBecome(12, "web1", "web2")
}
