package spec

import (
	"errors"
	"strings"
	"testing"
)

func TestLoadBackups(t *testing.T) {
	env := "environments:\n  production: { branch: main }\n"
	for _, tt := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown server", env + "backups: { server: bak1 }\n",
			[]string{`berth.yaml:3:20: backups.server: server "bak1" does not exist`}},
		{"relative dir on a remote server", env + "backups: { server: ns1, dir: backups }\n",
			[]string{`berth.yaml:3:30: backups.dir: "backups" must be absolute (relative paths are allowed on a local server only, under berth's state directory)`}},
		{"dir with ..", env + "backups:\n  dir: /var/../backups\n",
			[]string{`berth.yaml:4:8: backups.dir: "/var/../backups" is not a server path (it has a . or .. name); allowed: an absolute path (or, on a local server, a path relative to berth's state directory): names of letters, digits and . _ -, separated by single /; no . or .. names`}},
		{"unknown field", env + "backups: { keep: 3 }\n",
			[]string{`berth.yaml:3:12: backups: unknown field "keep"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(repoFS(map[string]string{"berth.yaml": tt.yaml}))
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("Load: got %v, want problems", err)
			}
			var got []string
			for _, p := range problems {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.want, "\n      "))
			}
		})
	}
	// A server that only stores backups needs no service.
	if _, err := Load(repoFS(map[string]string{"berth.yaml": env + "backups: { server: bak1, dir: /srv/backups }\n",
		"servers/bak1.yaml": "kind: Server\nname: bak1\naddress: 192.0.2.9\n"})); err != nil {
		t.Errorf("a backup-only server: %v", err)
	}
	r, err := Load(repoFS(map[string]string{"berth.yaml": env + "backups: { server: web1, dir: backups }\n"}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Resolve(r, "production")
	if err != nil {
		t.Fatal(err)
	}
	if res.Backups != (Backups{Server: "web1", Dir: "backups"}) {
		t.Errorf("resolved backups: %+v", res.Backups)
	}
}
