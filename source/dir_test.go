package source

import (
	"context"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"berth.yaml": "a\n", "sites/a.yaml": "a\n", "scripts/x.sh*": "#!/bin/sh\n"})
	d := OpenDir(dir)
	var src Source = d
	if err := src.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	head := func() Revision {
		t.Helper()
		r, err := d.Head("main")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r0 := head()
	if len(r0.Hash) != 64 || r0.Time.IsZero() {
		t.Errorf("Head = %+v", r0)
	}
	if r, _ := d.Head("any-branch"); r.Hash != r0.Hash {
		t.Error("Head depends on the branch")
	}
	if head().Hash != r0.Hash {
		t.Error("Head of an unchanged directory changed")
	}

	// Temporary files and .git do not change the revision.
	writeFiles(t, dir, map[string]string{".berth.yaml.swp": "x", "sites/a.yaml~": "x", ".git/HEAD": "x"})
	if head().Hash != r0.Hash {
		t.Error("an editor temporary file changed the revision")
	}

	// Contents, names and modes do.
	seen := map[string]string{r0.Hash: "start"}
	for _, step := range []struct {
		name string
		do   func()
	}{
		{"edit", func() { writeFiles(t, dir, map[string]string{"sites/a.yaml": "b\n"}) }},
		{"rename", func() { os.Rename(filepath.Join(dir, "sites/a.yaml"), filepath.Join(dir, "sites/b.yaml")) }},
		{"chmod", func() { os.Chmod(filepath.Join(dir, "berth.yaml"), 0o755) }},
		{"new dir", func() { os.Mkdir(filepath.Join(dir, "platforms"), 0o755) }},
	} {
		step.do()
		h := head().Hash
		if prev, ok := seen[h]; ok {
			t.Errorf("after %s the revision is the one after %s", step.name, prev)
		}
		seen[h] = step.name
	}
	// Same contents again: same revision, whatever the modification times.
	os.Remove(filepath.Join(dir, "platforms"))
	os.Chmod(filepath.Join(dir, "berth.yaml"), 0o644)
	os.Rename(filepath.Join(dir, "sites/b.yaml"), filepath.Join(dir, "sites/a.yaml"))
	writeFiles(t, dir, map[string]string{"sites/a.yaml": "a\n"})
	if head().Hash != r0.Hash {
		t.Error("restoring the contents did not restore the revision")
	}

	fsys, err := d.FS(r0)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := fs.ReadFile(fsys, "sites/a.yaml"); err != nil || string(b) != "a\n" {
		t.Errorf("FS: %q, %v", b, err)
	}
	if fi, err := fs.Stat(fsys, "scripts/x.sh"); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("FS: exec bit: %v, %v", fi, err)
	}

	missing := OpenDir(filepath.Join(dir, "missing"))
	if _, err := missing.Head("main"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Head of a missing directory = %v", err)
	}
	if _, err := missing.FS(r0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("FS of a missing directory = %v", err)
	}
}

func TestOpen(t *testing.T) {
	f := newFixture(t)
	plain := t.TempDir()
	ctx := testCtx(t)
	if s, err := Open(ctx, plain, filepath.Join(t.TempDir(), "c1"), Auth{}); err != nil {
		t.Fatal(err)
	} else if _, ok := s.(*Dir); !ok {
		t.Errorf("Open(plain dir) = %T, want *Dir", s)
	}
	for _, loc := range []string{f.work, f.origin, "file://" + f.origin} {
		s, err := Open(ctx, loc, filepath.Join(t.TempDir(), "c"), Auth{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(*Git); !ok {
			t.Errorf("Open(%s) = %T, want *Git", loc, s)
		}
	}
}

// httpGit serves the repositories under root with git http-backend (smart
// HTTP, through net/http/cgi). When token is not empty, requests must carry
// it as the basic-auth password.
func httpGit(root string, token *string) http.Handler {
	backend := &cgi.Handler{
		Path: "/usr/bin/git", Args: []string{"http-backend"},
		Env: append(gitEnv(), "GIT_PROJECT_ROOT="+root, "GIT_HTTP_EXPORT_ALL=1"),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if *token != "" {
			if _, pw, ok := r.BasicAuth(); !ok || pw != *token {
				w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(w, "unauthorised", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, r)
	})
}

func TestGitHTTP(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	noToken := ""
	srv := httptest.NewServer(httpGit(filepath.Dir(f.origin), &noToken))
	defer srv.Close()
	g, err := OpenGit(ctx, srv.URL+"/"+filepath.Base(f.origin), filepath.Join(t.TempDir(), "clone"), Auth{})
	if err != nil {
		t.Fatal(err)
	}
	h := f.push(t, "dev", "dev: over http", map[string]string{"h.yaml": "h\n"})
	if err := g.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if rev, err := g.Head("dev"); err != nil || rev.Hash != h {
		t.Errorf("Head(dev) = %v, %v; want %s", rev.Hash, err, h)
	}
}

func TestGitHTTPSToken(t *testing.T) {
	f := newFixture(t)
	ctx := testCtx(t)
	token := "tok-1"
	srv := httptest.NewUnstartedServer(httpGit(filepath.Dir(f.origin), &token))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused certificate below
	srv.StartTLS()
	defer srv.Close()
	tmp := t.TempDir()
	ca := filepath.Join(tmp, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(tmp, "token")
	writeFiles(t, tmp, map[string]string{"token": "wrong\n"})
	url := srv.URL + "/" + filepath.Base(f.origin)

	// Without the CA, the server's certificate is refused.
	if _, err := OpenGit(ctx, url, filepath.Join(tmp, "c0"), Auth{TokenFile: tokenFile}); err == nil {
		t.Error("an untrusted certificate was accepted")
	}
	// A wrong token is refused with advice.
	_, err := OpenGit(ctx, url, filepath.Join(tmp, "c1"), Auth{TokenFile: tokenFile, CAFile: ca})
	if err == nil || !strings.Contains(err.Error(), "refused the credentials") {
		t.Fatalf("wrong token: %v", err)
	}
	t.Logf("wrong token: %v", err)

	writeFiles(t, tmp, map[string]string{"token": "tok-1\n"})
	g, err := OpenGit(ctx, url, filepath.Join(tmp, "c2"), Auth{TokenFile: tokenFile, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	// The token file is read at every Fetch: a rotated token is used.
	token = "tok-2"
	writeFiles(t, tmp, map[string]string{"token": "tok-2"})
	h := f.push(t, "main", "main: over https", map[string]string{"s.yaml": "s\n"})
	if err := g.Fetch(ctx); err != nil {
		t.Fatal(err)
	}
	if rev, err := g.Head("main"); err != nil || rev.Hash != h {
		t.Errorf("Head(main) = %v, %v; want %s", rev.Hash, err, h)
	}

	// From an environment variable.
	t.Setenv("BERTH_TEST_GIT_TOKEN", "tok-2")
	if _, err := OpenGit(ctx, url, filepath.Join(tmp, "c3"), Auth{TokenEnv: "BERTH_TEST_GIT_TOKEN", CAFile: ca}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BERTH_TEST_GIT_TOKEN", "")
	if _, err := OpenGit(ctx, url, filepath.Join(tmp, "c4"), Auth{TokenEnv: "BERTH_TEST_GIT_TOKEN", CAFile: ca}); err == nil || !strings.Contains(err.Error(), "BERTH_TEST_GIT_TOKEN") {
		t.Errorf("empty token variable: %v", err)
	}
}
