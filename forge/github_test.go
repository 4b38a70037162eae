package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// GitHub's REST API description, as GitHub publishes it (through the
// npm package @octokit/openapi, which scripts/install-deps fetches into
// the cache).
const octokitOpenAPI = "23.0.2"

func githubDescription(t *testing.T) string {
	dir := os.Getenv("BERTH_NPM_CACHE")
	if dir == "" {
		dir = "/var/cache/berth/npm"
	}
	return filepath.Join(dir, "octokit-openapi-"+octokitOpenAPI, "generated", "api.github.com.json")
}

var githubOps struct {
	once sync.Once
	ops  []*operation
	err  error
}

// githubOperations reads the operations berth uses from GitHub's
// published OpenAPI description.
func githubOperations(t *testing.T) []*operation {
	t.Helper()
	githubOps.once.Do(func() {
		path := githubDescription(t)
		b, err := os.ReadFile(path)
		if err != nil {
			githubOps.err = fmt.Errorf("GitHub's OpenAPI description: %w; run scripts/install-deps, which fetches @octokit/openapi@%s from npm into the cache", err, octokitOpenAPI)
			return
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			githubOps.err = fmt.Errorf("%s: %w", path, err)
			return
		}
		o := openAPI{doc: doc}
		for _, w := range []struct{ method, path string }{
			{"POST", "/repos/{owner}/{repo}/statuses/{sha}"},
			{"GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments"},
			{"POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"},
			{"PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"},
		} {
			op, err := o.operation(w.method, w.path)
			if err != nil {
				githubOps.err = err
				return
			}
			githubOps.ops = append(githubOps.ops, op)
		}
	})
	if githubOps.err != nil {
		t.Fatal(githubOps.err)
	}
	return githubOps.ops
}

// openAPI reads operations out of an OpenAPI 3 document.
type openAPI struct{ doc map[string]any }

// resolve follows a local $ref.
func (o openAPI) resolve(v any) any {
	for i := 0; i < 20; i++ {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return v
		}
		var cur any = o.doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cm, _ := cur.(map[string]any)
			cur = cm[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]
		}
		v = cur
	}
	return v
}

func (o openAPI) obj(v any) map[string]any { m, _ := o.resolve(v).(map[string]any); return m }

func (o openAPI) field(schema any, required bool) field {
	s := o.obj(schema)
	f := field{required: required}
	f.typ, _ = s["type"].(string)
	f.nullable, _ = s["nullable"].(bool)
	for _, e := range asSlice(s["enum"]) {
		if str, ok := e.(string); ok {
			f.enum = append(f.enum, str)
		}
	}
	return f
}

func (o openAPI) object(schema any) *object {
	s := o.obj(schema)
	out := &object{props: map[string]field{}}
	req := map[string]bool{}
	for _, r := range asSlice(s["required"]) {
		req[r.(string)] = true
	}
	for name, p := range o.obj(s["properties"]) {
		out.props[name] = o.field(p, req[name])
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func (o openAPI) operation(method, path string) (*operation, error) {
	item := o.obj(o.obj(o.doc["paths"])[path])
	raw := o.obj(item[strings.ToLower(method)])
	if raw == nil {
		return nil, fmt.Errorf("GitHub's OpenAPI description has no %s %s", method, path)
	}
	op := &operation{method: method, template: path, pathParams: map[string]field{}, query: map[string]field{}}
	op.id, _ = raw["operationId"].(string)
	for _, p := range append(asSlice(item["parameters"]), asSlice(raw["parameters"])...) {
		pm := o.obj(p)
		name, _ := pm["name"].(string)
		req, _ := pm["required"].(bool)
		switch pm["in"] {
		case "path":
			op.pathParams[name] = o.field(pm["schema"], true)
		case "query":
			op.query[name] = o.field(pm["schema"], req)
		}
	}
	if rb := o.obj(raw["requestBody"]); rb != nil {
		op.body = o.object(o.obj(o.obj(rb["content"])["application/json"])["schema"])
	}
	var codes []int
	for k := range o.obj(raw["responses"]) {
		if n, err := strconv.Atoi(k); err == nil && n/100 == 2 {
			codes = append(codes, n)
		}
	}
	if len(codes) == 0 {
		return nil, fmt.Errorf("%s: no success answer documented", op.id)
	}
	sort.Ints(codes)
	op.status = codes[0]
	resp := o.obj(o.obj(raw["responses"])[strconv.Itoa(op.status)])
	_, op.linkHeader = o.obj(resp["headers"])["Link"]
	content := o.obj(o.obj(resp["content"])["application/json"])
	schema := o.obj(content["schema"])
	if schema["type"] == "array" {
		schema = o.obj(schema["items"])
	}
	op.answer = o.object(schema)
	op.example = o.obj(o.obj(o.obj(content["examples"])["default"]))["value"]
	if op.example == nil {
		return nil, fmt.Errorf("%s: no example answer documented", op.id)
	}
	return op, nil
}

const testToken = "ghp_berthTestToken0123456789"

// githubServer is a test server that checks every request against
// GitHub's description and keeps what the requests did: statuses and
// issue comments.
type githubServer struct {
	t        *testing.T
	srv      *httptest.Server
	chk      *checker
	mu       sync.Mutex
	statuses map[string][]map[string]any // by sha
	comments map[string][]comment        // by issue number
	nextID   int64
	gets     int
	bad      []string // requests that departed from the description
}

func newGitHubServer(t *testing.T) *githubServer {
	g := &githubServer{t: t, statuses: map[string][]map[string]any{}, comments: map[string][]comment{}, nextID: 1000}
	g.chk = &checker{ops: githubOperations(t), auth: func(h http.Header) error {
		if h.Get("Authorization") != "Bearer "+testToken {
			return fmt.Errorf("Authorization %q, want the token as Bearer", h.Get("Authorization"))
		}
		if h.Get("Accept") != "application/vnd.github+json" {
			return fmt.Errorf("Accept %q, GitHub documents application/vnd.github+json", h.Get("Accept"))
		}
		return nil
	}}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *githubServer) serve(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, err := g.chk.check(r)
	if err != nil {
		g.bad = append(g.bad, err.Error())
		w.WriteHeader(http.StatusUnprocessableEntity)
		json.NewEncoder(w).Encode(map[string]string{"message": "Validation Failed: " + err.Error()})
		return
	}
	switch c.op.id {
	case "repos/create-commit-status":
		g.nextID++
		g.statuses[c.params["sha"]] = append(g.statuses[c.params["sha"]], c.body)
		err = respond(w, c.op, map[string]any{"id": g.nextID, "state": c.body["state"], "context": c.body["context"],
			"description": c.body["description"], "target_url": c.body["target_url"]}, nil)
	case "issues/list-comments":
		g.gets++
		per, page := 30, 1
		if v := c.query.Get("per_page"); v != "" {
			per, _ = strconv.Atoi(v)
		}
		if v := c.query.Get("page"); v != "" {
			page, _ = strconv.Atoi(v)
		}
		all := g.comments[c.params["issue_number"]]
		from, to := min((page-1)*per, len(all)), min(page*per, len(all))
		items := []map[string]any{}
		for _, cm := range all[from:to] {
			items = append(items, map[string]any{"id": cm.ID, "body": cm.Body})
		}
		if to < len(all) && c.op.linkHeader {
			last := (len(all) + per - 1) / per
			u := g.srv.URL + r.URL.Path
			w.Header().Set("Link", fmt.Sprintf(`<%s?per_page=%d&page=%d>; rel="next", <%s?per_page=%d&page=%d>; rel="last"`, u, per, page+1, u, per, last))
		}
		err = respond(w, c.op, nil, items)
	case "issues/create-comment":
		g.nextID++
		n := c.params["issue_number"]
		g.comments[n] = append(g.comments[n], comment{ID: g.nextID, Body: c.body["body"].(string)})
		err = respond(w, c.op, map[string]any{"id": g.nextID, "body": c.body["body"]}, nil)
	case "issues/update-comment":
		id, _ := strconv.ParseInt(c.params["comment_id"], 10, 64)
		for n, cs := range g.comments {
			for i := range cs {
				if cs[i].ID == id {
					g.comments[n][i].Body = c.body["body"].(string)
					err = respond(w, c.op, map[string]any{"id": id, "body": c.body["body"]}, nil)
					if err != nil {
						g.t.Error(err)
					}
					return
				}
			}
		}
		w.WriteHeader(http.StatusNotFound)
		json.NewEncoder(w).Encode(map[string]string{"message": "Not Found"})
		return
	}
	if err != nil {
		g.t.Error(err)
	}
}

// TestGitHubRequestsMatchItsOpenAPI sends berth's GitHub requests to a
// server that checks each against GitHub's published OpenAPI description
// and answers with the documented example: commit statuses in every state,
// and the plan comment found on the third page of a long conversation and
// edited, or created once and edited after.
func TestGitHubRequestsMatchItsOpenAPI(t *testing.T) {
	g := newGitHubServer(t)
	gh, err := NewGitHub(g.srv.URL, "octo/sites", []byte(testToken+"\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sha := strings.Repeat("ab", 20)
	for _, st := range []Status{
		{State: StatePending, Context: "berth/production", Description: "berth is converging production"},
		{State: StateSuccess, Context: "berth/production", Description: strings.Repeat("long ", 40), TargetURL: "https://berth.example.com/ui/runs/7"},
		{State: StateFailure, Context: "berth/staging", Description: "not valid, nothing changed"},
	} {
		if err := gh.SetStatus(ctx, sha, st); err != nil {
			t.Fatalf("SetStatus %s: %v", st.State, err)
		}
	}

	// PR 7: 230 comments by others, berth's on page 3 (100 a page).
	marker := Marker("production")
	for i := 0; i < 230; i++ {
		body := fmt.Sprintf("comment %d", i)
		if i == 215 {
			body = marker + "\nold plan"
		}
		g.nextID++
		g.comments["7"] = append(g.comments["7"], comment{ID: g.nextID, Body: body})
	}
	created, err := gh.UpsertComment(ctx, 7, marker, marker+"\nnew plan")
	if err != nil || created {
		t.Fatalf("UpsertComment on PR 7: created %v, %v; want the third page's comment edited", created, err)
	}
	// PR 8: none yet; created, then edited.
	for i, want := range []bool{true, false} {
		created, err := gh.UpsertComment(ctx, 8, marker, fmt.Sprintf("%s\nplan %d", marker, i))
		if err != nil || created != want {
			t.Fatalf("UpsertComment %d on PR 8: created %v, %v; want created %v", i, created, err, want)
		}
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.bad) > 0 {
		t.Fatalf("requests that depart from GitHub's description:\n%s", strings.Join(g.bad, "\n"))
	}
	var states []string
	for _, s := range g.statuses[sha] {
		states = append(states, fmt.Sprintf("%s %s %v", s["context"], s["state"], s["target_url"]))
		if d, _ := s["description"].(string); len(d) > maxDescription {
			t.Errorf("a description of %d characters; GitHub keeps %d", len(d), maxDescription)
		}
	}
	if got, want := strings.Join(states, "; "), "berth/production pending <nil>; berth/production success https://berth.example.com/ui/runs/7; berth/staging failure <nil>"; got != want {
		t.Errorf("statuses: %s, want %s", got, want)
	}
	if g.gets != 5 { // PR 7: pages 1 to 3; PR 8: one page, twice
		t.Errorf("%d listings of comments, want 5", g.gets)
	}
	if len(g.comments["7"]) != 230 || g.comments["7"][215].Body != marker+"\nnew plan" {
		t.Errorf("PR 7: %d comments, berth's is %q", len(g.comments["7"]), g.comments["7"][215].Body)
	}
	if len(g.comments["8"]) != 1 || g.comments["8"][0].Body != marker+"\nplan 1" {
		t.Errorf("PR 8: %v, want one comment, edited", g.comments["8"])
	}
}

// TestGitHubChecker shows the checker refuses what GitHub's description
// does not allow, so a request that passed it is one GitHub documents.
func TestGitHubChecker(t *testing.T) {
	g := newGitHubServer(t)
	sha := strings.Repeat("ab", 20)
	for _, tc := range []struct {
		method, path, auth, body, want string
	}{
		{"POST", "/repos/o/r/statuses/" + sha, "Bearer " + testToken, `{"state":"running","context":"x"}`, `"running" is not one of`},
		{"POST", "/repos/o/r/statuses/" + sha, "Bearer " + testToken, `{"state":"success","name":"x"}`, "property name is not documented"},
		{"POST", "/repos/o/r/statuses/" + sha, "token " + testToken, `{"state":"success"}`, "want the token as Bearer"},
		{"POST", "/repos/o/r/issues/7/comments", "Bearer " + testToken, `{}`, "required property body missing"},
		{"PUT", "/repos/o/r/issues/comments/5", "Bearer " + testToken, `{"body":"x"}`, "documented for"},
		{"GET", "/repos/o/r/issues/7/comments?limit=5", "Bearer " + testToken, ``, "query parameter limit is not documented"},
		{"GET", "/repos/o/r/issues/seven/comments", "Bearer " + testToken, ``, "is not an integer"},
	} {
		r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		r.Header.Set("Authorization", tc.auth)
		r.Header.Set("Accept", "application/vnd.github+json")
		if tc.body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		if _, err := g.chk.check(r); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s %s: %v, want an error with %q", tc.method, tc.path, tc.body, err, tc.want)
		}
	}
}

// TestGitHubErrors: an error answer says what to do, never shows the
// token (even when the answer quotes it), and a next-page link off the
// API is not followed.
func TestGitHubErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		link   string
		want   string
	}{
		{"unknown repo", http.StatusNotFound, "", "check --forge-repo"},
		{"bad token", http.StatusUnauthorized, "", "put a valid, unexpired token in --forge-token-file"},
		{"no scope", http.StatusForbidden, "", `"Commit statuses: write"`},
		{"link elsewhere", http.StatusOK, `<https://elsewhere.example.com/repos/o/r/issues/7/comments?page=2>; rel="next"`, "not followed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.link != "" {
					w.Header().Set("Link", tc.link)
				}
				w.WriteHeader(tc.status)
				if tc.status != http.StatusOK {
					// GitHub's basic-error shape, quoting the token.
					json.NewEncoder(w).Encode(map[string]string{"message": "Bad credentials " + r.Header.Get("Authorization"), "documentation_url": "https://docs.github.com/rest"})
					return
				}
				w.Write([]byte("[]"))
			}))
			defer srv.Close()
			gh, err := NewGitHub(srv.URL, "o/r", []byte(testToken), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = gh.UpsertComment(context.Background(), 7, Marker("p"), Marker("p")+"\nplan")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("the token is in the error: %v", err)
			}
			var target *redacted
			if !errors.As(err, &target) && tc.link == "" {
				t.Errorf("%T: not the forge's redacted error", err)
			}
		})
	}
}
