package reconcile_test

import (
	"go/build"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/berthhq/berth/"

// deps returns the berth packages pkg (relative to the module root)
// imports, transitively, from its non-test files.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		bp, err := build.ImportDir(filepath.Join("..", filepath.FromSlash(p)), 0)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, imp := range bp.Imports {
			if rel, ok := strings.CutPrefix(imp, module); ok && !seen[rel] {
				seen[rel] = true
				walk(rel)
			}
		}
	}
	walk(pkg)
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// TestLayering: imports run one way (design.md, Architecture). The engine
// reaches host and its leaves only; kinds never the state store, the
// builder or an operation; operations never the builder or render; the
// builder never the daemon or the CLI.
func TestLayering(t *testing.T) {
	for _, tc := range []struct {
		pkg    string
		forbid []string
	}{
		{"reconcile", []string{"spec", "render", "state", "desired", "kind", "backup", "daemon", "source", "cmd"}},
		{"kind/files", []string{"state", "desired", "backup", "daemon", "kind/release", "kind/database", "kind/install", "kind/dns"}},
		{"kind/release", []string{"state", "desired", "backup", "daemon", "kind/files", "kind/database", "kind/install", "kind/dns"}},
		{"kind/database", []string{"state", "desired", "backup", "daemon", "kind/files", "kind/release", "kind/install", "kind/dns"}},
		{"kind/install", []string{"state", "desired", "backup", "daemon", "kind/files", "kind/release", "kind/database", "kind/dns"}},
		{"kind/dns", []string{"state", "desired", "backup", "daemon", "kind/files", "kind/release", "kind/database", "kind/install"}},
		{"kind/certificate", []string{"state", "desired", "backup", "daemon", "acme", "kind/files", "kind/release", "kind/database", "kind/install", "kind/dns"}},
		{"backup", []string{"render", "desired", "daemon", "source", "cmd"}},
		{"desired", []string{"daemon", "source", "run", "cmd"}},
		{"run", []string{"daemon", "cmd"}},
		{"adopt", []string{"state", "desired", "backup", "daemon", "run", "source", "cmd"}},
	} {
		got := deps(t, tc.pkg)
		for _, d := range got {
			for _, f := range tc.forbid {
				if d == f || strings.HasPrefix(d, f+"/") {
					t.Errorf("%s imports %s (through %v); the layers allow it only the other way", tc.pkg, d, got)
				}
			}
		}
	}
}
