package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
)

// TestFirstConvergeSSHSessions converges N sites on a server reached over
// SSH (real sshd, nginx, sudo) and counts the sessions sshd logged for the
// whole `berth apply`: the same small number whatever N, because the
// engine observes, writes every directory and file, checks and reloads in
// one session each, not one per file (it sweeps temporary files only
// where a run was cut off), and the platform's release ships, switches
// and lists its builds in one: 5.
func TestFirstConvergeSSHSessions(t *testing.T) {
	const maxSessions = 5
	counts := map[int]int{}
	for _, n := range []int{3, 60} {
		t.Run(fmt.Sprint(n, " sites"), func(t *testing.T) {
			f := newWebFixture(t, webKind{name: "nginx-ssh", http: "nginx", ssh: true})
			for i := range n - 3 { // the fixture has a, b and c
				f.write(fmt.Sprintf("sites/s%03d.yaml", i), fmt.Sprintf("kind: Site\nname: s%03d.example.com\nplatform: static\nweb:\n  headers:\n    X-Site: s%03d\n", i, i))
			}
			before := sshdSessions(t, f)
			out := f.mustApply()
			if !strings.Contains(out, "reloaded: web/http") {
				t.Fatalf("the first converge did not reload nginx:\n%s", out)
			}
			counts[n] = sshdSessions(t, f) - before
			t.Logf("first converge of %d sites: %d SSH sessions", n, counts[n])
			if counts[n] > maxSessions {
				t.Errorf("first converge of %d sites opened %d SSH sessions, want at most %d:\n%s", n, counts[n], maxSessions, out)
			}
			f.get("c.example.com", "/", func(r *http.Response, _ string) bool { return r.Header.Get("X-Site") == "c" })
		})
	}
	if counts[3] != counts[60] {
		t.Errorf("SSH sessions grow with the sites: %v", counts)
	}
}

// sshdSessions counts the sessions f's sshd has started, from its log.
func sshdSessions(t *testing.T, f *webFixture) int {
	t.Helper()
	b, err := os.ReadFile(f.sshd.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "Starting session")
}
