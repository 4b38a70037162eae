package source

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

func TestGitResolve(t *testing.T) {
	f := newFixture(t)
	gitCmd(t, f.work, "tag", "v1", f.heads["dev"])
	gitCmd(t, f.work, "tag", "-a", "-m", "release 2", "v2", f.heads["staging"])
	gitCmd(t, f.work, "push", "-q", "origin", "v1", "v2")
	g, err := OpenGit(testCtx(t), f.origin, filepath.Join(t.TempDir(), "clone"), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ref, want string }{
		{"", f.heads[gitCmd(t, f.work, "symbolic-ref", "--short", "HEAD")]},
		{"main", f.heads["main"]},
		{"refs/heads/dev", f.heads["dev"]},
		{f.heads["staging"], f.heads["staging"]},
		{"v1", f.heads["dev"]},
		{"refs/tags/v1", f.heads["dev"]},
		{"v2", f.heads["staging"]}, // annotated: peeled to its commit
	} {
		rev, err := g.Resolve(testCtx(t), tc.ref)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tc.ref, err)
			continue
		}
		if rev.Hash != tc.want {
			t.Errorf("Resolve(%q) = %s, want %s", tc.ref, rev.Hash, tc.want)
		}
		if _, err := g.FS(rev); err != nil {
			t.Errorf("FS of Resolve(%q): %v", tc.ref, err)
		}
	}
	for _, ref := range []string{"nope", "0123456789012345678901234567890123456789"} {
		_, err := g.Resolve(testCtx(t), ref)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Resolve(%q) = %v, want fs.ErrNotExist", ref, err)
		}
		t.Logf("Resolve(%q): %v", ref, err)
	}
}
