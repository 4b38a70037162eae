package forge

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// GitLabAPI is the address of gitlab.com's REST API; a self-managed
// GitLab's is https://HOST/api/v4.
const GitLabAPI = "https://gitlab.com/api/v4"

// projectRE is a GitLab project's path: a namespace (group and
// subgroups, or a user) and the project's name.
var projectRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$`)

// GitLab is a GitLab project's REST API (v4).
type GitLab struct {
	api     *api
	project string // URL-escaped path: group%2Fproject
}

// NewGitLab returns the API of project path ("group/project",
// "group/subgroup/project") at baseURL (GitLabAPI, or a self-managed
// GitLab's /api/v4), authenticated by token (a personal, project or group
// access token with the api scope), sent as PRIVATE-TOKEN.
func NewGitLab(baseURL, path string, token []byte, client *http.Client) (*GitLab, error) {
	if len(path) > 1000 || !projectRE.MatchString(path) {
		return nil, fmt.Errorf("forge repository %q: want the project's path, GROUP/PROJECT (or GROUP/SUBGROUP/PROJECT)", path)
	}
	a, err := newAPI("GitLab", baseURL, token, client)
	if err != nil {
		return nil, err
	}
	a.headers = func(h http.Header) {
		h.Set("PRIVATE-TOKEN", a.token)
		h.Set("Accept", "application/json")
	}
	a.hint = hints("--forge-repo (GROUP/PROJECT)", "the api scope and at least the Developer role on the project")
	return &GitLab{api: a, project: url.PathEscape(path)}, nil
}

func (g *GitLab) url(path string) string {
	return g.api.url("/projects/" + g.project + path)
}

// gitlabState is GitLab's word for a berth state: a pending status is
// one berth is working on, "running" on GitLab.
var gitlabState = map[string]string{StatePending: "running", StateSuccess: "success", StateFailure: "failed"}

// SetStatus sets the commit status named st.Context of commit sha
// (POST /projects/{id}/statuses/{sha}).
func (g *GitLab) SetStatus(ctx context.Context, sha string, st Status) error {
	if err := checkStatus(sha, st); err != nil {
		return err
	}
	in := map[string]string{"state": gitlabState[st.State], "name": st.Context, "description": description(st.Description)}
	if st.TargetURL != "" {
		in["target_url"] = st.TargetURL
	}
	_, err := g.api.call(ctx, http.MethodPost, g.url("/statuses/"+sha), in, nil)
	return err
}

// note is a merge request note as GitLab answers it.
type note struct {
	ID     int64  `json:"id"`
	Body   string `json:"body"`
	System bool   `json:"system"`
}

// UpsertComment makes merge request iid carry one note holding marker:
// it edits the first such note to body, or creates it; created says
// which (GET and POST /projects/{id}/merge_requests/{iid}/notes, PUT
// .../notes/{note_id}). The listing is read page by page, following the
// X-Next-Page header.
func (g *GitLab) UpsertComment(ctx context.Context, iid int, marker, body string) (created bool, err error) {
	if err := checkComment(iid, marker, body); err != nil {
		return false, err
	}
	notes := g.url("/merge_requests/" + strconv.Itoa(iid) + "/notes")
	for page := "1"; page != ""; {
		var ns []note
		h, err := g.api.call(ctx, http.MethodGet, notes+"?sort=asc&order_by=created_at&per_page=100&page="+page, nil, &ns)
		if err != nil {
			return false, err
		}
		for _, n := range ns {
			if !n.System && strings.Contains(n.Body, marker) {
				_, err := g.api.call(ctx, http.MethodPut, notes+"/"+strconv.FormatInt(n.ID, 10), map[string]string{"body": body}, nil)
				return false, err
			}
		}
		next := strings.TrimSpace(h.Get("X-Next-Page"))
		if next == "" || next == page {
			break
		}
		if n, err := strconv.Atoi(next); err != nil || n <= 0 {
			return false, fmt.Errorf("GitLab's X-Next-Page %q is not a page number", next)
		}
		page = next
	}
	_, err = g.api.call(ctx, http.MethodPost, notes, map[string]string{"body": body}, nil)
	return true, err
}
