package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestLocal reads a work tree with staging checked out and an uncommitted
// edit, and a linked work tree of it, in place: branches, HEAD and
// commit-ishes resolve to commits whose trees come from the objects.
func TestLocal(t *testing.T) {
	base := t.TempDir()
	top := filepath.Join(base, "repo")
	os.MkdirAll(filepath.Join(top, "sub"), 0o755)
	gitCmd(t, top, "init", "-q", "-b", "main")
	write := func(dir, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "berth.yaml"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(top, "main\n")
	os.WriteFile(filepath.Join(top, "sub", "x"), []byte("x"), 0o644)
	gitCmd(t, top, "add", "-A")
	gitCmd(t, top, "commit", "-q", "-m", "main")
	gitCmd(t, top, "tag", "-a", "-m", "one", "v1")
	gitCmd(t, top, "checkout", "-q", "-b", "staging")
	write(top, "staging\n")
	gitCmd(t, top, "commit", "-q", "-am", "staging")
	write(top, "uncommitted\n")
	linked := filepath.Join(base, "linked")
	gitCmd(t, top, "worktree", "add", "-q", "-b", "feature", linked, "main")
	mainHead, stagingHead := gitCmd(t, top, "rev-parse", "main"), gitCmd(t, top, "rev-parse", "staging")

	if IsGitRepo(filepath.Join(top, "sub")) || !IsGitRepo(top) || !IsGitRepo(linked) {
		t.Fatalf("IsGitRepo: sub %v, top %v, linked %v; want false, true, true",
			IsGitRepo(filepath.Join(top, "sub")), IsGitRepo(top), IsGitRepo(linked))
	}
	for _, tc := range []struct {
		name, dir        string
		checkout, branch string // HEAD's commit and branch
	}{
		{"work tree", top, stagingHead, "staging"},
		{"linked work tree", linked, mainHead, "feature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := OpenLocal(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			rev, branch, err := l.Checkout()
			if err != nil || rev.Hash != tc.checkout || branch != tc.branch {
				t.Errorf("Checkout: %s %q %v; want %s %q", rev.Hash, branch, err, tc.checkout, tc.branch)
			}
			for _, r := range []struct{ name, want string }{
				{"main", mainHead}, {"staging", stagingHead}, {"v1", mainHead}, {"staging~1", mainHead}, {stagingHead[:10], stagingHead},
			} {
				if got, err := l.Resolve(r.name); err != nil || got.Hash != r.want {
					t.Errorf("Resolve(%s): %s %v; want %s", r.name, got.Hash, err, r.want)
				}
			}
			if _, err := l.Resolve("no-such"); err == nil {
				t.Error("Resolve(no-such): no error")
			}
			head, err := l.Branch("main")
			if err != nil || head.Hash != mainHead {
				t.Errorf("Branch(main): %s %v; want %s", head.Hash, err, mainHead)
			}
			if _, err := l.Branch("gone"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Branch(gone): %v; want fs.ErrNotExist", err)
			}
			// The committed file, not the work tree's edit.
			for hash, want := range map[string]string{mainHead: "main\n", stagingHead: "staging\n"} {
				fsys, err := l.FS(Revision{Hash: hash})
				if err != nil {
					t.Fatal(err)
				}
				if b, err := fs.ReadFile(fsys, "berth.yaml"); err != nil || string(b) != want {
					t.Errorf("berth.yaml at %s: %q %v; want %q", hash[:12], b, err, want)
				}
			}
		})
	}
}
