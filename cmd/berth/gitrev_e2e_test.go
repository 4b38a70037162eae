package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/berthhq/berth/state"
)

// TestGitRepoEnvironmentBranch: --repo is a Git work tree with staging
// checked out (and an uncommitted edit). Before, plan and apply --env
// production read the work tree: staging's code planned and applied as
// production, silently, under one "dir:" revision.
func TestGitRepoEnvironmentBranch(t *testing.T) {
	f := newWebFixture(t, webKind{name: "nginx", http: "nginx"})
	g := &gitRepo{t: t, work: f.repo}
	g.git(f.repo, "init", "-q", "-b", "main")
	g.write("berth.yaml", "environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.example.com }\npolicy: { max_deletions: 1 }\n")
	g.write("code/index.html", "<h1>main code</h1>\n")
	g.git(f.repo, "add", "-A")
	g.git(f.repo, "commit", "-q", "-m", "main")
	g.git(f.repo, "checkout", "-q", "-b", "staging")
	g.write("code/index.html", "<h1>staging code</h1>\n")
	g.git(f.repo, "commit", "-q", "-am", "staging code")
	g.write("code/index.html", "<h1>uncommitted code</h1>\n")
	mainHead, stagingHead := g.git(f.repo, "rev-parse", "main"), g.git(f.repo, "rev-parse", "staging")

	serves := func(code string) {
		t.Helper()
		f.get("b.example.com", "/", func(r *http.Response, body string) bool {
			return r.StatusCode == 200 && r.Header.Get("X-Site") == "b" && strings.Contains(body, code+" code")
		})
	}
	lastRun := func() state.Run {
		t.Helper()
		st, err := state.Open(context.Background(), f.stateDir, state.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		runs, err := st.Runs(context.Background(), "production", 1)
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs: %v %v", runs, err)
		}
		return runs[0]
	}
	warning := "warning: commit " + stagingHead[:12] + " is not the head of branch main, which production follows (" + mainHead[:12] + ")"

	// plan names the commit it planned: main's head by default, silently;
	// staging's with --rev, with a warning naming both.
	code, out, errOut := f.berth("plan")
	if code != exitChanges || !strings.Contains(errOut, "production at commit "+mainHead[:12]+", the head of branch main") ||
		strings.Contains(errOut, "warning") || !strings.Contains(out, mainHead[:12]) {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = f.berth("plan", "--rev", "staging")
	if code != exitChanges || !strings.Contains(errOut, "production at commit "+stagingHead[:12]+" (--rev staging") ||
		!strings.Contains(errOut, warning) || !strings.Contains(out, stagingHead[:12]) {
		t.Fatalf("plan --rev staging: exit %d\n%s\n%s", code, out, errOut)
	}

	// apply converges main's head, whatever is checked out.
	f.mustApply()
	serves("main")
	if r := lastRun(); r.Revision != mainHead || r.Trigger != "cli" {
		t.Errorf("apply recorded revision %s trigger %q; want %s, cli", r.Revision, r.Trigger, mainHead)
	}

	// Another commit needs --allow-other-rev, and the run says so.
	code, out, errOut = f.berth("apply", "--auto-approve", "--rev", "staging")
	if code != exitUsage || !strings.Contains(errOut, "--allow-other-rev") {
		t.Fatalf("apply --rev staging: exit %d; want %d\n%s\n%s", code, exitUsage, out, errOut)
	}
	serves("main")
	code, out, errOut = f.berth("apply", "--auto-approve", "--rev", "staging", "--allow-other-rev")
	if code != exitOK || !strings.Contains(errOut, warning) {
		t.Fatalf("apply --rev staging --allow-other-rev: exit %d\n%s\n%s", code, out, errOut)
	}
	serves("staging")
	if r := lastRun(); r.Revision != stagingHead || r.Trigger != "cli --rev staging" {
		t.Errorf("apply --rev recorded revision %s trigger %q; want %s, cli --rev staging", r.Revision, r.Trigger, stagingHead)
	}

	// --rev naming the branch's head is no other commit; a plain apply
	// goes back to it.
	if code, out, errOut = f.berth("apply", "--auto-approve", "--rev", "main"); code != exitOK {
		t.Fatalf("apply --rev main: exit %d\n%s\n%s", code, out, errOut)
	}
	serves("main")
	if code, out, errOut = f.berth("plan"); code != exitOK {
		t.Fatalf("plan after apply: exit %d; want no changes\n%s\n%s", code, out, errOut)
	}
}

// TestRevUsage: --rev that cannot be honoured is a usage error.
func TestRevUsage(t *testing.T) {
	plain := writeRepo(t, map[string]string{"berth.yaml": "environments:\n  production: { branch: main }\n"})
	gitDir := writeRepo(t, map[string]string{"berth.yaml": "environments:\n  production: { branch: main }\n"})
	g := &gitRepo{t: t, work: gitDir}
	g.git(gitDir, "init", "-q", "-b", "main")
	g.git(gitDir, "add", "-A")
	g.git(gitDir, "commit", "-q", "-m", "main")
	for _, tc := range []struct {
		name, repo, rev, want string
	}{
		{"plain directory", plain, "main", "is a plain directory"},
		{"unknown commit", gitDir, "no-such-branch", "names no commit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			code := run([]string{"plan", "--env", "production", "--repo", tc.repo, "--state-dir", t.TempDir(), "--rev", tc.rev}, &out, &errOut)
			if code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d; want %d and %q\n%s", code, exitUsage, tc.want, errOut.String())
			}
		})
	}
}
