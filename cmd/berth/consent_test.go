package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestDataConsentConfigBranch: in a Git repo, whether production gives
// its data to staging is read from berth.yaml on the config branch
// (--config-branch, main by default), never from another branch.
func TestDataConsentConfigBranch(t *testing.T) {
	g := &gitRepo{t: t, work: filepath.Join(t.TempDir(), "work")}
	g.write("berth.yaml", "environments:\n  production: { branch: main }\n  staging: { branch: staging }\n")
	g.git(filepath.Dir(g.work), "init", "-q", "-b", "main", g.work)
	g.git(g.work, "add", "-A")
	g.git(g.work, "commit", "-q", "-m", "main")
	g.git(g.work, "checkout", "-q", "-b", "config")
	g.write("berth.yaml", "environments:\n  production: { branch: main, data_to: [staging] }\n  staging: { branch: staging }\n")
	g.git(g.work, "commit", "-q", "-am", "config")
	l := &loaded{git: &gitPick{}}
	for _, tc := range []struct{ branch, wantErr string }{
		{branch: "", wantErr: "does not give its data to staging: add staging to environments.production.data_to in berth.yaml on branch main"},
		{branch: "main", wantErr: "on branch main"},
		{branch: "config"},
		{branch: "nope", wantErr: "berth.yaml on branch nope"},
	} {
		err := l.dataConsent(&envFlags{repo: g.work, configBranch: tc.branch})(context.Background(), "production", "staging")
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("--config-branch %q: %v, want %q", tc.branch, err, tc.wantErr)
		}
	}
}
