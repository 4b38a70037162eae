package spec

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestFilesProblems(t *testing.T) {
	platform := func(files string) map[string]string {
		return map[string]string{"platforms/app.yaml": "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web2, web3]\nfiles: " + files + "\n"}
	}
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "shared without a path",
			files: platform("{ mode: shared }"),
			want:  []string{`platforms/app.yaml:6:1: platform "app": files mode shared needs path: the directory mounted on every server of the platform`},
		},
		{
			name:  "sync without a primary",
			files: platform("{ mode: sync }"),
			want:  []string{`platforms/app.yaml:6:1: platform "app": files mode sync needs primary: the server whose files are copied to the others`},
		},
		{
			name:  "a primary that is not a server of the platform",
			files: platform("{ mode: sync, primary: web4 }"),
			want:  []string{`platforms/app.yaml:6:31: platform "app": server "web4" is not one of the platform's servers (did you mean "web2"?)`},
		},
		{
			name:  "a path in sync mode",
			files: platform("{ mode: sync, primary: web2, path: /srv/shared }"),
			want:  []string{`platforms/app.yaml:6:37: platform "app": path is for files mode shared; in sync mode each server keeps the site's files in its own site directory`},
		},
		{
			name:  "a primary in shared mode",
			files: platform("{ mode: shared, path: /srv/shared, primary: web2 }"),
			want:  []string{`platforms/app.yaml:6:43: platform "app": primary is for files mode sync; shared files are the same on every server`},
		},
		{
			name:  "a relative shared path",
			files: platform("{ mode: shared, path: srv/shared }"),
			want:  []string{`platforms/app.yaml:6:30: platform "app": files.path: "srv/shared" is not an absolute path; allowed: a path starting with /: names of letters, digits and . _ -, separated by single /; no . or .. names`},
		},
		{
			name:  "a shared path that climbs",
			files: platform("{ mode: shared, path: /srv/../etc }"),
			want:  []string{`platforms/app.yaml:6:30: platform "app": files.path: "/srv/../etc" is not an absolute path (it has a . or .. name); allowed: a path starting with /: names of letters, digits and . _ -, separated by single /; no . or .. names`},
		},
		{
			name:  "a transport in shared mode",
			files: platform("{ mode: shared, path: /srv/shared, transport: rsync }"),
			want:  []string{`platforms/app.yaml:6:43: platform "app": transport is for files mode sync; shared files are not copied`},
		},
		{
			name:  "an unknown mode",
			files: platform("{ mode: nfs, path: /srv/shared }"),
			want:  []string{`platforms/app.yaml:6:16: platform "app": files.mode: "nfs" is not one of shared, sync`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(repoFS(lbFiles(tt.files)))
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("Load: got %v, want problems", err)
			}
			var got []string
			for _, p := range problems {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.want, "\n      "))
			}
		})
	}
}

// A platform's files resolve onto the platform and each of its sites:
// shared mode's primary is the platform's first server in the
// environment, sync mode's the one named; none stays nil.
func TestResolveFiles(t *testing.T) {
	tests := []struct {
		name  string
		files string
		want  *ResolvedFiles
	}{
		{name: "none", want: nil},
		{name: "shared", files: "files: { mode: shared, path: /srv/shared }\n", want: &ResolvedFiles{Mode: FilesShared, Path: "/srv/shared", Primary: "web2"}},
		{name: "sync", files: "files: { mode: sync, primary: web3 }\n", want: &ResolvedFiles{Mode: FilesSync, Primary: "web3", Transport: FilesTar}},
		{name: "sync over rsync", files: "files: { mode: sync, primary: web3, transport: rsync }\n", want: &ResolvedFiles{Mode: FilesSync, Primary: "web3", Transport: FilesRsync}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Load(repoFS(lbFiles(map[string]string{"platforms/app.yaml": "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web2, web3]\n" + tt.files})))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Resolve(r, "production")
			if err != nil {
				t.Fatal(err)
			}
			var got []*ResolvedFiles
			for _, p := range res.Platforms {
				if p.Name == "app" {
					got = append(got, p.Files)
				}
			}
			for _, s := range res.Sites {
				if s.Platform == "app" {
					got = append(got, s.Files)
				}
			}
			if len(got) != 2 {
				t.Fatalf("platform app and site b.example.com not found in %d platforms, %d sites", len(res.Platforms), len(res.Sites))
			}
			for _, got := range got {
				if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
					t.Errorf("files resolved to %+v, want %+v", got, tt.want)
				}
			}
		})
	}
}
