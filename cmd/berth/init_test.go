package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// berth init writes a repo that validates at once, refuses a directory
// that is not empty without --force, and berth plan on it says what to do
// next.
func TestInitWritesAValidRepo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sites")
	var out, errb bytes.Buffer
	if code := run([]string{"init", dir}, &out, &errb); code != exitOK {
		t.Fatalf("berth init: exit %d\n%s", code, &errb)
	}
	for _, f := range []string{"berth.yaml", "berth.schema.json", "README.md", "servers/local.yaml", "platforms/static.yaml", "platforms/php.yaml", "sites/www.example.com.yaml", "code/php/public/index.php"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("berth init did not write %s: %v", f, err)
		}
	}
	out.Reset()
	if code := run([]string{"validate", dir}, &out, &errb); code != exitOK {
		t.Fatalf("berth validate of the new repo: exit %d\n%s%s", code, &out, &errb)
	}
	if !strings.Contains(out.String(), "1 server, 2 platforms, 1 site") {
		t.Errorf("validate's summary = %q, want the counts in words (1 server, 2 platforms, 1 site)", out.String())
	}
	schema, err := os.ReadFile(filepath.Join(dir, "berth.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	run([]string{"schema"}, &out, &errb)
	if !bytes.Equal(schema, out.Bytes()) {
		t.Error("the new repo's berth.schema.json differs from berth schema's output")
	}

	errb.Reset()
	if code := run([]string{"init", dir}, &out, &errb); code != exitError || !strings.Contains(errb.String(), "not empty") {
		t.Errorf("berth init into the same directory: exit %d, %q; want %d and a refusal naming --force", code, &errb, exitError)
	}
	if code := run([]string{"init", "--force", dir}, &out, &errb); code != exitOK {
		t.Errorf("berth init --force: exit %d\n%s", code, &errb)
	}

	errb.Reset()
	out.Reset()
	code := run([]string{"plan", "--env", "production", "--repo", dir, "--state-dir", t.TempDir(), "--no-color"}, &out, &errb)
	if code != exitChanges {
		t.Fatalf("berth plan on the new repo: exit %d, want %d (changes)\n%s%s", code, exitChanges, &out, &errb)
	}
	for _, want := range []string{"Next: berth apply --env production --repo " + dir, "is not a Git repository"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("berth plan's next steps lack %q:\n%s", want, &errb)
		}
	}
}

// The bash completion script, sourced into a real bash, completes
// commands and a command's flags by asking berth itself.
func TestBashCompletion(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "berth")); err != nil {
		t.Fatal(err)
	}
	var script bytes.Buffer
	if code := run([]string{"completion", "bash"}, &script, &script); code != exitOK {
		t.Fatalf("berth completion bash: exit %d\n%s", code, &script)
	}
	for _, tc := range []struct {
		words string
		want  []string
	}{
		{`berth pl`, []string{"plan"}},
		{`berth plan --al`, []string{"--allow-deletions", "--allow-dns-changes"}},
		{`berth com`, []string{"completion"}},
	} {
		prog := script.String() + `
COMP_WORDS=(` + tc.words + `)
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_berth
printf '%s\n' "${COMPREPLY[@]}"
`
		cmd := exec.Command("bash", "--norc", "-c", prog)
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "BERTH_TEST_MAIN=1")
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: bash: %v\n%s", tc.words, err, got)
		}
		if g := strings.Fields(string(got)); strings.Join(g, " ") != strings.Join(tc.want, " ") {
			t.Errorf("completing %q = %q, want %q", tc.words, g, tc.want)
		}
	}
}
