package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rollPlanned matches the plan's line of a roll and captures its build.
var rollPlanned = regexp.MustCompile(`roll release (\S+) over web1, web2, web3 \(drain → switch → health → undrain\)`)

// The Must show of issue 15's rolling releases, on the cluster of
// TestLoadBalancedCluster (three web servers behind a load balancer, on
// network-namespace hosts over SSH): a new release is shipped to every
// node, then switched node by node (drain, switch, health check, undrain)
// while a request loop through the load balancer sees no error; applying
// again runs nothing. berth killed in the middle of the next roll leaves
// each node on the old or the new release, and the next run finishes
// the roll and puts the drained node back. Then a release whose health
// check fails (its health page is gone) stops on web1: web1 is switched
// back, web2 and web3 are never switched, every node serves the old
// release, and the run fails saying why.
func TestRollingRelease(t *testing.T) {
	c := newCluster(t)
	c.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: static\nhealth: { path: /health.html, status: 200 }\n")
	c.write("code/index.html", "<h1>static platform</h1>\nrelease one\n")
	c.write("code/health.html", "ok\n")
	c.apply()
	c.serving()

	// Release two: shipped everywhere, then rolled.
	c.write("code/index.html", "<h1>static platform</h1>\nrelease two\n")
	code, plan, errOut := c.berth("plan")
	m := rollPlanned.FindStringSubmatch(plan)
	if code != 2 || m == nil {
		t.Fatalf("plan of release two: exit %d, want 2 and the roll over web1, web2, web3\n%s\n%s", code, plan, errOut)
	}
	two := m[1]
	t.Logf("plan of release two:\n%s", plan)
	stop := c.loop()
	out := c.apply()
	answers := stop()
	if len(answers) == 0 {
		t.Fatal("the request loop made no request during the roll")
	}
	if errs := errorsOf(answers); len(errs) > 0 {
		t.Errorf("%d of %d requests through the load balancer failed during the roll: %s", len(errs), len(answers), strings.Join(errs, "; "))
	}
	t.Logf("%d requests through the load balancer during the roll, none failed", len(answers))
	rollAt := strings.Index(out, "lb1: ~ platform/static/roll@lb1")
	if rollAt < 0 {
		t.Fatalf("apply did not roll:\n%s", out)
	}
	for i := 1; i <= 3; i++ {
		if at := strings.Index(out, fmt.Sprintf("web%d: ~ platform/static/release@web%d", i, i)); at < 0 || at > rollAt {
			t.Errorf("web%d's build was not shipped before the roll:\n%s", i, out)
		}
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for i := 1; i <= 3; i++ {
		if a := c.askNode(client, i, "a.example.com"); a.err != nil || !strings.Contains(a.body, "release two") {
			t.Errorf("web%d after the roll: %q, %v; want release two", i, a.body, a.err)
		}
		if got := c.current(i); got != "builds/"+two {
			t.Errorf("web%d's current links to %s, want builds/%s", i, got, two)
		}
	}
	if code, out, errOut := c.berth("plan"); code != 0 {
		t.Fatalf("plan after the roll: exit %d, want 0 (nothing to do)\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = c.berth("apply", "--auto-approve")
	if code != 0 || !strings.Contains(out, "Apply: 0 applied, 0 failed, 0 restored; reloaded: nothing.") {
		t.Errorf("apply again: exit %d, want 0 and nothing run\n%s\n%s", code, out, errOut)
	}

	// Release three, berth killed mid-roll (web2 drained and switched,
	// not yet checked): each node is on release two or three, and web2 is
	// out of the load balancer's file; the next run rolls web3 and puts
	// web2 back, with no failed request.
	c.write("code/index.html", "<h1>static platform</h1>\nrelease three\n")
	code, plan, errOut = c.berth("plan")
	m = rollPlanned.FindStringSubmatch(plan)
	if code != 2 || m == nil {
		t.Fatalf("plan of release three: exit %d, want 2 and the roll\n%s\n%s", code, plan, errOut)
	}
	three := m[1]
	args := append([]string{"apply", "--auto-approve", "--env", "production", "--repo", c.repo, "--state-dir", c.stateDir, "--no-color"}, c.flags...)
	if killed, out := killedAt("mid-roll#2", args...); !killed {
		t.Fatalf("berth apply was not killed in the roll:\n%s", out)
	}
	for i, want := range []string{three, three, two} {
		if got := c.current(i + 1); got != "builds/"+want {
			t.Errorf("web%d's current links to %s after the crash, want builds/%s", i+1, got, want)
		}
	}
	lbFile := filepath.Join(c.lb.SitesDir, "berth-production-static.conf")
	if data, err := os.ReadFile(lbFile); err != nil || !strings.Contains(string(data), "down; # web2: drained") {
		t.Errorf("the load balancer's file after the crash: %v\n%s", err, data)
	}
	stop = c.loop()
	out = c.apply()
	answers = stop()
	if errs := errorsOf(answers); len(errs) > 0 || len(answers) == 0 {
		t.Errorf("%d of %d requests through the load balancer failed in the run after the crash: %s", len(errs), len(answers), strings.Join(errs, "; "))
	}
	if !strings.Contains(out, "roll release "+three+" over web3 (drain → switch → health → undrain)") || !strings.Contains(out, "lb1: ~ lb/static@lb1") {
		t.Errorf("the run after the crash does not roll web3 and rewrite the load balancer's file:\n%s", out)
	}
	for i := 1; i <= 3; i++ {
		if got := c.current(i); got != "builds/"+three {
			t.Errorf("web%d's current links to %s after the finished roll, want builds/%s", i, got, three)
		}
	}
	c.nodesBecome(12, "web1", "web2", "web3")
	if code, out, errOut := c.berth("plan"); code != 0 {
		t.Fatalf("plan after the finished roll: exit %d, want 0\n%s\n%s", code, out, errOut)
	}

	// Release four has no health page: the roll stops on web1.
	c.write("code/index.html", "<h1>static platform</h1>\nrelease four\n")
	if err := os.Remove(filepath.Join(c.repo, "code", "health.html")); err != nil {
		t.Fatal(err)
	}
	code, plan, errOut = c.berth("plan")
	m = rollPlanned.FindStringSubmatch(plan)
	if code != 2 || m == nil {
		t.Fatalf("plan of release four: exit %d, want 2 and the roll\n%s\n%s", code, plan, errOut)
	}
	four := m[1]
	code, out, errOut = c.berth("apply", "--auto-approve")
	why := fmt.Sprintf("web1: http://a.example.com/health.html answered 404 Not Found, want 200 after switching to release %s: rolled back; web2, web3 stay on release %s", four, three)
	if code != exitError || !strings.Contains(out+errOut, why) {
		t.Errorf("apply of release four: exit %d, want %d and the reason %q\n%s\n%s", code, exitError, why, out, errOut)
	}
	t.Logf("apply of release four:\n%s\n%s", out, errOut)
	for i := 1; i <= 3; i++ {
		if got := c.current(i); got != "builds/"+three {
			t.Errorf("web%d's current links to %s after the failed roll, want builds/%s (release three)", i, got, three)
		}
		if a := c.askNode(client, i, "a.example.com"); a.err != nil || !strings.Contains(a.body, "release three") {
			t.Errorf("web%d after the failed roll: %q, %v; want release three", i, a.body, a.err)
		}
	}
	c.nodesBecome(12, "web1", "web2", "web3") // web1 is back in the load balancer
	if code, plan, _ := c.berth("plan"); code != 2 || !rollPlanned.MatchString(plan) {
		t.Errorf("plan after the failed roll: exit %d, want 2 and the roll again\n%s", code, plan)
	}
}

// current is where web server i's (1-based) current link of platform
// static points.
func (c *cluster) current(i int) string {
	c.t.Helper()
	links, err := filepath.Glob(filepath.Join(c.nodes[i-1].Prefix, "www", "platforms", "static", "*", "current"))
	if err != nil || len(links) != 1 {
		c.t.Fatalf("web%d's current link of platform static: %v %v", i, links, err)
	}
	target, err := os.Readlink(links[0])
	if err != nil {
		c.t.Fatal(err)
	}
	return target
}
