package testenv

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// PebbleVersion is the Pebble release the helpers install and run.
const PebbleVersion = "v2.10.1"

// PebbleOptions configure a Pebble ACME test CA.
type PebbleOptions struct {
	// HTTPPort and TLSPort are where Pebble connects to validate HTTP-01
	// and TLS-ALPN-01 challenges (e.g. the test nginx's port). Zero: 5002
	// and 5001, Pebble's defaults.
	HTTPPort, TLSPort int
	// DNSServer ("127.0.0.1:PORT", e.g. a BINDServer's Addr) answers
	// Pebble's validation lookups; empty uses the system resolver.
	DNSServer string
	// AlwaysValid skips challenge validation (PEBBLE_VA_ALWAYS_VALID).
	AlwaysValid bool
}

// PebbleServer is a running Pebble.
type PebbleServer struct {
	Dir string
	// DirectoryURL is the ACME directory, "https://127.0.0.1:PORT/dir".
	DirectoryURL string
	// RootsURL serves the root that issues this run's certificates (new
	// on every start).
	RootsURL string
	// CACertFile signs Pebble's own HTTPS certificate: trust it to talk to
	// DirectoryURL.
	CACertFile string
	Proc       *Proc
}

// Orders counts the orders Pebble accepted since it started, from its
// log: what a test counts to show that berth sent none.
func (p *PebbleServer) Orders(t testing.TB) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(p.Dir, "pebble.log"))
	if err != nil {
		t.Fatalf("testenv: pebble's log: %v", err)
	}
	return strings.Count(string(data), "Added order ")
}

// Pebble starts the ACME test CA on 127.0.0.1 and stops it when the test
// ends. The binary is installed with `go install` when missing (scripts/
// install-deps does this ahead of time).
func Pebble(t testing.TB, opts PebbleOptions) *PebbleServer {
	t.Helper()
	bin := pebbleBinary(t)
	modDir := strings.TrimSpace(run(t, "go", "env", "GOMODCACHE"))
	modDir = filepath.Join(modDir, "github.com", "letsencrypt", "pebble", "v2@"+PebbleVersion)
	if _, err := os.Stat(modDir); err != nil { // pebble found elsewhere than go install put it
		cmd := exec.Command("go", "mod", "download", "github.com/letsencrypt/pebble/v2@"+PebbleVersion)
		cmd.Dir = os.TempDir()
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("testenv: go mod download pebble (for its test certificates): %v\n%s", err, out)
		}
	}
	raw, err := os.ReadFile(filepath.Join(modDir, "test", "config", "pebble-config.json"))
	if err != nil {
		t.Fatalf("testenv: pebble's sample config (module cache %s): %v", modDir, err)
	}
	d := tempRoot(t, "pebble")
	certs := filepath.Join(d, "certs")
	run(t, "cp", "-r", filepath.Join(modDir, "test", "certs"), certs)
	run(t, "chmod", "-R", "u+w", certs)
	var cfg map[string]map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("testenv: pebble config: %v", err)
	}
	port, mgmt := FreePort(t), FreePort(t)
	c := cfg["pebble"]
	c["listenAddress"] = "127.0.0.1:" + strconv.Itoa(port)
	c["managementListenAddress"] = "127.0.0.1:" + strconv.Itoa(mgmt)
	c["certificate"] = filepath.Join(certs, "localhost", "cert.pem")
	c["privateKey"] = filepath.Join(certs, "localhost", "key.pem")
	if opts.HTTPPort != 0 {
		c["httpPort"] = opts.HTTPPort
	}
	if opts.TLSPort != 0 {
		c["tlsPort"] = opts.TLSPort
	}
	c["retryAfter"] = map[string]int{"authz": 1, "order": 1}
	out, _ := json.MarshalIndent(cfg, "", "  ")
	cfgFile := filepath.Join(d, "pebble-config.json")
	writeFile(t, cfgFile, string(out))
	argv := []string{bin, "-config", cfgFile}
	if opts.DNSServer != "" {
		argv = append(argv, "-dnsserver", opts.DNSServer)
	}
	p := &PebbleServer{
		Dir:          d,
		DirectoryURL: fmt.Sprintf("https://127.0.0.1:%d/dir", port),
		RootsURL:     fmt.Sprintf("https://127.0.0.1:%d/roots/0", mgmt),
		CACertFile:   filepath.Join(certs, "pebble.minica.pem"),
	}
	p.Proc = start(t, "pebble", filepath.Join(d, "pebble.log"), argv, func(c *exec.Cmd) {
		c.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1")
		if opts.AlwaysValid {
			c.Env = append(c.Env, "PEBBLE_VA_ALWAYS_VALID=1")
		}

	})
	for _, a := range []int{port, mgmt} {
		if err := waitTCP(p.Proc, "127.0.0.1:"+strconv.Itoa(a), 20*time.Second); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	return p
}

func pebbleBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	gobin := strings.TrimSpace(run(t, "go", "env", "GOBIN"))
	if gobin == "" {
		gobin = filepath.Join(strings.TrimSpace(run(t, "go", "env", "GOPATH")), "bin")
	}
	bin := filepath.Join(gobin, "pebble")
	unlock := lockFile(t, "pebble")
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	t.Logf("testenv: pebble is missing; go install github.com/letsencrypt/pebble/v2/cmd/pebble@%s (about a minute; scripts/install-deps does it ahead of time)", PebbleVersion)
	cmd := exec.Command("go", "install", "github.com/letsencrypt/pebble/v2/cmd/pebble@"+PebbleVersion)
	cmd.Dir = os.TempDir() // outside berth's module
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: go install pebble: %v\n%s", err, out)
	}
	return bin
}
