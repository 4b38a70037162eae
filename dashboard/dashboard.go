package dashboard

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/redact"
	berthrun "github.com/berthhq/berth/run"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// Source is the daemon the dashboard shows and acts on.
type Source interface {
	Status() []daemon.EnvStatus
	Sites(env string) ([]daemon.SiteView, bool)
	Clients() map[string]daemon.ClientView
	Trigger(env, reason string) error
	BackupNow(env, site, who string) error
	RestoreNow(env, site, id, who string) error
	// LiveLog is the log so far of a run in progress; false once it ended.
	LiveLog(id int64) ([]byte, bool)
}

// Runs is the run history.
type Runs interface {
	Runs(ctx context.Context, env string, limit int) ([]state.Run, error)
	Run(ctx context.Context, id int64) (state.Run, error)
}

// Tokens says who a token is (daemon.Access).
type Tokens interface {
	Who(ctx context.Context, token string) daemon.Principal
}

// Config is what the dashboard is built from.
type Config struct {
	Source Source
	Runs   Runs
	Tokens Tokens
	// Logger receives the audit log: every action with who did it.
	Logger zerolog.Logger
	// Now is the clock of the sessions; time.Now when nil.
	Now func() time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the parsed templates, each a page over the shared layout.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"when": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				if v.IsZero() {
					return ""
				}
				return v.UTC().Format("2006-01-02 15:04:05 UTC")
			case *time.Time:
				if v == nil || v.IsZero() {
					return ""
				}
				return v.UTC().Format("2006-01-02 15:04:05 UTC")
			}
			return ""
		},
		"short": func(rev string) string {
			if len(rev) > 12 {
				return rev[:12]
			}
			return rev
		},
		"join":  strings.Join,
		"lower": strings.ToLower,
		"query": func(q Query, env string, page int) string {
			v := url.Values{}
			v.Set("env", env)
			for k, s := range map[string]string{"q": q.Name, "server": q.Server, "status": q.Status, "sort": q.Sort} {
				if s != "" {
					v.Set(k, s)
				}
			}
			v.Set("page", strconv.Itoa(page))
			return "/ui/sites?" + v.Encode()
		},
		"pathesc": url.PathEscape,
		"inc":     func(i int) int { return i + 1 },
		"dec":     func(i int) int { return i - 1 },
	}
	out := map[string]*template.Template{}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		out[base] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
	}
	return out
}()

// Dashboard serves the pages under /ui/.
type Dashboard struct {
	cfg      Config
	sessions *sessions
}

// New returns the dashboard of cfg.
func New(cfg Config) *Dashboard {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Dashboard{cfg: cfg, sessions: &sessions{m: map[string]*session{}, now: cfg.Now}}
}

// page is what every template gets: the page's data and the session's
// role and CSRF token.
type page struct {
	Title    string
	Operator bool
	LoggedIn bool
	// Client is set for a client's session: it sees that client's sites
	// and nothing of the others (no run plans or logs, no environment
	// messages).
	Client bool
	CSRF   string
	Flash  string
	// Brand is the client whose dashboard hostname the request came to,
	// nil on berth's own.
	Brand *daemon.ClientView
	Data  any
}

// Handler serves the dashboard:
//
//	GET  /ui/                       environments
//	GET  /ui/sites?env=&q=&server=&status=&sort=&page=   sites
//	GET  /ui/sites/{env}/{site}     one site
//	GET  /ui/runs?env=              runs
//	GET  /ui/runs/{id}              one run, its plan and log
//	GET  /ui/runs/{id}/events       a running run's log as server-sent events
//	POST /ui/envs/{env}/reconcile   reconcile now (operator, CSRF)
//	POST /ui/sites/{env}/{site}/backup   back up now (operator, CSRF)
//	POST /ui/sites/{env}/{site}/restore  restore, after a confirmation page naming the backup (operator, CSRF)
//	GET, POST /ui/login; POST /ui/logout
//	GET  /ui/static/...             the style sheet
func (d *Dashboard) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /ui/brand.css", d.brandCSS)
	mux.HandleFunc("GET /ui/brand/logo", d.brandLogo)
	mux.HandleFunc("GET /ui/login", func(w http.ResponseWriter, r *http.Request) {
		d.render(w, r, http.StatusOK, "login", page{Title: "Log in"})
	})
	mux.HandleFunc("POST /ui/login", d.login)
	mux.HandleFunc("POST /ui/logout", d.action(daemon.RoleRead, func(w http.ResponseWriter, r *http.Request, se *session) {
		d.sessions.end(w, r)
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	}))
	mux.HandleFunc("GET /ui/{$}", d.view(d.environments))
	mux.HandleFunc("GET /ui/sites", d.view(d.siteList))
	mux.HandleFunc("GET /ui/sites/{env}/{site}", d.view(d.site))
	mux.HandleFunc("GET /ui/runs", d.view(d.runList))
	mux.HandleFunc("GET /ui/runs/{id}", d.view(d.run))
	mux.HandleFunc("GET /ui/runs/{id}/events", d.events)
	mux.HandleFunc("POST /ui/envs/{env}/reconcile", d.action(daemon.RoleOperator, d.reconcile))
	mux.HandleFunc("POST /ui/sites/{env}/{site}/backup", d.action(daemon.RoleOperator, d.backupNow))
	mux.HandleFunc("POST /ui/sites/{env}/{site}/restore", d.action(daemon.RoleOperator, d.restore))
	return secureHeaders(mux)
}

// secureHeaders adds the headers every answer carries: no framing, no
// sniffing, no referrer, a content policy that allows only the dashboard's
// own style sheet (and no script at all).
func secureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// view wraps a page that needs a login (any role).
func (d *Dashboard) view(h func(r *http.Request, se *session) (int, string, page)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		se := d.sessions.get(r)
		if se == nil {
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		code, tmpl, p := h(r, se)
		d.renderFor(w, r, code, tmpl, p, se)
	}
}

// action wraps a POST: a session of at least role want and the session's
// CSRF token, else 403 and nothing happens.
func (d *Dashboard) action(want daemon.Role, h func(w http.ResponseWriter, r *http.Request, se *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		se := d.sessions.get(r)
		switch {
		case se == nil:
			http.Error(w, "log in first", http.StatusForbidden)
		case !se.validCSRF(r):
			http.Error(w, "the form's CSRF token is missing or wrong: reload the page and try again", http.StatusForbidden)
		case se.role < want:
			http.Error(w, "this needs the operator token: log in with it", http.StatusForbidden)
		default:
			h(w, r, se)
		}
	}
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	// A login from another site's page (login CSRF) carries its Origin.
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		if u, err := url.Parse(o); err != nil || u.Host != r.Host {
			http.Error(w, "cross-site login refused", http.StatusForbidden)
			return
		}
	}
	who := d.cfg.Tokens.Who(r.Context(), r.PostFormValue("token"))
	if who.Role == daemon.RoleNone {
		d.cfg.Logger.Warn().Str("step", "dashboard").Str("remote", r.RemoteAddr).Msg("dashboard login refused: wrong token")
		d.render(w, r, http.StatusUnauthorized, "login", page{Title: "Log in", Flash: "That token is not one of berth serve's API tokens."})
		return
	}
	if who.Client != "" {
		cl, ok := d.cfg.Source.Clients()[who.Client]
		if b := d.brand(r); !ok || (cl.Hostname != "" && (b == nil || b.Key != who.Client)) {
			d.cfg.Logger.Warn().Str("step", "dashboard").Str("who", who.Name).Str("remote", r.RemoteAddr).Msg("dashboard login refused: a client's token on another hostname")
			d.render(w, r, http.StatusForbidden, "login", page{Title: "Log in", Flash: "This token logs in on its client's dashboard only."})
			return
		}
	}
	se := d.sessions.start(w, r, who)
	d.cfg.Logger.Info().Str("step", "dashboard").Str("who", se.audit()).Str("remote", r.RemoteAddr).Msg("dashboard login")
	next := r.URL.Query().Get("next")
	if !strings.HasPrefix(next, "/ui/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		next = "/ui/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// envRow is an environment on the environments page, with the moves of
// its sites that wait (a session's own sites only, for a client's).
type envRow struct {
	daemon.EnvStatus
	Waits []siteWait
}

// siteWait is a site whose move waits.
type siteWait struct {
	Site string
	*berthrun.Wait
}

func (d *Dashboard) environments(r *http.Request, se *session) (int, string, page) {
	st := d.cfg.Source.Status()
	out := make([]envRow, 0, len(st))
	for _, e := range st {
		var own []Row
		if se.who.Client != "" || slices.ContainsFunc(e.Sites, func(s daemon.SiteStatus) bool { return s.Waiting != nil }) {
			views, _ := d.cfg.Source.Sites(e.Env)
			own = d.scope(se, rows(views, e.Sites))
		}
		if se.who.Client != "" {
			if len(own) == 0 {
				continue
			}
			// A client sees its environments' names and its own sites'
			// state, not what the environment's messages say of other
			// sites.
			e = daemon.EnvStatus{Env: e.Env, Phase: e.Phase, Health: e.Health}
		}
		row := envRow{EnvStatus: e}
		for _, s := range own {
			if s.Waiting != nil {
				row.Waits = append(row.Waits, siteWait{Site: s.Domain, Wait: s.Waiting})
			}
		}
		out = append(out, row)
	}
	return http.StatusOK, "environments", page{Title: "Environments", Data: out}
}

// scope keeps the rows a session may see: all for the agency, a client's
// own for a client's.
func (d *Dashboard) scope(se *session, all []Row) []Row {
	if se.who.Client == "" {
		return all
	}
	out := make([]Row, 0, len(all)/4)
	for _, r := range all {
		if r.Client == se.who.Client {
			out = append(out, r)
		}
	}
	return out
}

// brand is the client whose dashboard hostname r came to, nil for none.
func (d *Dashboard) brand(r *http.Request) *daemon.ClientView {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return nil
	}
	for _, c := range d.cfg.Source.Clients() {
		if c.Hostname == host {
			return &c
		}
	}
	return nil
}

// brandCSS is the client's colours over the style sheet (values are
// checked colours: # and six hex digits).
func (d *Dashboard) brandCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	b := d.brand(r)
	if b == nil {
		return
	}
	if spec.RuleColor.Check(b.Primary) == nil {
		fmt.Fprintf(w, "header { background: %s; }\na { color: %s; }\nheader a { color: #fff; }\n", b.Primary, b.Primary)
	}
	if spec.RuleColor.Check(b.Background) == nil {
		fmt.Fprintf(w, "body { background: %s; }\n", b.Background)
	}
}

// brandLogo is the client's logo, from the revision's tree.
func (d *Dashboard) brandLogo(w http.ResponseWriter, r *http.Request) {
	b := d.brand(r)
	if b == nil || len(b.Logo) == 0 {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", b.LogoType)
	w.Write(b.Logo)
}

// siteListData is the site list page's data.
type siteListData struct {
	Envs   []string
	Env    string
	Query  Query
	Result Result
	Ready  bool
}

func (d *Dashboard) siteList(r *http.Request, se *session) (int, string, page) {
	st := d.cfg.Source.Status()
	data := siteListData{}
	for _, e := range st {
		if views, _ := d.cfg.Source.Sites(e.Env); se.who.Client == "" || len(d.scope(se, rows(views, nil))) > 0 {
			data.Envs = append(data.Envs, e.Env)
		}
	}
	q := r.URL.Query()
	data.Env = q.Get("env")
	if data.Env == "" && len(data.Envs) > 0 {
		data.Env = data.Envs[0]
	}
	page1, _ := strconv.Atoi(q.Get("page"))
	data.Query = Query{Name: q.Get("q"), Server: q.Get("server"), Status: q.Get("status"), Sort: q.Get("sort"), Page: page1}
	var statuses []daemon.SiteStatus
	for _, e := range st {
		if e.Env == data.Env {
			statuses = e.Sites
		}
	}
	views, ok := d.cfg.Source.Sites(data.Env)
	data.Ready = ok
	data.Result = List(d.scope(se, rows(views, statuses)), data.Query)
	return http.StatusOK, "sites", page{Title: "Sites", Data: data}
}

// siteData is a site page's data.
type siteData struct {
	Env         string
	Row         Row
	Certificate *struct {
		Issuer, LastError        string
		NotAfter, RenewAt, Waits time.Time
	}
	Runs []state.Run
}

func (d *Dashboard) site(r *http.Request, se *session) (int, string, page) {
	env, name := r.PathValue("env"), r.PathValue("site")
	views, _ := d.cfg.Source.Sites(env)
	var st daemon.EnvStatus
	for _, e := range d.cfg.Source.Status() {
		if e.Env == env {
			st = e
		}
	}
	all := rows(views, st.Sites)
	i := -1
	for j, row := range all {
		if row.Domain == name || row.Name == name {
			i = j
			break
		}
	}
	if i < 0 {
		return http.StatusNotFound, "error", page{Title: "No such site", Data: "No site " + name + " in environment " + env + " (as of the revision it last built)."}
	}
	if se.who.Client != "" && all[i].Client != se.who.Client {
		return http.StatusForbidden, "error", page{Title: "Not yours", Data: "This site is not one of your sites."}
	}
	data := siteData{Env: env, Row: all[i]}
	for _, c := range st.Certificates {
		if c.Site == all[i].Name || c.Site == all[i].Domain {
			data.Certificate = &struct {
				Issuer, LastError        string
				NotAfter, RenewAt, Waits time.Time
			}{c.Issuer, c.LastError, c.NotAfter, c.RenewAt, c.Waiting}
		}
	}
	data.Runs, _ = d.cfg.Runs.Runs(r.Context(), env, 20)
	if se.who.Client != "" {
		// Run errors may name other clients' sites.
		for i := range data.Runs {
			data.Runs[i].Error = ""
		}
	}
	return http.StatusOK, "site", page{Title: all[i].Domain, Data: data}
}

// runListData is the run list's data.
type runListData struct {
	Env  string
	Runs []state.Run
	Err  string
}

// notForClients answers a client's session on the pages of the whole
// environment (runs: their plans and logs name every site).
func notForClients(se *session) (int, string, page, bool) {
	if se.who.Client == "" {
		return 0, "", page{}, false
	}
	return http.StatusForbidden, "error", page{Title: "Not available", Data: "Runs cover every site of an environment; your sites' pages show their timeline."}, true
}

func (d *Dashboard) runList(r *http.Request, se *session) (int, string, page) {
	if code, t, p, no := notForClients(se); no {
		return code, t, p
	}
	env := r.URL.Query().Get("env")
	runs, err := d.cfg.Runs.Runs(r.Context(), env, 100)
	data := runListData{Env: env, Runs: runs}
	if err != nil {
		data.Err = err.Error()
	}
	return http.StatusOK, "runs", page{Title: "Runs", Data: data}
}

// runData is a run page's data.
type runData struct {
	Run  state.Run
	Plan string
	Log  string
	// Live is set while the run is in progress: the page follows its log
	// (server-sent events; without JavaScript it reloads itself).
	Live bool
}

func (d *Dashboard) run(r *http.Request, se *session) (int, string, page) {
	if code, t, p, no := notForClients(se); no {
		return code, t, p
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return http.StatusBadRequest, "error", page{Title: "Bad run id", Data: "A run id is a number."}
	}
	run, err := d.cfg.Runs.Run(r.Context(), id)
	if errors.Is(err, fs.ErrNotExist) {
		return http.StatusNotFound, "error", page{Title: "No such run", Data: "No run " + r.PathValue("id") + "."}
	} else if err != nil {
		return http.StatusInternalServerError, "error", page{Title: "Error", Data: err.Error()}
	}
	data := runData{Run: run, Log: redact.String(string(run.Log))}
	if live, running := d.cfg.Source.LiveLog(id); running {
		data.Live, data.Log = true, redact.String(string(live))
	}
	var b bytes.Buffer
	if json.Indent(&b, run.Changes, "", "  ") == nil {
		data.Plan = redact.String(b.String())
	} else {
		data.Plan = redact.String(string(run.Changes))
	}
	return http.StatusOK, "run", page{Title: "Run " + strconv.FormatInt(id, 10), Data: data}
}

func (d *Dashboard) reconcile(w http.ResponseWriter, r *http.Request, se *session) {
	env := r.PathValue("env")
	d.cfg.Logger.Info().Str("env", env).Str("step", "dashboard").Str("who", se.audit()).Str("remote", r.RemoteAddr).Msg("audit: reconcile now")
	if err := d.cfg.Source.Trigger(env, daemon.ReasonManual); err != nil {
		d.renderFor(w, r, http.StatusNotFound, "error", page{Title: "No such environment", Data: err.Error()}, se)
		return
	}
	http.Redirect(w, r, "/ui/runs?env="+url.QueryEscape(env), http.StatusSeeOther)
}

func (d *Dashboard) backupNow(w http.ResponseWriter, r *http.Request, se *session) {
	env, site := r.PathValue("env"), r.PathValue("site")
	d.cfg.Logger.Info().Str("env", env).Str("site", site).Str("step", "dashboard").Str("who", se.audit()).Str("remote", r.RemoteAddr).Msg("audit: back up now")
	if err := d.cfg.Source.BackupNow(env, site, se.audit()); err != nil {
		d.renderFor(w, r, http.StatusConflict, "error", page{Title: "No backup", Data: err.Error()}, se)
		return
	}
	http.Redirect(w, r, "/ui/runs?env="+url.QueryEscape(env), http.StatusSeeOther)
}

// LivePoll is how often a run's event stream looks for new log lines.
const LivePoll = 500 * time.Millisecond

// events streams the log of run id while it runs, as server-sent events:
// one message per log line, then a "done" event when the run ended.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	se := d.sessions.get(r)
	switch {
	case se == nil:
		http.Error(w, "log in first", http.StatusForbidden)
		return
	case se.who.Client != "":
		http.Error(w, "runs cover every site of an environment", http.StatusForbidden)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "a run id is a number", http.StatusBadRequest)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	sent := 0
	tick := time.NewTicker(LivePoll)
	defer tick.Stop()
	for {
		b, running := d.cfg.Source.LiveLog(id)
		if len(b) > sent {
			for line := range strings.Lines(string(b[sent:])) {
				fmt.Fprintf(w, "data: %s\n\n", redact.String(strings.TrimRight(line, "\r\n")))
			}
			sent = len(b)
		}
		if !running {
			fmt.Fprint(w, "event: done\ndata: the run ended\n\n")
			fl.Flush()
			return
		}
		fl.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
	}
}

// restoreData is the restore confirmation page's data.
type restoreData struct {
	Env, Site, Backup string
}

// restore asks for a confirmation naming the backup first (the form's
// confirm field must repeat the backup's ID); then restores.
func (d *Dashboard) restore(w http.ResponseWriter, r *http.Request, se *session) {
	env, site := r.PathValue("env"), r.PathValue("site")
	id := strings.TrimSpace(r.PostFormValue("backup"))
	if !backup.ValidID(id) {
		d.renderFor(w, r, http.StatusBadRequest, "error", page{Title: "No restore", Data: "Give the ID of a backup, like 20261125T123456Z (berth backups SITE lists them)."}, se)
		return
	}
	if r.PostFormValue("confirm") != id {
		d.renderFor(w, r, http.StatusOK, "confirm", page{Title: "Restore " + site + "?", Data: restoreData{Env: env, Site: site, Backup: id}}, se)
		return
	}
	d.cfg.Logger.Info().Str("env", env).Str("site", site).Str("backup", id).Str("step", "dashboard").Str("who", se.audit()).Str("remote", r.RemoteAddr).Msg("audit: restore")
	if err := d.cfg.Source.RestoreNow(env, site, id, se.audit()); err != nil {
		d.renderFor(w, r, http.StatusConflict, "error", page{Title: "No restore", Data: err.Error()}, se)
		return
	}
	http.Redirect(w, r, "/ui/runs?env="+url.QueryEscape(env), http.StatusSeeOther)
}

func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	d.renderFor(w, r, code, name, p, nil)
}

// renderFor renders page name into a buffer, redacts the secrets the
// process knows, and writes it.
func (d *Dashboard) renderFor(w http.ResponseWriter, r *http.Request, code int, name string, p page, se *session) {
	if se != nil {
		p.LoggedIn, p.Operator, p.CSRF, p.Client = true, se.role >= daemon.RoleOperator, se.csrf, se.who.Client != ""
	}
	p.Brand = d.brand(r)
	var b bytes.Buffer
	if err := pages[name].Execute(&b, p); err != nil {
		d.cfg.Logger.Error().Err(err).Str("step", "dashboard").Msg("render " + name)
		http.Error(w, "the page could not be rendered; see berth serve's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(redact.Bytes(b.Bytes()))
}
