package forge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// gitlabOperations are the GitLab REST API (v4) operations berth uses,
// with the attributes GitLab's API documentation lists for them
// (docs.gitlab.com/api/commits, "Set the pipeline status of a commit";
// docs.gitlab.com/api/notes, "Merge requests": list, create, modify) and
// the example answers shown there. GitLab publishes no OpenAPI
// description of these operations on a registry berth's CI can reach
// (npm has none), so this table, copied from the documentation, is what
// the requests are checked against.
func gitlabOperations() []*operation {
	str := field{typ: "string"}
	integer := field{typ: "integer"}
	mr := map[string]field{"id": {typ: "string", required: true}, "merge_request_iid": {typ: "integer", required: true}}
	noteID := map[string]field{"id": {typ: "string", required: true}, "merge_request_iid": {typ: "integer", required: true}, "note_id": {typ: "integer", required: true}}
	author := map[string]any{"id": 1, "username": "pipin", "name": "Pip", "state": "active", "avatar_url": "https://gitlab.example.com/uploads/user/avatar/1/pip.png", "web_url": "https://gitlab.example.com/pipin"}
	noteExample := map[string]any{"id": 302, "body": "closed", "attachment": nil, "author": author, "created_at": "2013-10-02T09:22:45Z",
		"updated_at": "2013-10-02T10:22:45Z", "system": false, "noteable_id": 377, "noteable_type": "MergeRequest", "noteable_iid": 377,
		"resolvable": false, "confidential": false, "internal": false}
	noteAnswer := &object{props: map[string]field{"id": {typ: "integer", required: true}, "body": {typ: "string", required: true},
		"attachment": {nullable: true}, "author": {typ: "object"}, "created_at": str, "updated_at": str, "system": {typ: "boolean", required: true},
		"noteable_id": integer, "noteable_type": str, "noteable_iid": integer, "resolvable": {typ: "boolean"}, "confidential": {typ: "boolean"}, "internal": {typ: "boolean"}}}
	return []*operation{{
		id: "commits/set-pipeline-status", method: "POST", template: "/projects/{id}/statuses/{sha}",
		pathParams: map[string]field{"id": {typ: "string", required: true}, "sha": {typ: "string", required: true}},
		query:      map[string]field{},
		body: &object{props: map[string]field{
			"state":       {typ: "string", required: true, enum: []string{"pending", "running", "success", "failed", "canceled", "skipped"}},
			"ref":         str,
			"name":        str,
			"context":     str,
			"target_url":  str,
			"description": str,
			"coverage":    {typ: "number"},
			"pipeline_id": integer,
		}},
		status: http.StatusCreated,
		example: map[string]any{"author": author, "name": "default", "sha": "18f3e63d05582537db6d183d9d557be09e1f90c8", "status": "success",
			"coverage": 100.0, "description": "the dude abides", "id": 93, "target_url": "https://gitlab.example.com/thedude/gitlab-foss/builds/91",
			"ref": nil, "started_at": nil, "created_at": "2016-01-19T09:05:50.355Z", "allow_failure": false, "finished_at": "2016-01-19T09:05:50.365Z"},
		answer: &object{props: map[string]field{"author": {typ: "object"}, "name": {typ: "string", required: true}, "sha": {typ: "string", required: true},
			"status":   {typ: "string", required: true, enum: []string{"pending", "running", "success", "failed", "canceled", "skipped"}},
			"coverage": {typ: "number", nullable: true}, "description": {typ: "string", nullable: true}, "id": {typ: "integer", required: true},
			"target_url": {typ: "string", nullable: true}, "ref": {typ: "string", nullable: true}, "started_at": {typ: "string", nullable: true},
			"created_at": str, "allow_failure": {typ: "boolean"}, "finished_at": {typ: "string", nullable: true}}},
	}, {
		id: "notes/list-merge-request-notes", method: "GET", template: "/projects/{id}/merge_requests/{merge_request_iid}/notes",
		pathParams: mr,
		query: map[string]field{"sort": {typ: "string", enum: []string{"asc", "desc"}}, "order_by": {typ: "string", enum: []string{"created_at", "updated_at"}},
			"page": integer, "per_page": integer},
		status: http.StatusOK, example: []any{noteExample}, answer: noteAnswer,
	}, {
		id: "notes/create-merge-request-note", method: "POST", template: "/projects/{id}/merge_requests/{merge_request_iid}/notes",
		pathParams: mr, query: map[string]field{},
		body:   &object{props: map[string]field{"body": {typ: "string", required: true}, "created_at": str, "internal": {typ: "boolean"}, "merge_request_diff_head_sha": str}},
		status: http.StatusCreated, example: noteExample, answer: noteAnswer,
	}, {
		id: "notes/modify-merge-request-note", method: "PUT", template: "/projects/{id}/merge_requests/{merge_request_iid}/notes/{note_id}",
		pathParams: noteID, query: map[string]field{},
		body:   &object{props: map[string]field{"body": {typ: "string", required: true}}},
		status: http.StatusOK, example: noteExample, answer: noteAnswer,
	}}
}

const gitlabToken = "glpat-berthTestToken0123456789"

// gitlabServer checks every request against gitlabOperations and keeps
// what they did: statuses and merge request notes.
type gitlabServer struct {
	t        *testing.T
	srv      *httptest.Server
	chk      *checker
	project  string
	mu       sync.Mutex
	statuses []map[string]any
	notes    map[string][]note // by merge request iid
	nextID   int64
	pages    []string // the pages of notes asked for
	bad      []string
}

func newGitLabServer(t *testing.T, project string) *gitlabServer {
	g := &gitlabServer{t: t, project: project, notes: map[string][]note{}, nextID: 500}
	g.chk = &checker{ops: gitlabOperations(), prefix: "/api/v4", auth: func(h http.Header) error {
		if h.Get("PRIVATE-TOKEN") != gitlabToken {
			return fmt.Errorf("PRIVATE-TOKEN %q, want the token", h.Get("PRIVATE-TOKEN"))
		}
		if h.Get("Authorization") != "" {
			return fmt.Errorf("an Authorization header besides PRIVATE-TOKEN")
		}
		return nil
	}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *gitlabServer) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, err := g.chk.check(r)
	if err == nil && c.params["id"] != g.project {
		err = fmt.Errorf("project id %q, want %q (its path, URL-escaped: %s)", c.params["id"], g.project, strings.ReplaceAll(g.project, "/", "%2F"))
	}
	if err == nil && strings.Contains(r.URL.EscapedPath(), "/projects/"+g.project+"/") {
		err = fmt.Errorf("the project path is not escaped in %s", r.URL.EscapedPath())
	}
	if err != nil {
		g.bad = append(g.bad, err.Error())
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	iid := c.params["merge_request_iid"]
	switch c.op.id {
	case "commits/set-pipeline-status":
		g.nextID++
		g.statuses = append(g.statuses, c.body)
		err = respond(w, c.op, map[string]any{"id": g.nextID, "sha": c.params["sha"], "status": c.body["state"], "name": c.body["name"],
			"description": c.body["description"], "target_url": c.body["target_url"]}, nil)
	case "notes/list-merge-request-notes":
		per, page := 20, 1
		if v := c.query.Get("per_page"); v != "" {
			per, _ = strconv.Atoi(v)
		}
		if v := c.query.Get("page"); v != "" {
			page, _ = strconv.Atoi(v)
		}
		g.pages = append(g.pages, iid+":"+strconv.Itoa(page))
		all := g.notes[iid]
		from, to := min((page-1)*per, len(all)), min(page*per, len(all))
		items := []map[string]any{}
		for _, n := range all[from:to] {
			items = append(items, map[string]any{"id": n.ID, "body": n.Body, "system": n.System})
		}
		w.Header().Set("X-Page", strconv.Itoa(page))
		w.Header().Set("X-Per-Page", strconv.Itoa(per))
		w.Header().Set("X-Next-Page", "")
		if to < len(all) {
			w.Header().Set("X-Next-Page", strconv.Itoa(page+1))
		}
		err = respond(w, c.op, nil, items)
	case "notes/create-merge-request-note":
		g.nextID++
		g.notes[iid] = append(g.notes[iid], note{ID: g.nextID, Body: c.body["body"].(string)})
		err = respond(w, c.op, map[string]any{"id": g.nextID, "body": c.body["body"]}, nil)
	case "notes/modify-merge-request-note":
		id, _ := strconv.ParseInt(c.params["note_id"], 10, 64)
		for i, n := range g.notes[iid] {
			if n.ID == id {
				g.notes[iid][i].Body = c.body["body"].(string)
				if err := respond(w, c.op, map[string]any{"id": id, "body": c.body["body"]}, nil); err != nil {
					g.t.Error(err)
				}
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"message": "404 Not found"})
		return
	}
	if err != nil {
		g.t.Error(err)
	}
}

// TestGitLabRequestsMatchItsDocumentation sends berth's GitLab requests
// to a server that checks each against the attributes GitLab's API
// documentation lists (gitlabOperations) and answers with the documented
// example: statuses in every state on a project of a subgroup, the plan
// note found on the third page (past a system note holding the marker)
// and edited, or created once and edited after.
func TestGitLabRequestsMatchItsDocumentation(t *testing.T) {
	const project = "agency/hosting/sites"
	g := newGitLabServer(t, project)
	gl, err := NewGitLab(g.srv.URL+"/api/v4/", project, []byte(gitlabToken), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sha := strings.Repeat("cd", 20)
	for _, st := range []Status{
		{State: StatePending, Context: "berth/production", Description: "berth is converging production"},
		{State: StateSuccess, Context: "berth/production", Description: "production converged", TargetURL: "https://berth.example.com/ui/runs/9"},
		{State: StateFailure, Context: "berth/staging", Description: "not valid"},
	} {
		if err := gl.SetStatus(ctx, sha, st); err != nil {
			t.Fatalf("SetStatus %s: %v", st.State, err)
		}
	}
	marker := Marker("production")
	for i := 0; i < 250; i++ {
		g.nextID++
		n := note{ID: g.nextID, Body: fmt.Sprintf("note %d", i)}
		switch i {
		case 3:
			n.Body, n.System = "mentioned in "+marker, true
		case 240:
			n.Body = marker + "\nold plan"
		}
		g.notes["4"] = append(g.notes["4"], n)
	}
	created, err := gl.UpsertComment(ctx, 4, marker, marker+"\nnew plan")
	if err != nil || created {
		t.Fatalf("UpsertComment on MR 4: created %v, %v; want the third page's note edited", created, err)
	}
	for i, want := range []bool{true, false} {
		created, err := gl.UpsertComment(ctx, 5, marker, fmt.Sprintf("%s\nplan %d", marker, i))
		if err != nil || created != want {
			t.Fatalf("UpsertComment %d on MR 5: created %v, %v; want created %v", i, created, err, want)
		}
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.bad) > 0 {
		t.Fatalf("requests that depart from GitLab's documentation:\n%s", strings.Join(g.bad, "\n"))
	}
	var states []string
	for _, s := range g.statuses {
		states = append(states, fmt.Sprintf("%s %s %v", s["name"], s["state"], s["target_url"]))
	}
	if got, want := strings.Join(states, "; "), "berth/production running <nil>; berth/production success https://berth.example.com/ui/runs/9; berth/staging failed <nil>"; got != want {
		t.Errorf("statuses: %s, want %s", got, want)
	}
	if got, want := strings.Join(g.pages, " "), "4:1 4:2 4:3 5:1 5:1"; got != want {
		t.Errorf("pages listed: %s, want %s", got, want)
	}
	if g.notes["4"][240].Body != marker+"\nnew plan" || g.notes["4"][3].Body != "mentioned in "+marker || len(g.notes["4"]) != 250 {
		t.Errorf("MR 4: berth's note %q, the system note %q, %d notes", g.notes["4"][240].Body, g.notes["4"][3].Body, len(g.notes["4"]))
	}
	if len(g.notes["5"]) != 1 || g.notes["5"][0].Body != marker+"\nplan 1" {
		t.Errorf("MR 5: %v, want one note, edited", g.notes["5"])
	}
}

// TestGitLabChecker shows the checker refuses what GitLab's
// documentation does not list.
func TestGitLabChecker(t *testing.T) {
	g := newGitLabServer(t, "g/p")
	sha := strings.Repeat("cd", 20)
	for _, tc := range []struct {
		method, path, body, want string
	}{
		{"POST", "/api/v4/projects/g%2Fp/statuses/" + sha, `{"state":"failure","name":"x"}`, `"failure" is not one of`},
		{"POST", "/api/v4/projects/g%2Fp/statuses/" + sha, `{"name":"x"}`, "required property state missing"},
		{"PATCH", "/api/v4/projects/g%2Fp/merge_requests/4/notes/9", `{"body":"x"}`, "documented for"},
		{"GET", "/api/v4/projects/g%2Fp/merge_requests/4/notes?limit=5", ``, "query parameter limit is not documented"},
		{"GET", "/api/v4/projects/g%2Fp/merge_requests/4/notes?sort=up", ``, `"up" is not one of`},
		{"GET", "/projects/g%2Fp/merge_requests/4/notes", ``, "not under the API's path"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		r.Header.Set("PRIVATE-TOKEN", gitlabToken)
		if tc.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if _, err := g.chk.check(r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s %s: %v, want an error with %q", tc.method, tc.path, tc.body, err, tc.want)
		}
	}
}

// TestGitLabErrors: an error answer says what to do and never shows the
// token.
func TestGitLabErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   string
	}{
		{http.StatusNotFound, "check --forge-repo (GROUP/PROJECT)"},
		{http.StatusUnauthorized, "--forge-token-file"},
		{http.StatusForbidden, "the api scope"},
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			json.NewEncoder(w).Encode(map[string]string{"message": "refused " + r.Header.Get("PRIVATE-TOKEN")})
		}))
		gl, err := NewGitLab(srv.URL+"/api/v4", "g/p", []byte(gitlabToken), nil)
		if err != nil {
			t.Fatal(err)
		}
		err = gl.SetStatus(context.Background(), strings.Repeat("cd", 20), Status{State: StateSuccess, Context: "berth/p"})
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), gitlabToken) {
			t.Errorf("%d: %v, want an error with %q and without the token", tc.status, err, tc.want)
		}
	}
	for _, bad := range []string{"sites", "/g/p", "g//p", "g/p/", "g/p?x=1"} {
		if _, err := NewGitLab(GitLabAPI, bad, []byte(gitlabToken), nil); err == nil {
			t.Errorf("project %q accepted", bad)
		}
	}
}
