package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testenv"
)

// TestDoctor: berth doctor on two namespace hosts over SSH, one whose
// login user lost its passwordless sudo and one whose find is GNU find
// 4.8, reports each with its fix; the rest of each host's checks pass.
func TestDoctor(t *testing.T) {
	hosts := testenv.Hosts(t, 2)
	base := t.TempDir()
	// Each sshd runs in a mount namespace of its own (ip netns exec), so a
	// bind mount there changes what that host's sessions see, and only
	// theirs. web1: /etc/sudoers.d empty, so the login user has no sudo.
	empty := filepath.Join(base, "empty")
	os.Mkdir(empty, 0o755)
	inHost(t, hosts[0], "mount", "--bind", empty, "/etc/sudoers.d")
	// web2: a find that is GNU find 4.8.
	oldFind := filepath.Join(base, "find")
	os.WriteFile(oldFind, []byte("#!/bin/sh\necho 'find (GNU findutils) 4.8.0'\n"), 0o755)
	inHost(t, hosts[1], "mount", "--bind", oldFind, "/usr/bin/find")

	repo := filepath.Join(base, "repo")
	write := func(name, data string) {
		p := filepath.Join(repo, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("berth.yaml", "environments:\n  production: { branch: main }\n")
	var servers, known strings.Builder
	args := []string{"doctor", "--env", "production", "--repo", repo, "--state-dir", filepath.Join(base, "state")}
	for i, h := range hosts {
		fmt.Fprintf(&servers, "---\nkind: Server\nname: web%d\naddress: %s\nssh: { user: %s, sudo: true }\nservices:\n  http: { type: nginx, listen: '127.0.0.1:8080', conf_dir: %s/sites, web_root: %s/www }\n",
			i+1, h.IP, h.SSH.User, base, base)
		data, err := os.ReadFile(h.SSH.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		known.Write(data)
		args = append(args, "--ssh-key", h.SSH.KeyFile)
	}
	kh := filepath.Join(base, "known_hosts")
	os.WriteFile(kh, []byte(known.String()), 0o644)
	args = append(args, "--known-hosts", kh)
	write("servers/web.yaml", servers.String())
	write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1, web2]\n")
	write("code/index.html", "hi\n")
	write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\n")

	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	t.Logf("berth doctor:\n%s%s", &out, &errb)
	if code != exitError {
		t.Errorf("exit %d, want %d (a check failed)", code, exitError)
	}
	for _, want := range []string{
		"web1: fail sudo: sudo -n refused",
		"give " + testenv.TestUser + " passwordless sudo",
		"web2: fail find: GNU find 4.8 is older than 4.9 — install GNU findutils 4.9 or newer",
		"web2: ok   sudo: sudo -n works",
		"web2: ok   dir: " + base + "/sites will be created (" + base + " is writable)",
		"web2: ok   port: 8080 is free (nginx starts on it)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("berth doctor's output lacks %q", want)
		}
	}
	if strings.Contains(out.String(), "web1: fail find") || strings.Contains(out.String(), "web2: fail sudo") {
		t.Error("a host is blamed for the other's problem")
	}
}

// inHost runs argv in the mount namespace of h's sshd (and so of every
// session it serves).
func inHost(t *testing.T, h *testenv.NetHost, argv ...string) {
	t.Helper()
	pid := strconv.Itoa(h.SSH.Proc.Cmd.Process.Pid)
	if out, err := exec.Command("nsenter", append([]string{"--mount", "--target", pid, "--"}, argv...)...).CombinedOutput(); err != nil {
		t.Fatalf("nsenter %s %v: %v\n%s", pid, argv, err, out)
	}
}
