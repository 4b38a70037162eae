package desired

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
)

// TestPathCodeConfined: a platform whose source.path directory is a link
// out of the sites repo, or whose code holds a link out of it, is refused
// when the plan reads it and by spec.Load at the source.path position;
// nothing outside is hashed or exported.
func TestPathCodeConfined(t *testing.T) {
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	writeFiles(t, outside, map[string]string{"secret.txt": "secret\n"})
	platform := "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web1]\n"
	repoFiles := map[string]string{
		"berth.yaml":         "environments:\n  production: { branch: main }\n",
		"servers/web1.yaml":  "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: nginx }\n",
		"platforms/app.yaml": platform,
		"other/index.html":   "<p>in the repo, not in the code</p>\n",
	}
	tests := []struct {
		name  string
		setup func(repo string) error
		ok    bool
	}{
		{name: "a directory", setup: func(repo string) error { return os.MkdirAll(filepath.Join(repo, "code"), 0o755) }, ok: true},
		{name: "a link to a directory of the repo", setup: func(repo string) error { return os.Symlink("other", filepath.Join(repo, "code")) }, ok: true},
		{name: "a link out of the repo", setup: func(repo string) error { return os.Symlink(outside, filepath.Join(repo, "code")) }},
		{name: "a relative link out of the repo", setup: func(repo string) error { return os.Symlink("../outside", filepath.Join(repo, "code")) }},
		{name: "a link in the code to the repo", setup: func(repo string) error {
			if err := os.MkdirAll(filepath.Join(repo, "code"), 0o755); err != nil {
				return err
			}
			return os.Symlink("../berth.yaml", filepath.Join(repo, "code", "config"))
		}},
		{name: "a link in the code out of the repo", setup: func(repo string) error {
			if err := os.MkdirAll(filepath.Join(repo, "code"), 0o755); err != nil {
				return err
			}
			return os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(repo, "code", "secret"))
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := filepath.Join(base, "repo", string(rune('a'+i)))
			writeFiles(t, repo, repoFiles)
			if err := tt.setup(repo); err != nil {
				t.Fatal(err)
			}
			fsys, err := source.OpenDirFS(repo)
			if err != nil {
				t.Fatal(err)
			}
			defer fsys.Close()
			_, err = spec.Load(fsys)
			if err != nil && tt.ok {
				t.Fatalf("load: %v", err)
			}
			problems := loadProblems(err)
			_, codeErr := pathCode(fsys, spec.ResolvedPlatform{Name: "app", Source: spec.Source{Path: "code"}})
			if tt.ok {
				if len(problems) > 0 || codeErr != nil {
					t.Errorf("refused: %v; %v", problems, codeErr)
				}
				return
			}
			if len(problems) != 1 || problems[0].Pos != (spec.Pos{File: "platforms/app.yaml", Line: 4, Column: 17}) {
				t.Errorf("spec.Load problems = %v, want one problem at platforms/app.yaml:4:17", problems)
			}
			if codeErr == nil || strings.Contains(codeErr.Error(), "secret\n") {
				t.Errorf("pathCode = %v, want a refusal", codeErr)
			}
		})
	}
}

// loadProblems returns the problems of spec.Load's error.
func loadProblems(err error) spec.Problems {
	var problems spec.Problems
	errors.As(err, &problems)
	return problems
}
