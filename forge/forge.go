package forge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/berthhq/berth/redact"
)

// Commit status states, as berth names them; each forge's API is sent its
// own word for them (GitLab: running, success, failed).
const (
	StatePending = "pending"
	StateSuccess = "success"
	StateFailure = "failure"
)

// Status is a commit status: Context names it ("berth/production"), so
// each environment has its own on a commit.
type Status struct {
	State       string
	Context     string
	Description string
	TargetURL   string
}

// Marker is the hidden marker of environment env's plan comment.
func Marker(env string) string { return "<!-- berth plan: " + env + " -->" }

// maxDescription is the longest status description Gitea and GitHub keep.
const maxDescription = 140

func description(s string) string {
	if len(s) > maxDescription {
		return s[:maxDescription-3] + "..."
	}
	return s
}

// repoRE is what owner/name may be (GitHub, Gitea).
var repoRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$`)

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

func checkStatus(sha string, st Status) error {
	if !shaRE.MatchString(sha) {
		return fmt.Errorf("commit status: %q is not a commit id", sha)
	}
	switch st.State {
	case StatePending, StateSuccess, StateFailure:
		return nil
	}
	return fmt.Errorf("commit status: state %q, want %s, %s or %s", st.State, StatePending, StateSuccess, StateFailure)
}

func checkComment(pr int, marker, body string) error {
	if pr <= 0 {
		return fmt.Errorf("pull request number %d", pr)
	}
	if !strings.Contains(body, marker) {
		return errors.New("the comment's body lacks its marker")
	}
	return nil
}

// api is what the three forges' clients share: the base URL, the token
// and how it is sent, and the reading of an answer.
type api struct {
	forge   string // Gitea, GitHub, GitLab: for messages
	base    *url.URL
	token   string
	client  *http.Client
	headers func(h http.Header) // authentication and the forge's own headers
	hint    func(code int) string
}

// newAPI checks baseURL and token; token is registered with redact.
func newAPI(forge, baseURL string, token []byte, client *http.Client) (*api, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("forge URL %q: want http(s)://HOST[:PORT][/PATH] with no credentials or query in it (the token comes from its file)", baseURL)
	}
	tok := string(bytes.TrimSpace(token))
	if tok == "" {
		return nil, fmt.Errorf("forge token: empty; give a %s access token that may write the repository's commit statuses and pull request comments", forge)
	}
	redact.Add(tok)
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return &api{forge: forge, base: u, token: tok, client: client}, nil
}

// url is the base URL followed by path, whose segments the caller has
// escaped.
func (a *api) url(path string) string { return a.base.String() + path }

// sameOrigin says whether u (a next-page link the forge answered) is on
// the forge's API: the token is never sent elsewhere.
func (a *api) sameOrigin(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Scheme == a.base.Scheme && p.Host == a.base.Host && strings.HasPrefix(p.Path, a.base.Path+"/")
}

// call sends one request to u and decodes the JSON answer into out; it
// returns the answer's headers (pagination).
func (a *api) call(ctx context.Context, method, u string, in, out any) (http.Header, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, a.errorf("%s %s: %w", method, u, err)
	}
	a.headers(req.Header)
	req.Header.Set("User-Agent", "berth")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, a.errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 != 2 {
		msg := answer(b)
		hint := a.hint(resp.StatusCode)
		if hint != "" {
			hint = "; " + hint
		}
		return nil, a.errorf("%s %s: %s answered %s: %s%s", method, u, a.forge, resp.Status, msg, hint)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return nil, a.errorf("%s %s: the answer is not what %s's API documents: %w", method, u, a.forge, err)
		}
	}
	return resp.Header, nil
}

// errorf is fmt.Errorf with the token (and every other registered secret)
// taken out of the message; the wrapped error stays reachable.
func (a *api) errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &redacted{msg: redact.String(strings.ReplaceAll(err.Error(), a.token, redact.Mark)), err: errors.Unwrap(err)}
}

type redacted struct {
	msg string
	err error
}

func (e *redacted) Error() string { return e.msg }
func (e *redacted) Unwrap() error { return e.err }

// answer is the message of an error answer: the "message" (GitHub,
// Gitea, GitLab) or "error" (GitLab) of a JSON body, else the body, cut
// short.
func answer(b []byte) string {
	var m struct {
		Message any    `json:"message"`
		Error   string `json:"error"`
		Errors  any    `json:"errors"`
	}
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &m) == nil {
		var parts []string
		if m.Message != nil {
			if s, ok := m.Message.(string); ok {
				parts = append(parts, s)
			} else if j, err := json.Marshal(m.Message); err == nil {
				parts = append(parts, string(j))
			}
		}
		if m.Error != "" {
			parts = append(parts, m.Error)
		}
		if m.Errors != nil {
			if j, err := json.Marshal(m.Errors); err == nil {
				parts = append(parts, string(j))
			}
		}
		if len(parts) > 0 {
			msg = strings.Join(parts, " ")
		}
	}
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	if msg == "" {
		msg = "(no message)"
	}
	return msg
}

// hints says what to do about an error answer, per status code; scope
// names the permissions the token needs on that forge.
func hints(repoFlag, scope string) func(int) string {
	return func(code int) string {
		switch code {
		case http.StatusUnauthorized:
			return "the token was refused: put a valid, unexpired token in --forge-token-file"
		case http.StatusForbidden:
			return "the token may not do this: it needs " + scope
		case http.StatusNotFound:
			return "check " + repoFlag + " and --forge-url, and that the token can see the repository (a private repository is \"not found\" to a token without access to it)"
		case http.StatusTooManyRequests:
			return "rate limited: berth tries again on the next run"
		}
		return ""
	}
}
