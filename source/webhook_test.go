package source

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const hookSecret = "s3cret-webhook"

func sign(body string) string {
	m := hmac.New(sha256.New, []byte(hookSecret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

type provider struct {
	name  string
	new   func([]byte, func(Push) int, *Deliveries) http.Handler
	event func(h http.Header, ev string) // sets the event header: "push", "ping", "tag", "other"
	auth  func(h http.Header, body string, good bool)
	body  func(ref string) string // a push payload
	repo  string                  // what Push.Repo should be
}

var providers = []provider{
	{
		name: "github", new: GitHub,
		event: func(h http.Header, ev string) {
			h.Set("X-GitHub-Event", map[string]string{"push": "push", "ping": "ping", "tag": "push", "other": "issues"}[ev])
		},
		auth: func(h http.Header, body string, good bool) {
			if good {
				h.Set("X-Hub-Signature-256", "sha256="+sign(body))
			} else {
				h.Set("X-Hub-Signature-256", "sha256="+sign(body+"x"))
			}
		},
		body: func(ref string) string {
			return `{"ref":"` + ref + `","after":"0123456789abcdef0123456789abcdef01234567","repository":{"full_name":"team/sites"}}`
		},
		repo: "team/sites",
	},
	{
		name: "gitlab", new: GitLab,
		event: func(h http.Header, ev string) {
			h.Set("X-Gitlab-Event", map[string]string{"push": "Push Hook", "ping": "Push Hook", "tag": "Push Hook", "other": "Merge Request Hook"}[ev])
		},
		auth: func(h http.Header, body string, good bool) {
			if good {
				h.Set("X-Gitlab-Token", hookSecret)
			} else {
				h.Set("X-Gitlab-Token", hookSecret+"x")
			}
		},
		body: func(ref string) string {
			return `{"object_kind":"push","ref":"` + ref + `","after":"0123456789abcdef0123456789abcdef01234567","project":{"path_with_namespace":"team/sites"}}`
		},
		repo: "team/sites",
	},
	{
		name: "gitea", new: Gitea,
		event: func(h http.Header, ev string) {
			h.Set("X-Gitea-Event", map[string]string{"push": "push", "ping": "push", "tag": "push", "other": "issues"}[ev])
		},
		auth: func(h http.Header, body string, good bool) {
			if good {
				h.Set("X-Gitea-Signature", sign(body))
			} else {
				h.Set("X-Gitea-Signature", sign("x"+body))
			}
		},
		body: func(ref string) string {
			return `{"ref":"` + ref + `","after":"0123456789abcdef0123456789abcdef01234567","repository":{"full_name":"team/sites"}}`
		},
		repo: "team/sites",
	},
	{
		name: "generic", new: Generic,
		event: func(http.Header, string) {},
		auth: func(h http.Header, body string, good bool) {
			if good {
				h.Set("Authorization", "Bearer "+hookSecret)
			} else {
				h.Set("Authorization", "Bearer nope")
			}
		},
		body: func(ref string) string { return `{"ref":"` + ref + `"}` },
	},
}

func TestWebhooks(t *testing.T) {
	type req struct {
		method string
		ev     string // push, ping, tag, other
		auth   string // good, bad, none
		body   string // "" = the provider's push to refs/heads/dev
		query  string
		secret string
	}
	cases := []struct {
		name       string
		req        req
		wantCode   int
		wantBranch string // "" = onPush must not be called
	}{
		{"push", req{ev: "push", auth: "good"}, 202, "dev"},
		{"wrong signature", req{ev: "push", auth: "bad"}, 401, ""},
		{"missing signature", req{ev: "push", auth: "none"}, 401, ""},
		{"oversize body", req{ev: "push", auth: "good", body: strings.Repeat("x", MaxWebhookBody+1)}, 413, ""},
		{"tag push", req{ev: "tag", auth: "good", body: "refs/tags/v1.0"}, 204, ""},
		{"other event", req{ev: "other", auth: "good"}, 204, ""},
		{"GET", req{method: "GET", ev: "push", auth: "good"}, 405, ""},
		{"disabled", req{ev: "push", auth: "good", secret: "-"}, 404, ""},
		{"not JSON", req{ev: "push", auth: "good", body: "{nope"}, 400, ""},
		{"branch with slash", req{ev: "push", auth: "good", body: "refs/heads/feature/x"}, 202, "feature/x"},
	}
	for _, p := range providers {
		for _, tc := range cases {
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				var got []Push
				secret := []byte(hookSecret)
				if tc.req.secret == "-" {
					secret = nil
				}
				h := p.new(secret, func(ps Push) int { got = append(got, ps); return 1 }, NewDeliveries(DeliveryWindow, MaxDeliveries))
				body := p.body("refs/heads/dev")
				switch {
				case strings.HasPrefix(tc.req.body, "refs/"):
					body = p.body(tc.req.body)
				case tc.req.body != "":
					body = tc.req.body
				}
				method := tc.req.method
				if method == "" {
					method = "POST"
				}
				r := httptest.NewRequest(method, "/hooks/"+p.name+tc.req.query, strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				p.event(r.Header, tc.req.ev)
				if tc.req.auth != "none" {
					p.auth(r.Header, body, tc.req.auth == "good")
				}
				if p.name == "generic" && tc.req.ev == "other" {
					return // the generic receiver has no event types
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != tc.wantCode {
					t.Errorf("status %d, want %d; body %s", w.Code, tc.wantCode, w.Body)
				}
				if tc.wantBranch == "" {
					if len(got) != 0 {
						t.Errorf("onPush called: %+v", got)
					}
					return
				}
				if len(got) != 1 || got[0].Branch != tc.wantBranch || got[0].Provider != p.name || got[0].Repo != p.repo {
					t.Errorf("onPush got %+v, want one push to %s from %s", got, tc.wantBranch, p.name)
				}
				if p.name != "generic" && got[0].After != "0123456789abcdef0123456789abcdef01234567" {
					t.Errorf("After = %q", got[0].After)
				}
			})
		}
	}
}

func TestWebhookPing(t *testing.T) {
	called := false
	h := GitHub([]byte(hookSecret), func(Push) int { called = true; return 1 }, nil)
	body := `{"zen":"Keep it logically awesome.","hook_id":1}`
	r := httptest.NewRequest("POST", "/hooks/github", strings.NewReader(body))
	r.Header.Set("X-GitHub-Event", "ping")
	r.Header.Set("X-Hub-Signature-256", "sha256="+sign(body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), "pong") || called {
		t.Errorf("ping: %d %s (onPush called: %v)", w.Code, w.Body, called)
	}
	// An unsigned ping is refused like anything unsigned.
	r = httptest.NewRequest("POST", "/hooks/github", strings.NewReader(body))
	r.Header.Set("X-GitHub-Event", "ping")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Errorf("unsigned ping: %d", w.Code)
	}
}

func TestWebhookForgejoHeaders(t *testing.T) {
	var got []Push
	h := Gitea([]byte(hookSecret), func(p Push) int { got = append(got, p); return 1 }, nil)
	body := `{"ref":"refs/heads/main","after":"abc","repository":{"full_name":"team/sites"}}`
	r := httptest.NewRequest("POST", "/hooks/gitea", strings.NewReader(body))
	r.Header.Set("X-Forgejo-Event", "push")
	r.Header.Set("X-Forgejo-Signature", sign(body))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 202 || len(got) != 1 || got[0].Branch != "main" {
		t.Errorf("forgejo push: %d %s, %+v", w.Code, w.Body, got)
	}
}

func TestWebhookGeneric(t *testing.T) {
	for _, tc := range []struct {
		name, query, body, header string
		wantCode                  int
		wantBranch                string
	}{
		{"query branch, X-Berth-Token", "?branch=staging", "", "X-Berth-Token", 202, "staging"},
		{"ref in JSON", "", `{"ref":"refs/heads/main"}`, "Authorization", 202, "main"},
		{"branch in JSON", "", `{"branch":"dev"}`, "Authorization", 202, "dev"},
		{"bare name as ref", "", `{"ref":"dev"}`, "Authorization", 202, "dev"},
		{"tag", "", `{"ref":"refs/tags/v1"}`, "Authorization", 204, ""},
		{"no branch", "", "", "Authorization", 400, ""},
		{"token in the wrong scheme", "?branch=main", "", "Basic", 401, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Push
			h := Generic([]byte(hookSecret), func(p Push) int { got = append(got, p); return 1 }, nil)
			r := httptest.NewRequest("POST", "/hooks/generic"+tc.query, strings.NewReader(tc.body))
			switch tc.header {
			case "X-Berth-Token":
				r.Header.Set("X-Berth-Token", hookSecret)
			case "Authorization":
				r.Header.Set("Authorization", "Bearer "+hookSecret)
			case "Basic":
				r.Header.Set("Authorization", "Basic "+hookSecret)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.wantCode {
				t.Errorf("status %d, want %d: %s", w.Code, tc.wantCode, w.Body)
			}
			if tc.wantBranch == "" && len(got) != 0 || tc.wantBranch != "" && (len(got) != 1 || got[0].Branch != tc.wantBranch) {
				t.Errorf("onPush got %+v, want %q", got, tc.wantBranch)
			}
		})
	}
}

func TestEqualSecret(t *testing.T) {
	if !equalSecret([]byte("a"), "a") || equalSecret([]byte("a"), "b") || equalSecret([]byte("a"), "") || equalSecret([]byte("a"), "aa") {
		t.Error("equalSecret")
	}
}

// deliveryHeader is where each provider puts its delivery ID.
var deliveryHeader = map[string]string{"github": "X-GitHub-Delivery", "gitlab": "X-Gitlab-Event-UUID", "gitea": "X-Gitea-Delivery", "generic": "X-Berth-Delivery"}

func TestWebhookReplay(t *testing.T) {
	type delivery struct {
		id, ref  string // ref "" is the provider's push to refs/heads/dev
		auth     string // good, bad
		wantCode int
		wantPush bool
	}
	cases := []struct {
		name       string
		deliveries []delivery
		signedOnly bool // only for providers that sign the body
	}{
		{"the same ID twice", []delivery{{"d-1", "", "good", 202, true}, {"d-1", "", "good", 200, false}}, false},
		{"the same ID with another body", []delivery{{"d-1", "", "good", 202, true}, {"d-1", "refs/heads/main", "good", 200, false}}, false},
		{"two IDs", []delivery{{"d-1", "", "good", 202, true}, {"d-2", "refs/heads/main", "good", 202, true}}, false},
		{"a refused delivery is not remembered", []delivery{{"d-1", "", "bad", 401, false}, {"d-1", "", "good", 202, true}, {"d-1", "", "good", 200, false}}, false},
		{"a failed delivery can be redelivered", []delivery{{"d-1", "{nope", "good", 400, false}, {"d-1", "", "good", 202, true}}, false},
		{"a signed body resent without an ID", []delivery{{"d-1", "", "good", 202, true}, {"", "", "good", 200, false}}, true},
		{"a signed body resent under a new ID", []delivery{{"d-1", "", "good", 202, true}, {"d-9", "", "good", 200, false}}, true},
	}
	for _, p := range providers {
		for _, tc := range cases {
			signed := p.name == "github" || p.name == "gitea"
			if tc.signedOnly && !signed {
				continue
			}
			t.Run(p.name+"/"+tc.name, func(t *testing.T) {
				var pushes int
				h := p.new([]byte(hookSecret), func(Push) int { pushes++; return 1 }, NewDeliveries(DeliveryWindow, MaxDeliveries))
				for i, d := range tc.deliveries {
					body := p.body("refs/heads/dev")
					switch {
					case strings.HasPrefix(d.ref, "refs/"):
						body = p.body(d.ref)
					case d.ref != "":
						body = d.ref
					}
					r := httptest.NewRequest("POST", "/hooks/"+p.name, strings.NewReader(body))
					r.Header.Set("Content-Type", "application/json")
					p.event(r.Header, "push")
					p.auth(r.Header, body, d.auth == "good")
					if d.id != "" {
						r.Header.Set(deliveryHeader[p.name], d.id)
					}
					before := pushes
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != d.wantCode || (pushes > before) != d.wantPush {
						t.Errorf("delivery %d (%s): status %d, pushed %v; want %d, %v: %s", i, d.id, w.Code, pushes > before, d.wantCode, d.wantPush, w.Body)
					}
				}
			})
		}
	}
}

func TestDeliveriesWindowAndBound(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	d := NewDeliveries(24*time.Hour, 3)
	d.now = func() time.Time { return now }
	steps := []struct {
		advance time.Duration
		key     string
		wantNew bool
	}{
		{0, "a", true},
		{time.Hour, "a", false},
		{23*time.Hour - time.Second, "a", false}, // still inside the window
		{time.Second, "a", true},                 // 24 h after it was first seen: forgotten, new again
		{0, "b", true},
		{0, "c", true},
		{0, "d", true}, // a fourth key: the oldest ("a") goes
		{0, "a", true},
		{0, "d", false},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := d.add([]string{s.key}); got != s.wantNew {
			t.Errorf("step %d: add(%q) new = %v, want %v", i, s.key, got, s.wantNew)
		}
	}
	if n := len(d.at); n > 3 {
		t.Errorf("%d deliveries remembered, bound is 3", n)
	}
	for i := range 100 {
		d.add([]string{fmt.Sprint("k", i)})
		d.forget([]string{fmt.Sprint("k", i)})
	}
	if len(d.order) > 6 || len(d.at) > 3 {
		t.Errorf("memory not bounded: %d in order, %d remembered", len(d.order), len(d.at))
	}
}

// GitHub's form-encoded content type carries the JSON in the payload
// field, under a signature of the whole form; a form without it is
// refused with the content type to choose. A push to a branch no
// environment follows is accepted and says so.
func TestWebhookFormEncodedAndUnfollowedBranch(t *testing.T) {
	payload := `{"ref":"refs/heads/feature","after":"abc","repository":{"full_name":"team/sites"}}`
	for _, tc := range []struct {
		name, body string
		follows    int
		wantCode   int
		wantBody   string
	}{
		{"form with payload", url.Values{"payload": {payload}}.Encode(), 2, 202, `"environments":2`},
		{"form, no environment follows", url.Values{"payload": {payload}}.Encode(), 0, 202, "no environment follows branch feature"},
		{"form without payload", "ref=refs%2Fheads%2Fmain", 1, 415, "choose the content type application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Push
			h := GitHub([]byte(hookSecret), func(p Push) int { got = append(got, p); return tc.follows }, nil)
			r := httptest.NewRequest("POST", "/hooks/github", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-GitHub-Event", "push")
			r.Header.Set("X-Hub-Signature-256", "sha256="+sign(tc.body))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.wantCode || !strings.Contains(w.Body.String(), tc.wantBody) {
				t.Errorf("%d %s, want %d and %q", w.Code, w.Body, tc.wantCode, tc.wantBody)
			}
			if tc.wantCode == 202 && (len(got) != 1 || got[0].Branch != "feature" || got[0].Repo != "team/sites") {
				t.Errorf("pushes %+v, want one to feature of team/sites", got)
			}
		})
	}
}
