package dashboard

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/berthhq/berth/daemon"
)

// BenchmarkSiteListInChromium is the first page of the site list of an
// environment of 10,000 sites loaded in headless Chromium (Debian's
// chromium, as the end-to-end test): from navigation to the page's load
// event, rendered, with its style sheet. make bench runs it.
func BenchmarkSiteListInChromium(b *testing.B) {
	src := &source{sites: map[string][]daemon.SiteView{}, clients: map[string]daemon.ClientView{}}
	var st []daemon.SiteStatus
	for i := range 10000 {
		d := fmt.Sprintf("site%05d.example.com", i)
		src.sites["production"] = append(src.sites["production"], daemon.SiteView{Name: d, Domain: d, Platform: "drupal", Type: "drupal", Servers: []string{fmt.Sprintf("web%d", i%5+1)}, State: "enabled"})
		st = append(st, daemon.SiteStatus{Site: d, Sync: "Synced", Health: "Healthy"})
	}
	src.status = []daemon.EnvStatus{{Env: "production", Branch: "main", Phase: "Synced", Sites: st}}
	srv := httptest.NewServer(New(Config{Source: src, Runs: runs{}, Tokens: tokens{"t": {Role: daemon.RoleRead}}, Logger: zerolog.Nop()}).Handler())
	defer srv.Close()
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("/usr/bin/chromium"), chromedp.NoSandbox, chromedp.DisableGPU)...)
	defer cancel() // stops the browser
	ctx, cancelCtx := chromedp.NewContext(alloc)
	defer cancelCtx()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ui/login"), chromedp.SendKeys(chromedp.ID("token"), "t"),
		chromedp.Submit(chromedp.ID("token")), chromedp.WaitVisible(chromedp.CSS("table"))); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/ui/sites?env=production")); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("p.count"))); err != nil || s != "Sites 1–50 of 10000" {
		b.Fatalf("the page shows %q (%v)", s, err)
	}
}
