package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestForgeFlags: --forge picks the API (gitea when only --forge-url is
// given, as before), github and gitlab default to their public APIs, and
// what is missing or unknown is refused with what to give.
func TestForgeFlags(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("forge-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind, url, repo, token string
		want                   string // the API's type, or an error's text
	}{
		{"gitea", "https://git.example.com", "ops/sites", tok, "*forge.Gitea"},
		{"forgejo", "https://git.example.com", "ops/sites", tok, "*forge.Gitea"},
		{"github", "", "ops/sites", tok, "*forge.GitHub"},
		{"github", "https://ghe.example.com/api/v3", "ops/sites", tok, "*forge.GitHub"},
		{"gitlab", "", "agency/hosting/sites", tok, "*forge.GitLab"},
		{"gitlab", "https://gitlab.example.com/api/v4", "ops/sites", tok, "*forge.GitLab"},
		{"gitea", "", "ops/sites", tok, "needs --forge-url"},
		{"github", "", "ops/sites", "", "--forge-token-file"},
		{"github", "", "agency/hosting/sites", tok, "want OWNER/NAME"},
		{"bitbucket", "https://x.example.com", "ops/sites", tok, `--forge "bitbucket"`},
		{"github", "https://user:pw@ghe.example.com/api/v3", "ops/sites", tok, "no credentials"},
	} {
		f := forgeFlags{kind: tc.kind, url: tc.url, repo: tc.repo, tokenFile: tc.token}
		api, err := f.open()
		got := fmt.Sprintf("%T", api)
		if err != nil {
			got = err.Error()
		}
		if !strings.Contains(got, tc.want) {
			t.Errorf("--forge %s --forge-url %q --forge-repo %s: %s, want %s", tc.kind, tc.url, tc.repo, got, tc.want)
		}
	}
	if f := (forgeFlags{kind: "gitlab"}); f.request(4) != "merge request !4" {
		t.Errorf("GitLab's request: %s", f.request(4))
	}
}
