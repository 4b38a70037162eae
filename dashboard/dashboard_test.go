package dashboard

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/redact"
	berthrun "github.com/berthhq/berth/run"
	"github.com/berthhq/berth/state"
)

// source is a daemon's answers, set by the test: the dashboard's unit
// tests check its pages, roles and forms (berth serve's end-to-end test
// checks it on the real daemon).
type source struct {
	mu        sync.Mutex
	status    []daemon.EnvStatus
	sites     map[string][]daemon.SiteView
	clients   map[string]daemon.ClientView
	triggered []string
	live      func(id int64) ([]byte, bool)
}

func (s *source) Clients() map[string]daemon.ClientView { return s.clients }

func (s *source) Status() []daemon.EnvStatus { return s.status }
func (s *source) Sites(env string) ([]daemon.SiteView, bool) {
	v, ok := s.sites[env]
	return v, ok
}
func (s *source) BackupNow(env, site, who string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.triggered = append(s.triggered, "backup "+env+"/"+site+" by "+who)
	return nil
}

func (s *source) RestoreNow(env, site, id, who string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.triggered = append(s.triggered, "restore "+env+"/"+site+" from "+id+" by "+who)
	return nil
}

func (s *source) LiveLog(id int64) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		return nil, false
	}
	return s.live(id)
}

func (s *source) Trigger(env, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.status {
		if e.Env == env {
			s.triggered = append(s.triggered, env+":"+reason)
			return nil
		}
	}
	return fmt.Errorf("no environment %s", env)
}

type runs map[int64]state.Run

func (r runs) Runs(_ context.Context, env string, limit int) ([]state.Run, error) {
	var out []state.Run
	for _, x := range r {
		if env == "" || x.Env == env {
			out = append(out, x)
		}
	}
	return out, nil
}

func (r runs) Run(_ context.Context, id int64) (state.Run, error) {
	x, ok := r[id]
	if !ok {
		return state.Run{}, fs.ErrNotExist
	}
	return x, nil
}

type tokens map[string]daemon.Principal

func (t tokens) Who(_ context.Context, tok string) daemon.Principal { return t[tok] }

const secret = "s3cret-db-password-of-a-site"

func world(t *testing.T, nsites int) (*httptest.Server, *source) {
	t.Helper()
	src := &source{sites: map[string][]daemon.SiteView{}}
	var st []daemon.SiteStatus
	var views []daemon.SiteView
	for i := range nsites {
		d := fmt.Sprintf("site%05d.example.com", i)
		client := "acme"
		if i%2 == 1 {
			client = "globex"
		}
		views = append(views, daemon.SiteView{Name: d, Domain: d, Platform: "drupal", Type: "drupal", Servers: []string{fmt.Sprintf("web%d", i%5+1)}, State: "enabled", Client: client})
		s := daemon.SiteStatus{Site: d, Sync: "Synced", Health: "Healthy"}
		if i%100 == 7 {
			s = daemon.SiteStatus{Site: d, Sync: "OutOfSync", Health: "Degraded", Message: "<script>alert(1)</script> vhost failed"}
		}
		st = append(st, s)
	}
	src.sites["production"] = views
	src.clients = map[string]daemon.ClientView{
		"acme":   {Key: "acme", Name: "ACME Corp", Hostname: "panel.acme.example", Primary: "#0b5cad", Background: "#fafafa", Support: "help@acme.example", Logo: []byte("<svg/>"), LogoType: "image/svg+xml"},
		"globex": {Key: "globex", Name: "Globex", Hostname: "panel.globex.example"},
	}
	src.status = []daemon.EnvStatus{{Env: "production", Branch: "main", Phase: "Synced", Health: "Healthy", Sites: st}, {Env: "staging", Branch: "staging", Phase: "Stalled", Message: "revision is not valid"}}
	redact.Add(secret)
	rs := runs{1: {ID: 1, Env: "production", Trigger: "webhook", Result: "succeeded", Started: time.Unix(1e9, 0), Changes: []byte(`{"changes":[{"id":"site/x/settings@web1","detail":"password ` + secret + `"}]}`), Log: []byte("applied with " + secret)}}
	d := New(Config{Source: src, Runs: rs, Tokens: tokens{"read-tok": {Role: daemon.RoleRead, Name: "reader"}, "op-tok": {Role: daemon.RoleOperator, Name: "ops"},
		"acme-tok": {Role: daemon.RoleRead, Name: "token acme-viewer", Client: "acme"}}, Logger: zerolog.Nop()})
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	return srv, src
}

// client is a browser: a cookie jar, and redirects followed.
func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func login(t *testing.T, srv *httptest.Server, tok string) *http.Client {
	t.Helper()
	c := client(t)
	resp, err := c.PostForm(srv.URL+"/ui/login", url.Values{"token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/" {
		t.Fatalf("login with %s: %d at %s", tok, resp.StatusCode, resp.Request.URL)
	}
	return c
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

func TestLoginAndRoles(t *testing.T) {
	srv, src := world(t, 3)
	// Without a session every page sends to the login form.
	anon := client(t)
	if code, body := get(t, anon, srv.URL+"/ui/sites"); code != 200 || !strings.Contains(body, `name="token"`) {
		t.Fatalf("anonymous /ui/sites: %d\n%s", code, body)
	}
	resp, _ := anon.PostForm(srv.URL+"/ui/login", url.Values{"token": {"wrong"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", resp.StatusCode)
	}
	resp.Body.Close()
	resp, _ = anon.PostForm(srv.URL+"/ui/envs/production/reconcile", url.Values{})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("anonymous action: %d", resp.StatusCode)
	}
	resp.Body.Close()

	// The session cookie: HttpOnly, SameSite=Strict, scoped to /ui/.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ = noFollow.PostForm(srv.URL+"/ui/login", url.Values{"token": {"read-tok"}})
	resp.Body.Close()
	cookie := resp.Header.Get("Set-Cookie")
	if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") || !strings.Contains(cookie, "Path=/ui/") {
		t.Errorf("session cookie %q", cookie)
	}

	// A reader sees pages, has no reconcile button, and cannot act even
	// with its session's CSRF token.
	rd := login(t, srv, "read-tok")
	_, body := get(t, rd, srv.URL+"/ui/")
	if strings.Contains(body, "Reconcile now") || !strings.Contains(body, "production") || !strings.Contains(body, "Stalled") {
		t.Errorf("reader's environments page:\n%s", body)
	}
	csrf := csrfRe.FindStringSubmatch(body)[1]
	resp, _ = rd.PostForm(srv.URL+"/ui/envs/production/reconcile", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("reader's reconcile: %d", resp.StatusCode)
	}
	resp.Body.Close()

	// An operator acts only with its CSRF token.
	op := login(t, srv, "op-tok")
	_, body = get(t, op, srv.URL+"/ui/")
	if !strings.Contains(body, "Reconcile now") {
		t.Fatalf("operator's environments page has no action:\n%s", body)
	}
	resp, _ = op.PostForm(srv.URL+"/ui/envs/production/reconcile", url.Values{"csrf": {csrf}}) // the reader's token
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator's reconcile with another session's CSRF token: %d", resp.StatusCode)
	}
	resp.Body.Close()
	resp, _ = op.PostForm(srv.URL+"/ui/envs/production/reconcile", url.Values{"csrf": {csrfRe.FindStringSubmatch(body)[1]}})
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/ui/runs" || len(src.triggered) != 1 || src.triggered[0] != "production:manual" {
		t.Errorf("operator's reconcile: %d at %s, triggered %v", resp.StatusCode, resp.Request.URL, src.triggered)
	}

	// Back up now, from a site's page: the operator's form, with its token.
	_, sitePage := get(t, op, srv.URL+"/ui/sites/production/site00001.example.com")
	if !strings.Contains(sitePage, "Back up now") {
		t.Errorf("operator's site page has no backup action:\n%s", sitePage)
	}
	resp, _ = op.PostForm(srv.URL+"/ui/sites/production/site00001.example.com/backup", url.Values{"csrf": {csrfRe.FindStringSubmatch(sitePage)[1]}})
	resp.Body.Close()
	if last := src.triggered[len(src.triggered)-1]; !strings.HasPrefix(last, "backup production/site00001.example.com by ops (operator)") {
		t.Errorf("backup now: %d, %v", resp.StatusCode, src.triggered)
	}
	resp, _ = op.PostForm(srv.URL+"/ui/sites/production/site00001.example.com/backup", url.Values{})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("backup now without the CSRF token: %d", resp.StatusCode)
	}
	// Restore: a confirmation page naming the backup, then the restore.
	token := csrfRe.FindStringSubmatch(sitePage)[1]
	n := len(src.triggered)
	resp, _ = op.PostForm(srv.URL+"/ui/sites/production/site00001.example.com/restore", url.Values{"csrf": {token}, "backup": {"20261201T101010Z"}})
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(src.triggered) != n || !strings.Contains(string(b), "Restore from backup 20261201T101010Z") {
		t.Fatalf("restore without confirmation: %v\n%s", src.triggered, b)
	}
	resp, _ = op.PostForm(srv.URL+"/ui/sites/production/site00001.example.com/restore", url.Values{"csrf": {token}, "backup": {"20261201T101010Z"}, "confirm": {"20261201T101010Z"}})
	resp.Body.Close()
	if len(src.triggered) != n+1 || !strings.HasPrefix(src.triggered[n], "restore production/site00001.example.com from 20261201T101010Z by ops") {
		t.Errorf("confirmed restore: %v", src.triggered)
	}
	resp, _ = op.PostForm(srv.URL+"/ui/sites/production/site00001.example.com/restore", url.Values{"csrf": {token}, "backup": {"../x"}, "confirm": {"../x"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(src.triggered) != n+1 {
		t.Errorf("restore of a bad ID: %d", resp.StatusCode)
	}
	if _, p := get(t, rd, srv.URL+"/ui/sites/production/site00001.example.com"); strings.Contains(p, "Back up now") || strings.Contains(p, "Restore") {
		t.Error("a reader is offered Back up now")
	}

	// Logged out, the session is gone.
	resp, _ = op.PostForm(srv.URL+"/ui/logout", url.Values{"csrf": {csrfRe.FindStringSubmatch(body)[1]}})
	resp.Body.Close()
	if _, body := get(t, op, srv.URL+"/ui/"); !strings.Contains(body, `name="token"`) {
		t.Errorf("after logout:\n%s", body)
	}

	// A login posted from another site's page is refused.
	req, _ := http.NewRequest("POST", srv.URL+"/ui/login", strings.NewReader("token=op-tok"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, _ = http.DefaultClient.Do(req)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login: %d", resp.StatusCode)
	}
	resp.Body.Close()
}

func TestSiteListPages(t *testing.T) {
	srv, _ := world(t, 1234)
	c := login(t, srv, "read-tok")
	for _, tc := range []struct {
		query string
		want  []string
		not   []string
	}{
		{"", []string{"Sites 1–50 of 1234", "site00000.example.com", "site00049.example.com", "page 1 of 25"}, []string{"site00050.example.com"}},
		{"page=25", []string{"Sites 1201–1234 of 1234", "site01233.example.com"}, nil},
		{"page=99", []string{"page 25 of 25"}, nil},
		{"status=degraded", []string{"Sites 1–13 of 13", "site00007.example.com", "site01207.example.com", "&lt;script&gt;"}, []string{"site00008.example.com", "<script>"}},
		{"q=site0012", []string{"of 10", "site00120.example.com"}, []string{"site00130.example.com"}},
		{"server=web3", []string{"of 247", "site00002.example.com"}, []string{"site00001.example.com"}},
		{"sort=status", []string{"site00007.example.com", "site01207.example.com", "site00037.example.com"}, []string{"site00038.example.com"}},
		{"env=staging", []string{"has not built a revision yet", "No site matches."}, nil},
	} {
		code, body := get(t, c, srv.URL+"/ui/sites?"+tc.query)
		if code != 200 {
			t.Errorf("%s: %d", tc.query, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q in the page", tc.query, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(body, n) {
				t.Errorf("%s: %q in the page", tc.query, n)
			}
		}
	}
	// The next-page link keeps the filter.
	_, body := get(t, c, srv.URL+"/ui/sites?server=web2")
	if !strings.Contains(body, "/ui/sites?env=production&amp;page=2&amp;server=web2") {
		t.Errorf("next link does not keep the filter:\n%s", body)
	}
}

func TestSiteAndRunPages(t *testing.T) {
	srv, _ := world(t, 10)
	c := login(t, srv, "read-tok")
	code, body := get(t, c, srv.URL+"/ui/sites/production/site00007.example.com")
	if code != 200 || !strings.Contains(body, "web3") || !strings.Contains(body, "Degraded") || !strings.Contains(body, `href="/ui/runs/1"`) {
		t.Errorf("site page: %d\n%s", code, body)
	}
	if code, _ := get(t, c, srv.URL+"/ui/sites/production/nope.example.com"); code != 404 {
		t.Errorf("unknown site: %d", code)
	}
	code, body = get(t, c, srv.URL+"/ui/runs/1")
	if code != 200 || !strings.Contains(body, "site/x/settings@web1") || strings.Contains(body, secret) {
		t.Errorf("run page: %d, secret shown: %v\n%s", code, strings.Contains(body, secret), body)
	}
	if code, _ := get(t, c, srv.URL+"/ui/runs/9"); code != 404 {
		t.Errorf("unknown run: %d", code)
	}
	resp, err := c.Get(srv.URL + "/ui/static/style.css")
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("style sheet: %v %v", err, resp)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	resp.Body.Close()
}

// BenchmarkSiteList is one page of the site list of an environment of
// 10,000 sites, filtered by status (the worst case: every row looked at)
// and rendered, through the handler.
func BenchmarkSiteList10000(b *testing.B) {
	src := &source{sites: map[string][]daemon.SiteView{}}
	var st []daemon.SiteStatus
	for i := range 10000 {
		d := fmt.Sprintf("site%05d.example.com", i)
		src.sites["production"] = append(src.sites["production"], daemon.SiteView{Name: d, Domain: d, Servers: []string{"web1"}})
		st = append(st, daemon.SiteStatus{Site: d, Sync: "Synced", Health: "Healthy"})
	}
	src.status = []daemon.EnvStatus{{Env: "production", Sites: st}}
	src.clients = map[string]daemon.ClientView{}
	d := New(Config{Source: src, Runs: runs{}, Tokens: tokens{"t": {Role: daemon.RoleRead}}, Logger: zerolog.Nop()})
	h := d.Handler()
	rec := httptest.NewRecorder()
	login := httptest.NewRequest("POST", "/ui/login", strings.NewReader("token=t"))
	login.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, login)
	cookie := rec.Result().Cookies()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/ui/sites?env=production&status=healthy&sort=status&page=100", nil)
		for _, c := range cookie {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// hostClient is a browser that reaches srv under another hostname (a
// client's dashboard behind a proxy).
func hostClient(t *testing.T, host string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Transport: hostTransport{host}}
}

type hostTransport struct{ host string }

func (h hostTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host = h.host
	return http.DefaultTransport.RoundTrip(r)
}

func TestClientDashboard(t *testing.T) {
	srv, _ := world(t, 20)
	// A client's token does not log in on berth's own hostname, nor on
	// another client's.
	for _, host := range []string{"", "panel.globex.example"} {
		c := client(t)
		if host != "" {
			c = hostClient(t, host)
		}
		resp, err := c.PostForm(srv.URL+"/ui/login", url.Values{"token": {"acme-tok"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("acme's token on %q: %d", host, resp.StatusCode)
		}
	}
	c := hostClient(t, "panel.acme.example")
	resp, err := c.PostForm(srv.URL+"/ui/login", url.Values{"token": {"acme-tok"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("acme's login: %d", resp.StatusCode)
	}
	_, home := get(t, c, srv.URL+"/ui/")
	for _, w := range []string{"ACME Corp", `href="/ui/brand.css"`, `src="/ui/brand/logo"`, "help@acme.example", "production"} {
		if !strings.Contains(home, w) {
			t.Errorf("acme's home: no %q", w)
		}
	}
	if strings.Contains(home, "berth") || strings.Contains(home, "Reconcile now") || strings.Contains(home, "/ui/runs") {
		t.Errorf("acme's home names berth, offers an action or the runs:\n%s", home)
	}
	_, list := get(t, c, srv.URL+"/ui/sites?env=production")
	if !strings.Contains(list, "Sites 1–10 of 10") || !strings.Contains(list, "site00000.example.com") || strings.Contains(list, "site00001.example.com") {
		t.Errorf("acme's site list:\n%s", list)
	}
	for path, want := range map[string]int{
		"/ui/sites/production/site00000.example.com": 200,
		"/ui/sites/production/site00001.example.com": 403, // globex's
		"/ui/runs":   403,
		"/ui/runs/1": 403,
	} {
		if code, _ := get(t, c, srv.URL+path); code != want {
			t.Errorf("acme's %s: %d, want %d", path, code, want)
		}
	}
	csrf := csrfRe.FindStringSubmatch(home)[1]
	resp, _ = c.PostForm(srv.URL+"/ui/envs/production/reconcile", url.Values{"csrf": {csrf}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("acme's reconcile: %d", resp.StatusCode)
	}
	_, css := get(t, c, srv.URL+"/ui/brand.css")
	if !strings.Contains(css, "#0b5cad") || !strings.Contains(css, "#fafafa") {
		t.Errorf("brand.css: %q", css)
	}
	if code, logo := get(t, c, srv.URL+"/ui/brand/logo"); code != 200 || logo != "<svg/>" {
		t.Errorf("logo: %d %q", code, logo)
	}
	// The agency's operator logs in on the client's hostname too, branded,
	// and sees every site.
	op := hostClient(t, "panel.acme.example")
	resp, _ = op.PostForm(srv.URL+"/ui/login", url.Values{"token": {"op-tok"}})
	resp.Body.Close()
	if _, list := get(t, op, srv.URL+"/ui/sites"); !strings.Contains(list, "of 20") || !strings.Contains(list, "ACME Corp") {
		t.Errorf("the operator on acme's hostname:\n%s", list)
	}
}

// A run in progress: its page follows the log, whose stream sends each
// line once, then "done"; a client's session gets none of it.
func TestLiveRun(t *testing.T) {
	srv, src := world(t, 3)
	calls := 0
	src.live = func(id int64) ([]byte, bool) {
		if id != 1 {
			return nil, false
		}
		calls++
		switch calls {
		case 1: // the run page
			return []byte("line one\n"), true
		case 2:
			return []byte("line one\n"), true
		case 3:
			return []byte("line one\nline two with " + secret + "\n"), true
		}
		return []byte("line one\nline two with " + secret + "\nline three\n"), false
	}
	c := login(t, srv, "read-tok")
	_, page := get(t, c, srv.URL+"/ui/runs/1")
	if !strings.Contains(page, `data-events="/ui/runs/1/events"`) || !strings.Contains(page, `<script src="/ui/static/live.js">`) {
		t.Fatalf("the live run's page does not follow it:\n%s", page)
	}
	code, stream := get(t, c, srv.URL+"/ui/runs/1/events")
	want := "data: line one\n\ndata: line two with [REDACTED]\n\ndata: line three\n\nevent: done\ndata: the run ended\n\n"
	if code != 200 || strings.ReplaceAll(stream, "[redacted]", "[REDACTED]") != want {
		t.Errorf("stream: %d\n%q\nwant\n%q", code, stream, want)
	}
	acme := hostClient(t, "panel.acme.example")
	resp, _ := acme.PostForm(srv.URL+"/ui/login", url.Values{"token": {"acme-tok"}})
	resp.Body.Close()
	if code, _ := get(t, acme, srv.URL+"/ui/runs/1/events"); code != http.StatusForbidden {
		t.Errorf("a client's session follows a run: %d", code)
	}
}

// TestWaitingMove: a site whose move waits (reconcile.WaitError, in its
// status as run.SiteStatus.Waiting) says so, until when and why, on the
// environments page, in its row of the site list and on its page, escaped
// like every string, once (not again as its raw message); a client sees
// its own site's wait only.
func TestWaitingMove(t *testing.T) {
	srv, src := world(t, 3)
	until := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	wait := func(site, reason string) daemon.SiteStatus {
		w := &berthrun.Wait{ID: "site/" + site + "/migrate@web2", Until: until, Reason: reason}
		return daemon.SiteStatus{Site: site, Sync: "OutOfSync", Health: "Healthy", Message: w.Message(), Waiting: w}
	}
	src.status[0].Sites[0] = wait("site00000.example.com", "site00000.example.com is copied to web2; <b>the DNS caches</b> expire")
	src.status[0].Sites[1] = wait("site00001.example.com", "globex's move")
	src.status[0].Phase, src.status[0].Message = "OutOfSync", "waiting until 2026-12-02T15:00:00Z, then runs again: site00000.example.com: …"

	const shown = "waits until 2026-12-02 15:00:00 UTC"
	const reason = "site00000.example.com is copied to web2; &lt;b&gt;the DNS caches&lt;/b&gt; expire"
	rd := login(t, srv, "read-tok")
	_, envs := get(t, rd, srv.URL+"/ui/")
	for _, w := range []string{"The move of site00000.example.com " + shown + ": " + reason, "The move of site00001.example.com " + shown + ": globex&#39;s move"} {
		if !strings.Contains(envs, w) {
			t.Errorf("environments page: no %q\n%s", w, envs)
		}
	}
	_, list := get(t, rd, srv.URL+"/ui/sites?env=production")
	if !strings.Contains(list, "Its move "+shown+": "+reason) || strings.Contains(list, "migrate@web2 waits") {
		t.Errorf("site list: the wait once, escaped:\n%s", list)
	}
	_, page := get(t, rd, srv.URL+"/ui/sites/production/site00000.example.com")
	if !strings.Contains(page, "<dt>Move</dt><dd class=\"waiting\">"+shown+", then goes on: "+reason+"</dd>") || strings.Contains(page, "migrate@web2 waits") {
		t.Errorf("site page:\n%s", page)
	}
	for _, body := range []string{envs, list, page} {
		if strings.Contains(body, "<b>the DNS caches</b>") {
			t.Error("the reason is not escaped")
		}
	}
	// A health check's answer since is shown besides the wait.
	src.status[0].Sites[0].Health, src.status[0].Sites[0].Message = "Down", "web2: connection refused"
	if _, page := get(t, rd, srv.URL+"/ui/sites/production/site00000.example.com"); !strings.Contains(page, "Down: web2: connection refused") || !strings.Contains(page, shown) {
		t.Errorf("site page with a failed health check:\n%s", page)
	}

	c := hostClient(t, "panel.acme.example")
	resp, err := c.PostForm(srv.URL+"/ui/login", url.Values{"token": {"acme-tok"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, home := get(t, c, srv.URL+"/ui/")
	if !strings.Contains(home, "The move of site00000.example.com "+shown) || strings.Contains(home, "globex") || strings.Contains(home, "waiting until") {
		t.Errorf("acme's environments page: its own site's wait only, not the environment's message:\n%s", home)
	}
}
