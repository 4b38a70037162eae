package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// NetHost is one simulated machine: a network namespace with its own
// address on a private test bridge, running sshd on port 22.
type NetHost struct {
	Netns string // namespace name, for `ip netns exec`
	IP    string
	SSH   *SSHServer
}

// Kill makes the host vanish mid-test: every process in its namespace —
// sshd's listener and every session it serves — is killed with SIGKILL.
// Clients see their connections drop and new ones refused. It may be
// called from any goroutine.
func (h *NetHost) Kill(t testing.TB) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "pids", h.Netns).Output()
	if err != nil {
		// Errorf, not Fatalf: Kill may run on a goroutine of its own.
		t.Errorf("testenv: list processes of %s: %v", h.Netns, err)
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	<-h.SSH.Proc.Exited()
}

// Hosts creates n network namespaces behind a bridge (itself in a
// namespace), each with an address 10.213.X.(i+1)/24 and its own sshd on
// port 22, and gives the root namespace one veth into the bridge
// (10.213.X.254) so the test process reaches the hosts without any packet
// leaving the machine. X is a subnet no other interface on the machine
// uses. Everything is torn down when the test ends.
func Hosts(t testing.TB, n int) []*NetHost {
	t.Helper()
	if n < 1 || n > 200 {
		t.Fatalf("testenv: Hosts(%d): want 1..200 hosts", n)
	}
	need(t, "ip", "iproute2")
	removeStaleNetns(t)

	var idb [2]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	prefix := fmt.Sprintf("berth-%d-%s-", os.Getpid(), id)
	bridgeNS := prefix + "br"
	rootIf := "bt" + id + "r"

	unlock := lockFile(t, "netns")
	subnet := freeSubnet(t)
	var namespaces []string
	t.Cleanup(func() {
		for _, ns := range namespaces {
			killNetns(ns)
			_ = exec.Command("ip", "netns", "del", ns).Run()
		}
		_ = exec.Command("ip", "link", "del", rootIf).Run()
	})
	addNS := func(name string) {
		run(t, "ip", "netns", "add", name)
		namespaces = append(namespaces, name)
		run(t, "ip", "-n", name, "link", "set", "lo", "up")
	}
	addNS(bridgeNS)
	run(t, "ip", "-n", bridgeNS, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", bridgeNS, "link", "set", "br0", "up")
	// The root namespace's own leg into the bridge.
	run(t, "ip", "link", "add", rootIf, "type", "veth", "peer", "name", rootIf+"p")
	run(t, "ip", "link", "set", rootIf+"p", "netns", bridgeNS)
	run(t, "ip", "-n", bridgeNS, "link", "set", rootIf+"p", "master", "br0", "up")
	run(t, "ip", "addr", "add", subnet+"254/24", "dev", rootIf)
	run(t, "ip", "link", "set", rootIf, "up")
	unlock()

	hosts := make([]*NetHost, n)
	for i := range n {
		ns := fmt.Sprintf("%sh%d", prefix, i)
		addNS(ns)
		ifc := fmt.Sprintf("bt%sh%d", id, i)
		run(t, "ip", "link", "add", ifc, "type", "veth", "peer", "name", ifc+"p")
		run(t, "ip", "link", "set", ifc, "netns", ns)
		run(t, "ip", "link", "set", ifc+"p", "netns", bridgeNS)
		run(t, "ip", "-n", bridgeNS, "link", "set", ifc+"p", "master", "br0", "up")
		ip := subnet + strconv.Itoa(i+1)
		run(t, "ip", "-n", ns, "addr", "add", ip+"/24", "dev", ifc)
		run(t, "ip", "-n", ns, "link", "set", ifc, "up")
		s, err := startSSHD(t, ip, 22, ns)
		if err != nil {
			t.Fatalf("testenv: host %d (%s): %v", i, ns, err)
		}
		hosts[i] = &NetHost{Netns: ns, IP: ip, SSH: s}
	}
	return hosts
}

// freeSubnet returns "10.213.X." for an X that no address or route on the
// machine uses. The caller holds the netns lock.
func freeSubnet(t testing.TB) string {
	t.Helper()
	addrs := run(t, "ip", "-o", "addr")
	routes := run(t, "ip", "-o", "route")
	for x := 1; x < 255; x++ {
		s := fmt.Sprintf("10.213.%d.", x)
		if !strings.Contains(addrs, s) && !strings.Contains(routes, s) {
			return s
		}
	}
	t.Fatalf("testenv: no free 10.213.X.0/24 subnet: remove stale test interfaces (ip -o addr | grep 10.213.)")
	return ""
}

// killNetns kills every process still running in namespace ns.
func killNetns(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// removeStaleNetns deletes namespaces left by test processes that died
// before their cleanup ran (their name carries the creator's PID).
func removeStaleNetns(t testing.TB) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, "berth-")
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue
		}
		t.Logf("testenv: removing namespace %s left by dead test process %d", name, pid)
		killNetns(name)
		_ = exec.Command("ip", "netns", "del", name).Run()
	}
}
