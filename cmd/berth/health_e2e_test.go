package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/notify"
)

// TestSiteHealthChecks: berth serve checks each site on its web server
// every --health-interval (1s here) by a real HTTP request. With PHP-FPM
// stopped, the PHP site turns Down within a check interval — in the
// status API, the dashboard and berth_site_up — while the static site
// stays Healthy (a disabled site, answering 503 on purpose, is not
// checked), and exactly one site-down notification goes out; PHP-FPM
// started again, exactly one site-up.
func TestSiteHealthChecks(t *testing.T) {
	w := newPHPWeb(t)
	f := w.webFixture
	f.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	f.write("servers/web.yaml", w.webServer("  db: { type: sqlite }\n"))
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web]\n")
	f.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: static }\nservers: [web]\n")
	f.write("code/index.php", "<?php echo 'php ok';\n")
	f.write("static/index.html", "static ok\n")
	f.write("sites/app.yaml", "kind: Site\nname: app.example.com\nplatform: app\n")
	f.write("sites/static.yaml", "kind: Site\nname: static.example.com\nplatform: static\n")
	f.write("sites/off.yaml", "kind: Site\nname: off.example.com\nplatform: static\nstate: disabled\n") // answers 503 on purpose: not checked

	got := make(chan notify.Message, 20)
	recv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var m notify.Message
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &m) == nil && (m.Event == notify.EventSiteDown || m.Event == notify.EventSiteUp) {
			got <- m
		}
	}))
	defer recv.Close()
	targets := filepath.Join(t.TempDir(), "notify")
	os.WriteFile(targets, []byte("ops generic "+recv.URL+"/hook\n"), 0o600)

	p := startServe(t, "--repo", f.repo, "--env", "production", "--state-dir", f.stateDir, "--poll", "0", "--drift-interval", "0",
		"--health-interval", "1s", "--notify-file", targets)
	health := func(st map[string]daemon.EnvStatus) map[string]string {
		out := map[string]string{}
		for _, s := range st["production"].Sites {
			out[s.Site] = s.Health
		}
		return out
	}
	p.until("both sites checked healthy", func(st map[string]daemon.EnvStatus) bool {
		h := health(st)
		return st["production"].Phase == daemon.PhaseSynced && h["app.example.com"] == daemon.SiteHealthy && h["static.example.com"] == daemon.SiteHealthy
	})

	w.php.Proc.Stop()
	st := p.until("app.example.com down", func(st map[string]daemon.EnvStatus) bool { return health(st)["app.example.com"] == daemon.SiteDown })
	checkedAt := func(st map[string]daemon.EnvStatus) time.Time {
		for _, s := range st["production"].Sites {
			if s.Site == "app.example.com" && s.CheckedAt != nil {
				return *s.CheckedAt
			}
		}
		return time.Time{}
	}
	firstDown := checkedAt(st)
	if h := health(st)["static.example.com"]; h != daemon.SiteHealthy {
		t.Errorf("static.example.com is %s with PHP-FPM stopped", h)
	}
	if h := health(st)["off.example.com"]; h == daemon.SiteDown {
		t.Errorf("the disabled site is checked: %s", h)
	}
	for _, s := range st["production"].Sites {
		if s.Site == "app.example.com" && (len(s.Nodes) != 1 || s.Nodes[0].Status != http.StatusBadGateway || !strings.Contains(s.Message, "502")) {
			t.Errorf("app.example.com's check: %+v", s)
		}
	}
	metric := func(want string) {
		t.Helper()
		testenv.EventuallyWith(t, "metric "+want, 10*time.Second, func() (bool, string) {
			resp := p.get("/metrics")
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return strings.Contains(string(b), want), ""
		})
	}
	metric(`berth_site_up{env="production",server="web",site="app.example.com"} 0`)
	metric(`berth_site_up{env="production",server="web",site="static.example.com"} 1`)
	expect := func(event string) {
		t.Helper()
		select {
		case m := <-got:
			if m.Event != event || m.Subject != "app.example.com" || m.Env != "production" {
				t.Errorf("notification %+v, want %s of app.example.com", m, event)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no %s notification", event)
		}
	}
	expect(notify.EventSiteDown)

	// The dashboard says so too.
	jarClient, _ := dashboardLogin(t, p.api, apiReadToken)
	resp, err := jarClient.Get(p.api + "/ui/sites?env=production&status=down")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Sites 1–1 of 1") || !strings.Contains(string(page), "app.example.com") {
		t.Errorf("dashboard, sites down:\n%s", page)
	}
	resp, err = jarClient.Get(p.api + "/ui/sites/production/app.example.com")
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Health per web server") || !strings.Contains(string(page), "502") || !strings.Contains(string(page), "Down") {
		t.Errorf("dashboard, the down site's page:\n%s", page)
	}

	// More checks while it stays down send nothing more; PHP-FPM back: one
	// site-up.
	p.until("two later checks of the down site", func(st map[string]daemon.EnvStatus) bool {
		return health(st)["app.example.com"] == daemon.SiteDown && checkedAt(st).After(firstDown.Add(time.Second))
	})
	w.php.Start(t)
	p.until("app.example.com up", func(st map[string]daemon.EnvStatus) bool { return health(st)["app.example.com"] == daemon.SiteHealthy })
	expect(notify.EventSiteUp)
	metric(`berth_site_up{env="production",server="web",site="app.example.com"} 1`)
	p.stop()
	if n := len(got); n != 0 {
		t.Errorf("%d more notifications: %v", n, <-got)
	}
}
