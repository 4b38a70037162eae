package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMigrateSiteBehindLoadBalancer: a site behind load balancer lb1
// moves from platform static (web1) to static2 (web2), both behind lb1.
// A target failing its health check is reverted and lb1 still routes the
// site to web1 only; fixed, the move's switch routes it to web2 (lb1's
// configuration rewritten, checked and reloaded in the step), and the
// plan after finds lb1's files converged.
func TestMigrateSiteBehindLoadBalancer(t *testing.T) {
	c := newCluster(t)
	c.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web1]\nlb: lb1\n")
	c.write("platforms/static2.yaml", "kind: Platform\nname: static2\ntype: static\nsource: { path: code2 }\nservers: [web2]\nlb: lb1\n")
	c.write("code2/index.html", "<h1>static platform</h1>\n")
	site := func(platform string) {
		c.write("sites/a.yaml", "kind: Site\nname: a.example.com\nplatform: "+platform+"\nhealth: { path: /ok.html }\n")
	}
	site("static")
	c.apply()
	c.serving()
	c.nodesBecome(6, "web1")

	site("static2")
	code, out, errOut := c.berth("plan")
	if code != 2 || !strings.Contains(out, "switch the load balancer: lb1 routes a.example.com to web2") {
		t.Fatalf("plan: exit %d, want the switch of lb1 in the steps\n%s\n%s", code, out, errOut)
	}
	// web2 has no /ok.html: its health check fails, reverted.
	code, out, errOut = c.berth("apply", "--auto-approve")
	if code == 0 || !strings.Contains(out+errOut, "reverted") {
		t.Fatalf("apply with a failing target: exit %d, want it reverted\n%s\n%s", code, out, errOut)
	}
	c.nodesBecome(6, "web1")
	conf := func(platform string) string {
		data, _ := os.ReadFile(filepath.Join(c.lb.SitesDir, "berth-production-"+platform+".conf"))
		return string(data)
	}
	if !strings.Contains(conf("static"), "# site a.example.com") || strings.Contains(conf("static2"), "# site a.example.com") {
		t.Errorf("lb1 routes the site elsewhere than its source before the switch:\n%s\n%s", conf("static"), conf("static2"))
	}

	// Fixed: moved and switched.
	c.write("code2/ok.html", "ok\n")
	c.apply()
	c.nodesBecome(6, "web2")
	if strings.Contains(conf("static"), "# site a.example.com") || !strings.Contains(conf("static2"), "# site a.example.com") {
		t.Errorf("lb1 after the switch:\n%s\n%s", conf("static"), conf("static2"))
	}
	if code, out, errOut := c.berth("plan"); code != 0 || strings.Contains(out, "lb/") {
		t.Errorf("plan after the move: exit %d, want no change\n%s\n%s", code, out, errOut)
	}
}
