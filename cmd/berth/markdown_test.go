package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMarkdownPlanOf10000Sites: berth plan --markdown of a first converge
// of 10,000 generated sites stays within a pull-request comment, and
// --out writes the whole plan.
func TestMarkdownPlanOf10000Sites(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	var out, errb bytes.Buffer
	if code := run([]string{"bench-gen", "--sites", "10000", "--out", repo}, &out, &errb); code != exitOK {
		t.Fatalf("bench-gen: %d\n%s", code, &errb)
	}
	full := filepath.Join(base, "plan.md")
	out.Reset()
	code := run([]string{"plan", "--env", "production", "--repo", repo, "--state-dir", filepath.Join(base, "state"), "--markdown", "--out", full}, &out, &errb)
	if code != exitChanges {
		t.Fatalf("plan: exit %d\n%s", code, &errb)
	}
	if n := out.Len(); n > 60000 {
		t.Errorf("--markdown of 10,000 new sites: %d characters, more than 60,000", n)
	}
	for _, want := range []string{"Plan: ", "#### Sites (10000)", "**Shortened**", "--out FILE"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the comment lacks %q", want)
		}
	}
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("site09999")) || bytes.Contains(data, []byte("**Shortened**")) {
		t.Errorf("--out's plan (%d bytes) lacks the last site or is shortened", len(data))
	}
}
