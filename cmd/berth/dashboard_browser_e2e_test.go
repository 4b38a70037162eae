package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/berthhq/berth/daemon"
)

// resultsDir is where the browser test writes its screenshots:
// $BERTH_RESULTS_DIR/dashboard, else results/dashboard at the repo's top
// (ignored by git).
func resultsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BERTH_RESULTS_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "results")
	}
	dir = filepath.Join(dir, "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestDashboardInChromium: berth serve runs the example repo (on real
// nginx, PHP-FPM and BIND, as TestDNSExampleRepo); headless Chromium logs
// in with the operator token and loads the overview, the site list, a
// site's page and a run's page, each written as a screenshot; then, on
// client acme's dashboard hostname, with a viewer token of acme made by
// berth token create, it sees acme's name, logo and colours and only
// acme's sites, gets 403 on another client's site and on every action.
func TestDashboardInChromium(t *testing.T) {
	r := newDNSRepo(t)
	tokens := map[string]string{}
	for _, tc := range [][]string{{"acme-viewer", "--client", "acme"}, {"northwind-viewer", "--client", "northwind"}, {"ops", "--role", "operator"}} {
		var out, errOut bytes.Buffer
		if code := run(append([]string{"token", "create", "--state-dir", r.stateDir}, append(tc[1:], tc[0])...), &out, &errOut); code != 0 {
			t.Fatalf("berth token create %v: exit %d: %s", tc, code, errOut.String())
		}
		tokens[tc[0]] = strings.TrimSpace(out.String())
	}
	p := startServe(t, "--repo", r.repo, "--env", "production", "--state-dir", r.stateDir, "--poll", "0", "--drift-interval", "0")
	p.until("production synced", func(st map[string]daemon.EnvStatus) bool { return st["production"].Phase == daemon.PhaseSynced })
	apiURL, _ := url.Parse(p.api)
	acmeBase := "http://panel.acme.example:" + apiURL.Port()

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 900),
		// The client's hostname reaches the daemon on loopback.
		chromedp.Flag("host-resolver-rules", "MAP panel.acme.example 127.0.0.1"))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc() // stops the browser
	results := resultsDir(t)
	shot := func(ctx context.Context, name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(results, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	login := func(ctx context.Context, base, token string) {
		t.Helper()
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/ui/login"),
			chromedp.WaitVisible(chromedp.ID("token")),
			chromedp.SendKeys(chromedp.ID("token"), token),
			chromedp.Submit(chromedp.ID("token")),
			chromedp.WaitVisible(chromedp.CSS("table")),
		); err != nil {
			t.Fatalf("log in at %s: %v", base, err)
		}
	}
	text := func(ctx context.Context, path string) string {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(path), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return s
	}
	ctx, cancel := context.WithTimeout(alloc, 3*time.Minute)
	defer cancel()

	// The agency's operator.
	op, cancelOp := chromedp.NewContext(ctx)
	defer cancelOp()
	login(op, p.api, tokens["ops"])
	for _, pg := range []struct {
		name, path string
		want       []string
	}{
		{"overview", "/ui/", []string{"production", "Synced", "Reconcile now"}},
		{"sites", "/ui/sites?env=production", []string{"example.com", "app.example.org", "shop.example.org", "Sites 1–"}},
		{"site", "/ui/sites/production/shop.example.org", []string{"php-app", "daily, keep 14", "Timeline"}},
	} {
		s := text(op, p.api+pg.path)
		for _, w := range pg.want {
			if !strings.Contains(s, w) {
				t.Errorf("%s: no %q in\n%s", pg.name, w, s)
			}
		}
		shot(op, pg.name)
	}
	runs := p.runs("production")
	if len(runs) == 0 {
		t.Fatal("no run")
	}
	if s := text(op, fmt.Sprintf("%s/ui/runs/%d", p.api, runs[len(runs)-1].ID)); !strings.Contains(s, "site/example.com") || !strings.Contains(s, "Log") {
		t.Errorf("run page:\n%s", s)
	}
	shot(op, "run")

	// Client acme's viewer, on acme's hostname.
	cl, cancelCl := chromedp.NewContext(ctx)
	defer cancelCl()
	login(cl, acmeBase, tokens["acme-viewer"])
	s := text(cl, acmeBase+"/ui/sites?env=production")
	if !strings.Contains(s, "ACME Shops") || !strings.Contains(s, "app.example.org") || !strings.Contains(s, "shop.example.org") ||
		strings.Contains(s, "docs.example.com") || strings.Contains(s, "\nexample.com") || strings.Contains(s, "berth") {
		t.Errorf("acme's site list:\n%s", s)
	}
	header, err := chromedp.Run(cl, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('header')).backgroundColor`))
	if err != nil {
		t.Fatal(err)
	}
	logoWidth, err := chromedp.Run(cl, chromedp.Evaluate[int](`document.querySelector('header img').naturalWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if header != "rgb(11, 92, 173)" || logoWidth == 0 {
		t.Errorf("acme's branding: header %q, logo width %d", header, logoWidth)
	}
	shot(cl, "client-sites")
	if s := text(cl, acmeBase+"/ui/sites/production/example.com"); !strings.Contains(s, "not one of your sites") {
		t.Errorf("acme on northwind's site:\n%s", s)
	}
	shot(cl, "client-forbidden")
	// Status codes and actions, with the browser's session cookie.
	got, err := chromedp.Run(cl, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{})
	})
	if err != nil {
		t.Fatal(err)
	}
	cookies := got.Cookies
	do := func(method, path string, form url.Values) int {
		req, _ := http.NewRequest(method, p.api+path, strings.NewReader(form.Encode()))
		req.Host = "panel.acme.example"
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, c := range cookies {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := do("GET", "/ui/sites/production/example.com", nil); code != http.StatusForbidden {
		t.Errorf("acme GET northwind's site: %d", code)
	}
	if code := do("GET", "/ui/sites/production/app.example.org", nil); code != http.StatusOK {
		t.Errorf("acme GET its own site: %d", code)
	}
	before := len(p.runs("production"))
	for _, path := range []string{"/ui/envs/production/reconcile", "/ui/runs"} {
		method := "POST"
		if path == "/ui/runs" {
			method = "GET"
		}
		if code := do(method, path, url.Values{"csrf": {"x"}}); code != http.StatusForbidden {
			t.Errorf("acme %s %s: %d, want 403", method, path, code)
		}
	}
	if n := len(p.runs("production")); n != before {
		t.Errorf("a client's POST started a run")
	}
	// acme's token on berth's own hostname is refused.
	other, cancelOther := chromedp.NewContext(ctx)
	defer cancelOther()
	if err := chromedp.Do(other, chromedp.Navigate(p.api+"/ui/login"), chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), tokens["acme-viewer"]), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(".flash"))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(other, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(loc, "/ui/") {
		t.Errorf("acme's token logged in on berth's hostname")
	}
}
