package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeRepo writes files into a new temp dir and returns it.
func writeRepo(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var threeErrors = map[string]string{
	"berth.yaml":        "environments:\n  production: { branch: main }\n",
	"servers/web1.yaml": "kind: Server\nname: web1\naddress: local\nservices:\n  http: { type: ngnix }\n  php: { type: php-fpm }\n",
	"platforms/p.yaml":  "kind: Platform\nname: drupal-10\ntype: drupal\nsource: { path: code }\nservers: [web1]\n",
	"sites/a.yaml":      "kind: Site\nname: a.example.com\nplatform: drupl-10\nalias: [www.a.example.com]\n",
	"code/index.php":    "<?php\n",
}

func TestValidate(t *testing.T) {
	bad := writeRepo(t, threeErrors)
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string // substrings
		stderr     []string
		wantStderr bool
	}{
		{
			name:   "example repo is valid",
			args:   []string{"validate", "../../examples/sites-repo"},
			code:   0,
			stdout: []string{"valid: 11 files, 3 servers, 3 platforms, 6 sites", "production   branch main"},
		},
		{
			name: "three errors, all printed",
			args: []string{"validate", bad},
			code: 1,
			stderr: []string{
				`servers/web1.yaml:5:17: server "web1": services.http.type: "ngnix" is not one of nginx, apache (did you mean "nginx"?)`,
				`sites/a.yaml:3:11: site "a.example.com": platform "drupl-10" does not exist (did you mean "drupal-10"?)`,
				`sites/a.yaml:4:1: site "a.example.com": unknown field "alias" (did you mean "aliases"?)`,
				": 3 problems",
			},
		},
		{
			name:   "json after the directory",
			args:   []string{"validate", bad, "--json"},
			code:   1,
			stdout: []string{`"valid": false`, `"file": "sites/a.yaml"`, `"line": 3`, `"column": 11`},
		},
		{name: "not a directory", args: []string{"validate", "/nonexistent/repo"}, code: exitUsage, stderr: []string{"is not a directory"}},
		{name: "two directories", args: []string{"validate", bad, bad}, code: exitUsage, stderr: []string{"want at most one directory"}},
		{name: "unknown flag", args: []string{"validate", "--jsn"}, code: exitUsage, stderr: []string{"flag provided but not defined: -jsn"}},
		{name: "unknown command", args: []string{"valdate"}, code: exitUsage, stderr: []string{`unknown command "valdate"`}},
		{name: "no command", args: nil, code: exitUsage, stderr: []string{"Usage: berth COMMAND"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, &stdout, &stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout lacks %q:\n%s", s, &stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr lacks %q:\n%s", s, &stderr)
				}
			}
		})
	}
}

func TestValidateJSONShape(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"validate", "--json", "../../examples/sites-repo"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, &stderr)
	}
	var out validateJSON
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, &stdout)
	}
	if !out.Valid || out.Sites != 6 || len(out.Environments) != 3 || out.Problems == nil {
		t.Errorf("unexpected result: %+v", out)
	}
}

func TestSchemaCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"schema"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, &stderr)
	}
	var v map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &v); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	if _, ok := v["$defs"].(map[string]any)["Site"]; !ok {
		t.Error("schema has no Site definition")
	}
}
