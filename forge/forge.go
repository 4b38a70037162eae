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
	"strconv"
	"strings"
	"time"
)

// Commit status states.
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

// Gitea is a Gitea or Forgejo repository's API.
type Gitea struct {
	base   string // https://git.example.com, no trailing slash
	owner  string
	repo   string
	token  string
	client *http.Client
}

// repoRE is what owner/name may be.
var repoRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$`)

// NewGitea returns the API of repository ownerRepo ("owner/name") on the
// Gitea or Forgejo at baseURL (http or https), authenticated by token.
func NewGitea(baseURL, ownerRepo string, token []byte, client *http.Client) (*Gitea, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("forge URL %q: want http(s)://HOST[:PORT][/PATH] with no credentials in it (the token comes from its file)", baseURL)
	}
	if !repoRE.MatchString(ownerRepo) {
		return nil, fmt.Errorf("forge repository %q: want OWNER/NAME", ownerRepo)
	}
	if len(bytes.TrimSpace(token)) == 0 {
		return nil, errors.New("forge token: empty; give an access token with write access to the repository's statuses and issues")
	}
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	owner, repo, _ := strings.Cut(ownerRepo, "/")
	return &Gitea{base: strings.TrimSuffix(u.String(), "/"), owner: owner, repo: repo, token: string(bytes.TrimSpace(token)), client: client}, nil
}

// call sends one request to the repository's API path (after
// /api/v1/repos/OWNER/REPO) and decodes the JSON answer into out.
func (g *Gitea) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := fmt.Sprintf("%s/api/v1/repos/%s/%s%s", g.base, url.PathEscape(g.owner), url.PathEscape(g.repo), path)
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "token "+g.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(b))
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return fmt.Errorf("%s %s: the forge answered %s: %s", method, u, resp.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, u, err)
		}
	}
	return nil
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}([0-9a-f]{24})?$`)

// SetStatus sets the commit status st.Context of commit sha.
func (g *Gitea) SetStatus(ctx context.Context, sha string, st Status) error {
	if !shaRE.MatchString(sha) {
		return fmt.Errorf("commit status: %q is not a commit id", sha)
	}
	desc := st.Description
	if len(desc) > 140 { // Gitea's and GitHub's limit
		desc = desc[:137] + "..."
	}
	return g.call(ctx, http.MethodPost, "/statuses/"+sha, map[string]string{
		"state": st.State, "context": st.Context, "description": desc, "target_url": st.TargetURL}, nil)
}

// comment is an issue comment as Gitea answers it.
type comment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
}

// UpsertComment makes pull request pr carry one comment holding marker
// (an HTML comment that does not show): it edits the first such comment
// to body, or creates it; created says which. body must contain marker.
func (g *Gitea) UpsertComment(ctx context.Context, pr int, marker, body string) (created bool, err error) {
	if pr <= 0 {
		return false, fmt.Errorf("pull request number %d", pr)
	}
	if !strings.Contains(body, marker) {
		return false, errors.New("the comment's body lacks its marker")
	}
	base := "/issues/" + strconv.Itoa(pr) + "/comments"
	var cs []comment // Gitea answers every comment of the issue at once
	if err := g.call(ctx, http.MethodGet, base, nil, &cs); err != nil {
		return false, err
	}
	for _, c := range cs {
		if strings.Contains(c.Body, marker) {
			return false, g.call(ctx, http.MethodPatch, "/issues/comments/"+strconv.FormatInt(c.ID, 10), map[string]string{"body": body}, nil)
		}
	}
	return true, g.call(ctx, http.MethodPost, base, map[string]string{"body": body}, nil)
}

// Marker is the hidden marker of environment env's plan comment.
func Marker(env string) string { return "<!-- berth plan: " + env + " -->" }
