package forge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// GitHubAPI is the address of github.com's REST API; GitHub Enterprise
// Server's is https://HOST/api/v3.
const GitHubAPI = "https://api.github.com"

// githubVersion is the REST API version berth's requests are written for.
const githubVersion = "2022-11-28"

// GitHub is a GitHub repository's REST API.
type GitHub struct {
	api   *api
	owner string
	repo  string
}

// NewGitHub returns the API of repository ownerRepo ("owner/name") at
// baseURL (GitHubAPI, or a GitHub Enterprise Server's /api/v3),
// authenticated by token (a fine-grained or classic personal access
// token, or an app's installation token), sent as a Bearer token.
func NewGitHub(baseURL, ownerRepo string, token []byte, client *http.Client) (*GitHub, error) {
	if !repoRE.MatchString(ownerRepo) {
		return nil, fmt.Errorf("forge repository %q: want OWNER/NAME", ownerRepo)
	}
	a, err := newAPI("GitHub", baseURL, token, client)
	if err != nil {
		return nil, err
	}
	a.headers = func(h http.Header) {
		h.Set("Authorization", "Bearer "+a.token)
		h.Set("Accept", "application/vnd.github+json")
		h.Set("X-GitHub-Api-Version", githubVersion)
	}
	a.hint = hints("--forge-repo (OWNER/NAME)", `the repository permissions "Commit statuses: write" and "Pull requests: write" (fine-grained token) or the repo scope (classic token)`)
	owner, repo, _ := strings.Cut(ownerRepo, "/")
	return &GitHub{api: a, owner: owner, repo: repo}, nil
}

func (g *GitHub) url(path string) string {
	return g.api.url(fmt.Sprintf("/repos/%s/%s%s", url.PathEscape(g.owner), url.PathEscape(g.repo), path))
}

// SetStatus sets the commit status st.Context of commit sha
// (POST /repos/{owner}/{repo}/statuses/{sha}).
func (g *GitHub) SetStatus(ctx context.Context, sha string, st Status) error {
	if err := checkStatus(sha, st); err != nil {
		return err
	}
	in := map[string]string{"state": st.State, "context": st.Context, "description": description(st.Description)}
	if st.TargetURL != "" {
		in["target_url"] = st.TargetURL
	}
	_, err := g.api.call(ctx, http.MethodPost, g.url("/statuses/"+sha), in, nil)
	return err
}

// UpsertComment makes pull request pr carry one comment holding marker:
// it edits the first such comment to body, or creates it; created says
// which. A pull request's conversation comments are its issue's comments
// (GET and POST /repos/{owner}/{repo}/issues/{n}/comments, PATCH
// /repos/{owner}/{repo}/issues/comments/{id}); the listing is read page
// by page, following the Link header's rel="next".
func (g *GitHub) UpsertComment(ctx context.Context, pr int, marker, body string) (created bool, err error) {
	if err := checkComment(pr, marker, body); err != nil {
		return false, err
	}
	list := g.url("/issues/" + strconv.Itoa(pr) + "/comments")
	for next := list + "?per_page=100"; next != ""; {
		var cs []comment
		h, err := g.api.call(ctx, http.MethodGet, next, nil, &cs)
		if err != nil {
			return false, err
		}
		for _, c := range cs {
			if strings.Contains(c.Body, marker) {
				_, err := g.api.call(ctx, http.MethodPatch, g.url("/issues/comments/"+strconv.FormatInt(c.ID, 10)), map[string]string{"body": body}, nil)
				return false, err
			}
		}
		next = nextLink(h.Values("Link"))
		if next != "" && !g.api.sameOrigin(next) {
			return false, fmt.Errorf("GitHub's next page of comments is at %s, not on its API at %s: not followed (the token goes nowhere else)", next, g.api.base)
		}
	}
	_, err = g.api.call(ctx, http.MethodPost, list, map[string]string{"body": body}, nil)
	return true, err
}

// nextLink is the rel="next" URL of Link headers (RFC 8288), or "".
func nextLink(links []string) string {
	for _, l := range links {
		for _, part := range strings.Split(l, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && slices.ContainsFunc(strings.Fields(strings.Trim(v, `"`)), func(r string) bool { return strings.EqualFold(r, "next") }) {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}
