package daemon

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berthhq/berth/state"
)

// APIToken holds the bearer token of the API's writing endpoints; it can
// be replaced while serving (SIGHUP re-reads its file). Empty disables them.
type APIToken struct {
	mu    sync.RWMutex
	token []byte
}

// Set replaces the token.
func (t *APIToken) Set(token []byte) {
	t.mu.Lock()
	t.token = token
	t.mu.Unlock()
}

func (t *APIToken) check(r *http.Request) (configured, ok bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.token) == 0 {
		return false, false
	}
	got, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return true, found && subtle.ConstantTimeCompare([]byte(got), t.token) == 1
}

// Handler is the daemon's HTTP API:
//
//	GET  /api/v1/status                          every environment's status
//	GET  /api/v1/runs?env=ENV&limit=N            recent runs, newest first
//	GET  /api/v1/runs/{id}                       one run with its plan and log
//	POST /api/v1/environments/{env}/reconcile    start a run (bearer token)
//	GET  /healthz, /readyz, /metrics
//
// Webhook receivers are mounted next to it by the caller (see Webhook).
func (d *Daemon) Handler(token *APIToken) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"environments": d.Status()})
	})
	mux.HandleFunc("GET /api/v1/runs", func(w http.ResponseWriter, r *http.Request) {
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
	})
	mux.HandleFunc("GET /api/v1/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
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
		}
		out.Log = string(run.Log)
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /api/v1/environments/{env}/reconcile", func(w http.ResponseWriter, r *http.Request) {
		configured, ok := token.check(r)
		switch {
		case !configured:
			writeError(w, http.StatusForbidden, "manual runs are disabled: start berth serve with --api-token-file")
			return
		case !ok:
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		env := r.PathValue("env")
		if err := d.Trigger(env, ReasonManual); err != nil {
			writeError(w, http.StatusNotFound, err.Error())
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"env": env, "status": "run requested"})
	})
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
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.cfg.Metrics.Registry, promhttp.HandlerOpts{}))
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
// branch get a run.
func (d *Daemon) OnPush(provider, branch string) {
	n := d.TriggerBranch(branch, ReasonWebhook)
	d.cfg.Logger.Info().Str("provider", provider).Str("branch", branch).Int("environments", n).Msg("push received")
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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
