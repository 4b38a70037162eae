package source

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitConfig is the global configuration of the git CLI in tests; TestMain
// writes it. safe.directory lets root push into repositories owned by the
// ssh test user (git drops GIT_CONFIG_COUNT for the receive-pack it
// spawns, so it must be in a file).
var gitConfig string

func TestMain(m *testing.M) {
	d, err := os.MkdirTemp("", "berth-source-test-")
	if err != nil {
		panic(err)
	}
	gitConfig = filepath.Join(d, "gitconfig")
	conf := "[safe]\n\tdirectory = *\n[init]\n\tdefaultBranch = main\n[core]\n\tautocrlf = false\n"
	if err := os.WriteFile(gitConfig, []byte(conf), 0o644); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// gitEnv isolates the git CLI from the machine's configuration.
func gitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+gitConfig,
		"GIT_AUTHOR_NAME=Berth Test", "GIT_AUTHOR_EMAIL=test@berth.invalid",
		"GIT_COMMITTER_NAME=Berth Test", "GIT_COMMITTER_EMAIL=test@berth.invalid",
	)
}

// gitCmd runs git in dir and returns its trimmed standard output.
func gitCmd(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	out, err := gitRaw(dir, args...)
	if err != nil {
		tb.Fatalf("git %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

func gitRaw(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.String()...), err
	}
	return out, nil
}

// writeFiles writes name -> contents under dir; a name ending in "*" is
// made executable (the "*" is dropped); contents starting with "->" make a
// symbolic link to the rest.
func writeFiles(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, body := range files {
		mode := os.FileMode(0o644)
		if n, ok := strings.CutSuffix(name, "*"); ok {
			name, mode = n, 0o755
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if target, ok := strings.CutPrefix(body, "->"); ok {
			os.Remove(p)
			if err := os.Symlink(target, p); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			tb.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			tb.Fatal(err)
		}
	}
}

// commit writes files in the work tree dir, commits them all on the
// current branch and returns the new commit's hash.
func commit(tb testing.TB, dir, msg string, files map[string]string) string {
	tb.Helper()
	writeFiles(tb, dir, files)
	gitCmd(tb, dir, "add", "-A")
	gitCmd(tb, dir, "commit", "-q", "--allow-empty", "-m", msg)
	return gitCmd(tb, dir, "rev-parse", "HEAD")
}

// fixture is a work repository with branches main, dev and staging, and a
// bare copy of it, origin, that tests clone from and push to.
type fixture struct {
	work, origin string
	heads        map[string]string // branch -> commit
}

var baseFiles = map[string]string{
	"berth.yaml":                "environments:\n  production: { branch: main }\n",
	"servers/web1.yaml":         "kind: Server\nname: web1\naddress: local\n",
	"sites/example.com.yaml":    "kind: Site\nname: example.com\n",
	"sites/deep/nested/a.yaml":  "kind: Site\nname: a.example\n",
	"scripts/build.sh*":         "#!/bin/sh\necho build\n",
	"bin.dat":                   "\x00\x01\x02\xff binary \r\n",
	"link.yaml":                 "->berth.yaml",
	"sites/up.yaml":             "->../berth.yaml",
	"empty":                     "",
	"dir with space/é file.txt": "unicode\n",
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	root := tb.TempDir()
	f := &fixture{work: filepath.Join(root, "work"), origin: filepath.Join(root, "origin.git"), heads: map[string]string{}}
	if err := os.Mkdir(f.work, 0o755); err != nil {
		tb.Fatal(err)
	}
	gitCmd(tb, f.work, "init", "-q")
	f.heads["main"] = commit(tb, f.work, "main: first", baseFiles)
	gitCmd(tb, f.work, "checkout", "-q", "-b", "dev")
	f.heads["dev"] = commit(tb, f.work, "dev: add dev site", map[string]string{"sites/dev.example.yaml": "kind: Site\nname: dev.example\n"})
	gitCmd(tb, f.work, "checkout", "-q", "-b", "staging", "main")
	f.heads["staging"] = commit(tb, f.work, "staging: change server", map[string]string{"servers/web1.yaml": "kind: Server\nname: web1\naddress: 203.0.113.10\n"})
	gitCmd(tb, f.work, "checkout", "-q", "main")
	gitCmd(tb, root, "clone", "-q", "--bare", f.work, f.origin)
	gitCmd(tb, f.work, "remote", "add", "origin", f.origin)
	return f
}

// push commits files on branch in the work tree and pushes it to origin.
func (f *fixture) push(tb testing.TB, branch, msg string, files map[string]string) string {
	tb.Helper()
	gitCmd(tb, f.work, "checkout", "-q", branch)
	h := commit(tb, f.work, msg, files)
	gitCmd(tb, f.work, "push", "-q", "origin", branch)
	f.heads[branch] = h
	return h
}
