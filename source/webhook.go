package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// Push is a push to a branch, as a webhook reported it.
type Push struct {
	Provider string // "github", "gitlab", "gitea", "generic"
	Branch   string // the branch name, without refs/heads/; never empty
	After    string // the new commit, when the provider says (all zeros: the branch was deleted)
	Repo     string // the repository's full name, when the provider says ("team/sites")
}

// MaxWebhookBody is the largest request body a webhook receiver reads; a
// larger one is refused with 413.
const MaxWebhookBody = 1 << 20

// GitHub receives GitHub push webhooks: the body must carry a valid
// X-Hub-Signature-256 ("sha256=" + hex HMAC-SHA256 of the body with
// secret); X-GitHub-Event push is a push, ping is answered. An empty secret
// disables the receiver. A delivery seen before (its X-GitHub-Delivery, or
// the same signed body) is acknowledged and ignored; seen may be nil.
func GitHub(secret []byte, onPush func(Push) int, seen *Deliveries) http.Handler {
	return &receiver{
		provider: "github", secret: secret, onPush: onPush, seen: seen, signed: true,
		delivery: func(r *http.Request) string { return r.Header.Get("X-GitHub-Delivery") },
		authBody: func(r *http.Request, body []byte) bool {
			sig, ok := strings.CutPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")
			return ok && validHMAC(secret, body, sig)
		},
		event: func(r *http.Request) string {
			switch r.Header.Get("X-GitHub-Event") {
			case "push":
				return eventPush
			case "ping":
				return eventPing
			}
			return "X-GitHub-Event " + r.Header.Get("X-GitHub-Event")
		},
	}
}

// GitLab receives GitLab push webhooks: X-Gitlab-Token must equal token;
// X-Gitlab-Event "Push Hook" is a push (tag pushes, "Tag Push Hook", are
// ignored). GitLab sends no ping: its test delivery is a push. An empty
// token disables the receiver. A delivery whose X-Gitlab-Event-UUID (or
// Idempotency-Key) was seen before is acknowledged and ignored; seen may
// be nil.
func GitLab(token []byte, onPush func(Push) int, seen *Deliveries) http.Handler {
	return &receiver{
		provider: "gitlab", secret: token, onPush: onPush, seen: seen,
		delivery: func(r *http.Request) string {
			if id := r.Header.Get("X-Gitlab-Event-UUID"); id != "" {
				return id
			}
			return r.Header.Get("Idempotency-Key")
		},
		authHeader: func(r *http.Request) bool {
			return equalSecret(token, r.Header.Get("X-Gitlab-Token"))
		},
		event: func(r *http.Request) string {
			if r.Header.Get("X-Gitlab-Event") == "Push Hook" {
				return eventPush
			}
			return "X-Gitlab-Event " + r.Header.Get("X-Gitlab-Event")
		},
	}
}

// Gitea receives Gitea and Forgejo push webhooks: X-Gitea-Signature (or
// X-Forgejo-Signature) must be the hex HMAC-SHA256 of the body with secret;
// X-Gitea-Event (or X-Forgejo-Event) push is a push. Gitea's test delivery
// is a push. An empty secret disables the receiver. A delivery seen before
// (its X-Gitea-Delivery or X-Forgejo-Delivery, or the same signed body) is
// acknowledged and ignored; seen may be nil.
func Gitea(secret []byte, onPush func(Push) int, seen *Deliveries) http.Handler {
	return &receiver{
		provider: "gitea", secret: secret, onPush: onPush, seen: seen, signed: true,
		delivery: func(r *http.Request) string {
			if id := r.Header.Get("X-Gitea-Delivery"); id != "" {
				return id
			}
			return r.Header.Get("X-Forgejo-Delivery")
		},
		authBody: func(r *http.Request, body []byte) bool {
			sig := r.Header.Get("X-Gitea-Signature")
			if sig == "" {
				sig = r.Header.Get("X-Forgejo-Signature")
			}
			return sig != "" && validHMAC(secret, body, sig)
		},
		event: func(r *http.Request) string {
			ev := r.Header.Get("X-Gitea-Event")
			if ev == "" {
				ev = r.Header.Get("X-Forgejo-Event")
			}
			if ev == "push" {
				return eventPush
			}
			return "X-Gitea-Event " + ev
		},
	}
}

// Generic receives a push from anything that can send an HTTP request (a CI
// job, a script): "Authorization: Bearer TOKEN" or "X-Berth-Token: TOKEN",
// and the branch as ?branch=NAME or a JSON body {"ref": "refs/heads/NAME"}
// (or {"branch": "NAME"}). A request naming no branch is refused with 400.
// An empty token disables the receiver. A request whose X-Berth-Delivery
// (or Idempotency-Key) was seen before is acknowledged and ignored; seen
// may be nil.
func Generic(token []byte, onPush func(Push) int, seen *Deliveries) http.Handler {
	return &receiver{
		provider: "generic", secret: token, onPush: onPush, seen: seen,
		delivery: func(r *http.Request) string {
			if id := r.Header.Get("X-Berth-Delivery"); id != "" {
				return id
			}
			return r.Header.Get("Idempotency-Key")
		},
		authHeader: func(r *http.Request) bool {
			t := r.Header.Get("X-Berth-Token")
			if b, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
				t = strings.TrimSpace(b)
			}
			return t != "" && equalSecret(token, t)
		},
		event: func(*http.Request) string { return eventPush },
	}
}

const (
	eventPush = "push"
	eventPing = "ping"
)

type receiver struct {
	provider   string
	secret     []byte
	onPush     func(Push) int
	seen       *Deliveries
	signed     bool                             // the body is signed: a replayed body is a replay whatever its headers say
	delivery   func(*http.Request) string       // the delivery ID, "" when the sender gave none
	authHeader func(*http.Request) bool         // checked before the body is read
	authBody   func(*http.Request, []byte) bool // checked on the body
	event      func(*http.Request) string       // eventPush, eventPing or why it is ignored
}

// payload holds the fields berth reads from the push payloads of GitHub,
// GitLab and Gitea (and the generic receiver's).
type payload struct {
	Ref        string `json:"ref"`
	Branch     string `json:"branch"` // generic only
	After      string `json:"after"`
	Repository struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Project struct {
		PathWithNamespace string `json:"path_with_namespace"`
	} `json:"project"`
}

func (h *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(h.secret) == 0 {
		answer(w, http.StatusNotFound, "error", "the "+h.provider+" webhook receiver is disabled: berth has no secret for it; configure one (and the same in the "+h.provider+" webhook settings)")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(w, http.StatusMethodNotAllowed, "error", "webhooks are POSTed")
		return
	}
	if h.authHeader != nil && !h.authHeader(r) {
		answer(w, http.StatusUnauthorized, "error", "missing or wrong token")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		answer(w, http.StatusRequestEntityTooLarge, "error", "the body is larger than 1 MiB")
		return
	}
	if err != nil {
		answer(w, http.StatusBadRequest, "error", "reading the body: "+err.Error())
		return
	}
	if h.authBody != nil && !h.authBody(r, body) {
		answer(w, http.StatusUnauthorized, "error", "missing or wrong signature")
		return
	}
	if h.seen != nil {
		// Only authenticated deliveries are remembered; one that is not
		// answered 2xx is forgotten again, so its redelivery is served.
		keys := h.replayKeys(r, body)
		if !h.seen.add(keys) {
			w.Header().Set("X-Berth-Ignored", "delivery already received")
			answer(w, http.StatusOK, "status", "duplicate delivery ignored")
			return
		}
		rec := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			if rec.code >= 300 {
				h.seen.forget(keys)
			}
		}()
		w = rec
	}
	switch ev := h.event(r); ev {
	case eventPing:
		answer(w, http.StatusOK, "status", "pong")
		return
	case eventPush:
	default:
		ignore(w, "not a push: "+ev)
		return
	}
	var p payload
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" && h.provider != "generic" {
		// GitHub's and Gitea's "application/x-www-form-urlencoded" content
		// type: the JSON payload is the form's payload field (the
		// signature covers the form, checked above).
		form, err := url.ParseQuery(string(body))
		if err != nil || form.Get("payload") == "" {
			answer(w, http.StatusUnsupportedMediaType, "error", "a form-encoded delivery without a payload field; choose the content type application/json in the "+h.provider+" webhook settings")
			return
		}
		body = []byte(form.Get("payload"))
	}
	if len(body) > 0 && (h.provider != "generic" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || body[0] == '{') {
		if err := json.Unmarshal(body, &p); err != nil {
			answer(w, http.StatusBadRequest, "error", "the body is not a JSON push payload: "+err.Error())
			return
		}
	}
	ref := p.Ref
	if h.provider == "generic" {
		switch {
		case r.URL.Query().Get("branch") != "":
			ref = "refs/heads/" + r.URL.Query().Get("branch")
		case p.Branch != "":
			ref = "refs/heads/" + p.Branch
		case ref != "" && !strings.HasPrefix(ref, "refs/"):
			ref = "refs/heads/" + ref
		case ref == "":
			answer(w, http.StatusBadRequest, "error", `name the branch: ?branch=NAME or {"ref": "refs/heads/NAME"}`)
			return
		}
	}
	branch, ok := strings.CutPrefix(ref, "refs/heads/")
	if !ok || branch == "" {
		if ref == "" {
			answer(w, http.StatusBadRequest, "error", "the push payload has no ref")
			return
		}
		ignore(w, "not a branch: "+ref)
		return
	}
	repo := p.Repository.FullName
	if repo == "" {
		repo = p.Project.PathWithNamespace
	}
	n := h.onPush(Push{Provider: h.provider, Branch: branch, After: p.After, Repo: repo})
	status := fmt.Sprintf("runs requested for %d environment(s) following %s", n, branch)
	if n == 0 {
		status = "no environment follows branch " + branch + "; berth.yaml's environments name the branches berth follows"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	b, _ := json.Marshal(pushAnswer{Branch: branch, Environments: n, Status: status})
	w.Write(append(b, '\n'))
}

// pushAnswer is the body of a 202: the branch, how many environments
// follow it (and got a run), and that in words.
type pushAnswer struct {
	Branch       string `json:"branch"`
	Environments int    `json:"environments"`
	Status       string `json:"status"`
}

// replayKeys are what identify a delivery: its ID and, for a signed body,
// the body's digest (the signature covers the body only, so whoever
// captured a delivery can resend it with any headers).
func (h *receiver) replayKeys(r *http.Request, body []byte) []string {
	var keys []string
	if id := strings.TrimSpace(h.delivery(r)); id != "" {
		keys = append(keys, h.provider+" id "+id)
	}
	if h.signed {
		sum := sha256.Sum256(body)
		keys = append(keys, h.provider+" body "+hex.EncodeToString(sum[:]))
	}
	return keys
}

type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

func answer(w http.ResponseWriter, code int, key, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := json.Marshal(map[string]string{key: msg})
	w.Write(append(b, '\n'))
}

func ignore(w http.ResponseWriter, why string) {
	w.Header().Set("X-Berth-Ignored", why)
	w.WriteHeader(http.StatusNoContent)
}

// validHMAC reports whether sigHex is the hex HMAC-SHA256 of body with
// secret, in constant time.
func validHMAC(secret, body []byte, sigHex string) bool {
	sig, err := hex.DecodeString(strings.TrimSpace(sigHex))
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hmac.Equal(sig, m.Sum(nil))
}

// equalSecret compares in constant time, including the length: both sides
// are hashed first.
func equalSecret(secret []byte, got string) bool {
	a := sha256.Sum256(secret)
	b := sha256.Sum256([]byte(got))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1 && got != ""
}
