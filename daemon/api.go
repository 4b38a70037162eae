package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berthhq/berth/redact"
	"github.com/berthhq/berth/state"
)

// Access says who may use the API: bearer tokens of two roles, which can
// be replaced while serving (SIGHUP re-reads their files), and whether
// /metrics is open to anyone. The zero value allows nothing but /healthz
// and /readyz.
type Access struct {
	mu       sync.RWMutex
	operator [sha256.Size]byte // reads and starts runs
	read     [sha256.Size]byte // reads only
	hasOp    bool
	hasRead  bool
	metrics  bool
	store    TokenStore
}

// Set replaces the tokens: operator may read and start runs, read may only
// read (status, runs, metrics). An empty token disables its role.
// metricsPublic opens /metrics without a token.
func (a *Access) Set(operator, read []byte, metricsPublic bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.operator, a.hasOp = sha256.Sum256(operator), len(operator) > 0
	a.read, a.hasRead = sha256.Sum256(read), len(read) > 0
	a.metrics = metricsPublic
}

// Role is what a token allows.
type Role int

// The roles, each allowing what the one before does.
const (
	RoleNone Role = iota
	// RoleRead reads: status, runs, metrics, the dashboard.
	RoleRead
	// RoleOperator also starts runs.
	RoleOperator
	// RoleAdmin also manages the tokens.
	RoleAdmin
)

// String names the role as tokens and audit lines do.
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "viewer"
	case RoleOperator:
		return "operator"
	case RoleAdmin:
		return "admin"
	}
	return "none"
}

// ParseRole is the role of a name String returns, RoleNone for another.
func ParseRole(name string) Role {
	for r := RoleRead; r <= RoleAdmin; r++ {
		if r.String() == name {
			return r
		}
	}
	return RoleNone
}

// Principal is who a token is: its role, its name (for the audit log)
// and, for a client's token, the client whose sites alone it sees.
type Principal struct {
	Role   Role
	Name   string
	Client string
}

// TokenStore looks tokens up by hash (state.Store).
type TokenStore interface {
	LookupToken(ctx context.Context, hash []byte) (state.Token, error)
}

// UseStore makes the tokens of store (berth token create) valid too, next
// to the token files'.
func (a *Access) UseStore(store TokenStore) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.store = store
}

// principal is who the request's bearer token is.
func (a *Access) principal(r *http.Request) Principal {
	got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return a.Who(r.Context(), got)
}

// role is the role of the request's bearer token on the API, which has no
// client scope: a client's token has none there.
func (a *Access) role(r *http.Request) Role {
	got, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !found {
		return RoleNone
	}
	p := a.Who(r.Context(), got)
	if p.Client != "" {
		return RoleNone
	}
	return p.Role
}

// Who is the principal of a token: the token files' are compared in
// constant time (of equal-length hashes, so neither the length nor which
// token was close shows in the timing): the read token is a viewer, the
// operator token an admin; another token is looked up in the store by
// its hash.
func (a *Access) Who(ctx context.Context, got string) Principal {
	got = strings.TrimSpace(got)
	if got == "" {
		return Principal{}
	}
	sum := sha256.Sum256([]byte(got))
	a.mu.RLock()
	op := subtle.ConstantTimeCompare(sum[:], a.operator[:]) == 1 && a.hasOp
	rd := subtle.ConstantTimeCompare(sum[:], a.read[:]) == 1 && a.hasRead
	store := a.store
	a.mu.RUnlock()
	switch {
	case op:
		return Principal{Role: RoleAdmin, Name: "operator token file"}
	case rd:
		return Principal{Role: RoleRead, Name: "read token file"}
	case store == nil:
		return Principal{}
	}
	t, err := store.LookupToken(ctx, sum[:])
	if err != nil {
		return Principal{}
	}
	p := Principal{Role: ParseRole(t.Role), Name: "token " + t.Name, Client: t.Client}
	if p.Client != "" && p.Role > RoleRead {
		p.Role = RoleRead // a client's token only reads
	}
	return p
}

func (a *Access) storeless() bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.store == nil
}

func (a *Access) configured() (some, public bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.hasOp || a.hasRead, a.metrics
}

// allow checks that r carries a token of at least role want; when not, it
// answers (401 without a right token, 403 when the token's role is not
// enough or no token is configured) and returns false.
func (a *Access) allow(w http.ResponseWriter, r *http.Request, want Role) bool {
	got := a.role(r)
	if got >= want {
		return true
	}
	some, _ := a.configured()
	switch {
	case !some && a.storeless():
		writeError(w, http.StatusForbidden, "the API is closed: start berth serve with --api-read-token-file (reading) or --api-token-file (reading and starting runs)")
	case got == RoleNone:
		w.Header().Set("WWW-Authenticate", `Bearer realm="berth"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
	default:
		writeError(w, http.StatusForbidden, "this token may only read; starting a run needs the operator token (--api-token-file)")
	}
	return false
}

// Handler is the daemon's HTTP API:
//
//	GET  /api/v1/status                          every environment's status (read token)
//	GET  /api/v1/runs?env=ENV&limit=N            recent runs, newest first (read token)
//	GET  /api/v1/runs/{id}                       one run with its plan and log (read token)
//	POST /api/v1/environments/{env}/reconcile    start a run (operator token)
//	POST /api/v1/environments/{env}/sites/{site}/rollback-migration
//	                                             move a migrated site back (operator token; RollbackMigration)
//	GET, POST /api/v1/tokens; DELETE /api/v1/tokens/{name}   tokens (admin; see tokens.go)
//	GET  /metrics                                Prometheus (read token, or open: see Access)
//	GET  /healthz, /readyz                       open
//
// The operator token may do everything the read token may. Every answer
// has the secrets the process knows redacted (package redact). Webhook
// receivers are mounted next to it by the caller (see Webhook).
func (d *Daemon) Handler(access *Access) http.Handler {
	mux := http.NewServeMux()
	read := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if access.allow(w, r, RoleRead) {
				h(w, r)
			}
		}
	}
	mux.HandleFunc("GET /api/v1/status", read(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"environments": d.Status()})
	}))
	mux.HandleFunc("GET /api/v1/runs", read(func(w http.ResponseWriter, r *http.Request) {
		limit := 50
		if l, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && l > 0 && l <= 1000 {
			limit = l
		}
		runs, err := d.cfg.Store.Runs(r.Context(), r.URL.Query().Get("env"), limit)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		out := make([]runJSON, len(runs))
		for i, run := range runs {
			out[i] = toRunJSON(run)
		}
		writeJSON(w, http.StatusOK, map[string]any{"runs": out})
	}))
	mux.HandleFunc("GET /api/v1/runs/{id}", read(func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "run id must be a number")
			return
		}
		run, err := d.cfg.Store.Run(r.Context(), id)
		if errors.Is(err, fs.ErrNotExist) {
			writeError(w, http.StatusNotFound, "no run "+r.PathValue("id"))
			return
		} else if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		out := toRunJSON(run)
		if len(run.Changes) > 0 {
			out.Plan = json.RawMessage(run.Changes)
			if !json.Valid(run.Changes) { // cut by a redaction: give it as text
				out.Plan, _ = json.Marshal(string(run.Changes))
			}
		}
		out.Log = string(run.Log)
		writeJSON(w, http.StatusOK, out)
	}))
	mux.HandleFunc("POST /api/v1/environments/{env}/reconcile", func(w http.ResponseWriter, r *http.Request) {
		if !access.allow(w, r, RoleOperator) {
			return
		}
		env := r.PathValue("env")
		if err := d.Trigger(env, ReasonManual); err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"env": env, "status": "run requested"})
	})
	mux.HandleFunc("POST /api/v1/environments/{env}/sites/{site}/rollback-migration", func(w http.ResponseWriter, r *http.Request) {
		if !access.allow(w, r, RoleOperator) {
			return
		}
		env, site := r.PathValue("env"), r.PathValue("site")
		if err := d.RollbackMigration(env, site, "the API"); err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"env": env, "site": site, "status": "rollback requested"})
	})
	d.tokenHandlers(mux, access)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !d.Ready() {
			writeError(w, http.StatusServiceUnavailable, "starting: environments not discovered yet")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	metrics := promhttp.HandlerFor(d.cfg.Metrics.Registry, promhttp.HandlerOpts{})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if _, public := access.configured(); public || access.allow(w, r, RoleRead) {
			metrics.ServeHTTP(w, r)
		}
	})
	return mux
}

// Webhook wraps a webhook receiver of provider so that every request is
// counted by the status it was answered with.
func (d *Daemon) Webhook(provider string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		d.cfg.Metrics.webhooks.WithLabelValues(provider, strconv.Itoa(rec.code)).Inc()
	})
}

// OnPush is the callback webhook receivers call: the environments following
// branch get a run; it returns how many.
func (d *Daemon) OnPush(provider, branch string) int {
	n := d.TriggerBranch(branch, ReasonWebhook)
	d.cfg.Logger.Info().Str("provider", provider).Str("branch", branch).Int("environments", n).Msg("push received")
	return n
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

type runJSON struct {
	ID       int64           `json:"id"`
	Env      string          `json:"env"`
	Revision string          `json:"revision"`
	Trigger  string          `json:"trigger"`
	Result   string          `json:"result"`
	Started  time.Time       `json:"started"`
	Finished *time.Time      `json:"finished,omitempty"`
	Error    string          `json:"error,omitempty"`
	Plan     json.RawMessage `json:"plan,omitempty"`
	Log      string          `json:"log,omitempty"`
}

func toRunJSON(r state.Run) runJSON {
	out := runJSON{ID: r.ID, Env: r.Env, Revision: r.Revision, Trigger: r.Trigger, Result: r.Result, Started: r.Started, Error: r.Error}
	if !r.Finished.IsZero() {
		f := r.Finished
		out.Finished = &f
	}
	return out
}

// writeJSON is the API's sink: every answer leaves with the secrets the
// process knows redacted.
func writeJSON(w http.ResponseWriter, code int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		b.Reset()
		fmt.Fprintf(&b, "{\"error\": %q}\n", "encode the answer: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(redact.Bytes(b.Bytes()))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
