package forge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Gitea is a Gitea or Forgejo repository's API (/api/v1).
type Gitea struct {
	api   *api
	owner string
	repo  string
}

// NewGitea returns the API of repository ownerRepo ("owner/name") on the
// Gitea or Forgejo at baseURL (http or https, e.g.
// https://git.example.com), authenticated by token.
func NewGitea(baseURL, ownerRepo string, token []byte, client *http.Client) (*Gitea, error) {
	if !repoRE.MatchString(ownerRepo) {
		return nil, fmt.Errorf("forge repository %q: want OWNER/NAME", ownerRepo)
	}
	a, err := newAPI("Gitea", baseURL, token, client)
	if err != nil {
		return nil, err
	}
	a.headers = func(h http.Header) {
		h.Set("Authorization", "token "+a.token)
		h.Set("Accept", "application/json")
	}
	a.hint = hints("--forge-repo (OWNER/NAME)", "the scopes write:repository and write:issue and write access to the repository")
	owner, repo, _ := strings.Cut(ownerRepo, "/")
	return &Gitea{api: a, owner: owner, repo: repo}, nil
}

// url is the repository API's path (after /api/v1/repos/OWNER/REPO).
func (g *Gitea) url(path string) string {
	return g.api.url(fmt.Sprintf("/api/v1/repos/%s/%s%s", url.PathEscape(g.owner), url.PathEscape(g.repo), path))
}

// SetStatus sets the commit status st.Context of commit sha.
func (g *Gitea) SetStatus(ctx context.Context, sha string, st Status) error {
	if err := checkStatus(sha, st); err != nil {
		return err
	}
	_, err := g.api.call(ctx, http.MethodPost, g.url("/statuses/"+sha), map[string]string{
		"state": st.State, "context": st.Context, "description": description(st.Description), "target_url": st.TargetURL}, nil)
	return err
}

// comment is an issue comment as Gitea and GitHub answer it.
type comment struct {
	ID   int64  `json:"id"`
	Body string `json:"body"`
}

// UpsertComment makes pull request pr carry one comment holding marker
// (an HTML comment that does not show): it edits the first such comment
// to body, or creates it; created says which. body must contain marker.
func (g *Gitea) UpsertComment(ctx context.Context, pr int, marker, body string) (created bool, err error) {
	if err := checkComment(pr, marker, body); err != nil {
		return false, err
	}
	base := "/issues/" + strconv.Itoa(pr) + "/comments"
	var cs []comment // Gitea answers every comment of the issue at once
	if _, err := g.api.call(ctx, http.MethodGet, g.url(base), nil, &cs); err != nil {
		return false, err
	}
	for _, c := range cs {
		if strings.Contains(c.Body, marker) {
			_, err := g.api.call(ctx, http.MethodPatch, g.url("/issues/comments/"+strconv.FormatInt(c.ID, 10)), map[string]string{"body": body}, nil)
			return false, err
		}
	}
	_, err = g.api.call(ctx, http.MethodPost, g.url(base), map[string]string{"body": body}, nil)
	return true, err
}
