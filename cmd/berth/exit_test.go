package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
)

// TestExitStatusesDocumented: berth help and the README state the same
// table, built from the constants every command returns.
func TestExitStatusesDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != exitOK {
			t.Fatalf("berth %s: exit %d, want %d: %s", args[0], code, exitOK, &stderr)
		}
		// The rows are wrapped: compare words.
		words := " " + strings.Join(strings.Fields(stdout.String()), " ") + " "
		for _, s := range exitStatuses {
			if row := fmt.Sprintf(" %d %s ", s.code, s.meaning); !strings.Contains(words, row) {
				t.Errorf("berth %s lacks the exit status row %q:\n%s", args[0], row, &stdout)
			}
		}
		for _, c := range commands() {
			if !strings.Contains(stdout.String(), "  "+c.name+" ") {
				t.Errorf("berth %s lacks command %s:\n%s", args[0], c.name, &stdout)
			}
		}
	}
	for _, s := range exitStatuses {
		if row := fmt.Sprintf("| %d | %s |", s.code, s.meaning); !bytes.Contains(readme, []byte(row)) {
			t.Errorf("README.md lacks the exit status row %q", row)
		}
	}
	seen := map[int]bool{}
	for _, s := range exitStatuses {
		if seen[s.code] {
			t.Errorf("exit status %d has two meanings", s.code)
		}
		seen[s.code] = true
	}
}

// TestVerifyFindsSiteByAnyName: a site is found by its name in the repo
// and by each of its domains, with or without the environment's
// domain_suffix, in Unicode or punycode, in any case.
func TestVerifyFindsSiteByAnyName(t *testing.T) {
	dir := writeRepo(t, map[string]string{
		"berth.yaml":            "environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.example.net }\n",
		"servers/web.yaml":      "kind: Server\nname: web\naddress: local\nservices:\n  http: { type: nginx }\n",
		"platforms/static.yaml": "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [web]\n",
		"code/index.html":       "<h1>hello</h1>\n",
		"sites/a.yaml":          "kind: Site\nname: a.example.com\nplatform: static\naliases: [www.a.example.com, \"*.a.example.com\"]\n",
		"sites/b.yaml":          "kind: Site\nname: bücher.example.com\nplatform: static\naliases: [www.bücher.example.com]\n",
	})
	fsys, err := source.OpenDirFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer fsys.Close()
	repo, err := spec.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		env, name string
		want      string // the site's name in the repo; "" none
	}{
		{"production", "a.example.com", "a.example.com"},
		{"production", "www.a.example.com", "a.example.com"},
		{"production", "WWW.A.Example.COM", "a.example.com"},
		{"production", "www.a.example.com.", "a.example.com"},
		{"production", "*.a.example.com", "a.example.com"},
		{"production", "bücher.example.com", "bücher.example.com"},
		{"production", "xn--bcher-kva.example.com", "bücher.example.com"},
		{"production", "www.BÜCHER.example.com", "bücher.example.com"},
		{"production", "a.example.com.staging.example.net", ""},
		{"production", "x.a.example.com", ""}, // served by the wildcard, not a name
		{"production", "nope.example.com", ""},
		{"production", "", ""},
		{"staging", "a.example.com", "a.example.com"},
		{"staging", "a.example.com.staging.example.net", "a.example.com"},
		{"staging", "www.a.example.com", "a.example.com"},
		{"staging", "www.a.example.com.staging.example.net", "a.example.com"},
		{"staging", "bücher.example.com", "bücher.example.com"},
		{"staging", "www.bücher.example.com.staging.example.net", "bücher.example.com"},
		{"staging", "www.xn--bcher-kva.example.com.staging.example.net", "bücher.example.com"},
		{"staging", "nope.example.com.staging.example.net", ""},
	}
	for _, tt := range tests {
		t.Run(tt.env+"/"+tt.name, func(t *testing.T) {
			res, err := spec.Resolve(repo, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			s, err := findSite(res, tt.name)
			switch {
			case tt.want == "" && err == nil:
				t.Fatalf("found site %s, want none", s.Name)
			case tt.want == "":
				var stderr bytes.Buffer
				if code := exitFor(err, "verify", &stderr); code != exitUsage {
					t.Errorf("unknown site: exit %d, want %d: %s", code, exitUsage, &stderr)
				}
			case err != nil:
				t.Fatal(err)
			case s.Name != tt.want:
				t.Errorf("found %s, want %s", s.Name, tt.want)
			}
		})
	}
}

// TestExitCodes runs every command through its usage errors, errors,
// no-change and change cases, in order, against a real nginx.
func TestExitCodes(t *testing.T) {
	f := newWebFixture(t, webKind{name: "nginx", http: "nginx"})
	invalid := writeRepo(t, threeErrors)
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	repo := []string{"--repo", f.repo, "--state-dir", f.stateDir}
	env := append([]string{"--env", "production"}, repo...)
	bad := []string{"--env", "production", "--repo", invalid, "--state-dir", f.stateDir}
	with := func(cmd string, flags []string, args ...string) []string {
		return append(append([]string{cmd}, args...), flags...)
	}
	tests := []struct {
		name   string
		before func()
		args   []string
		code   int
		stderr string // a substring; "" checks nothing
	}{
		// berth itself
		{name: "no command", args: nil, code: exitUsage, stderr: "Exit status"},
		{name: "unknown command", args: []string{"paln"}, code: exitUsage, stderr: `unknown command "paln"`},
		{name: "help", args: []string{"help"}, code: exitOK},
		{name: "help of a command", args: []string{"help", "plan"}, code: exitOK},
		{name: "help of no command", args: []string{"help", "paln"}, code: exitUsage, stderr: `unknown command "paln"`},
		{name: "version", args: []string{"version"}, code: exitOK},
		{name: "version with an argument", args: []string{"version", "x"}, code: exitUsage},
		{name: "schema with an argument", args: []string{"schema", "x"}, code: exitUsage},
		{name: "schema", args: []string{"schema"}, code: exitOK},

		// validate
		{name: "validate valid", args: []string{"validate", f.repo}, code: exitOK},
		{name: "validate invalid", args: []string{"validate", invalid}, code: exitError},
		{name: "validate bad flag", args: []string{"validate", "--jsn", f.repo}, code: exitUsage},
		{name: "validate -h", args: []string{"validate", "-h"}, code: exitOK},

		// plan, before anything was applied
		{name: "plan without --env", args: with("plan", repo), code: exitUsage, stderr: "--env is required"},
		{name: "plan unknown environment", args: with("plan", []string{"--env", "prod", "--repo", f.repo, "--state-dir", f.stateDir}), code: exitUsage, stderr: `unknown environment "prod"`},
		{name: "plan bad flag", args: with("plan", env, "--jsn"), code: exitUsage},
		{name: "plan stray argument", args: with("plan", env, "production"), code: exitUsage, stderr: "takes no arguments"},
		{name: "plan repo not a directory", args: with("plan", []string{"--env", "production", "--repo", notDir, "--state-dir", f.stateDir}), code: exitUsage, stderr: "is not a directory"},
		{name: "plan invalid repo", args: with("plan", bad), code: exitError, stderr: "not valid"},
		{name: "plan -h", args: []string{"plan", "-h"}, code: exitOK},
		{name: "plan changes", args: with("plan", env), code: exitChanges},

		// apply refusals change nothing: the plan still has its changes
		{name: "apply off a terminal", args: with("apply", env), code: exitUsage, stderr: "--auto-approve"},
		{name: "apply without --env", args: with("apply", repo, "--auto-approve"), code: exitUsage},
		{name: "apply stray argument", args: with("apply", env, "--auto-approve", "now"), code: exitUsage},
		{name: "apply invalid repo", args: with("apply", bad, "--auto-approve"), code: exitError},
		{name: "plan still has changes", args: with("plan", env), code: exitChanges},
		{name: "apply changes", args: with("apply", env, "--auto-approve"), code: exitOK},
		{name: "plan no changes", args: with("plan", env), code: exitOK},
		{name: "apply no changes", args: with("apply", env, "--auto-approve"), code: exitOK},

		// verify
		{name: "verify no site", args: with("verify", env), code: exitUsage, stderr: "give one SITE"},
		{name: "verify two sites", args: with("verify", env, "a.example.com", "b.example.com"), code: exitUsage},
		{name: "verify unknown site", args: with("verify", env, "nope.example.com"), code: exitUsage, stderr: "has no site nope.example.com"},
		{name: "verify unknown environment", args: with("verify", []string{"--env", "prod", "--repo", f.repo, "--state-dir", f.stateDir}, "a.example.com"), code: exitUsage},
		{name: "verify invalid repo", args: with("verify", bad, "a.example.com"), code: exitError},
		{name: "verify by name", args: with("verify", env, "a.example.com"), code: exitOK},
		{name: "verify by alias", args: with("verify", env, "www.a.example.com"), code: exitOK},
		{name: "verify by alias in capitals", args: with("verify", env, "WWW.A.EXAMPLE.COM"), code: exitOK},

		// status
		{name: "status unknown environment", args: with("status", []string{"--env", "prod", "--repo", f.repo, "--state-dir", f.stateDir}), code: exitUsage},
		{name: "status stray argument", args: with("status", env, "production"), code: exitUsage},
		{name: "status invalid repo", args: with("status", bad), code: exitError},
		{name: "status", args: with("status", env), code: exitOK},

		// a change in the repo
		{name: "plan a change", before: func() { f.site("c", "X-Site: changed") }, args: with("plan", env), code: exitChanges},
		{name: "status out of sync", args: with("status", env), code: exitOK},
		{name: "apply the change", args: with("apply", env, "--auto-approve"), code: exitOK},
		{name: "plan after the change", args: with("plan", env), code: exitOK},

		// backup, backups, restore
		{name: "backup neither site nor --due", args: with("backup", env), code: exitUsage, stderr: "give one SITE, or --due"},
		{name: "backup unknown site", args: with("backup", env, "nope.example.com"), code: exitUsage, stderr: "has no site nope.example.com"},
		{name: "backup without --env", args: with("backup", repo, "a.example.com"), code: exitUsage},
		{name: "backup verify no site", args: with("backup", env, "verify"), code: exitUsage, stderr: "give one SITE and optionally a BACKUP ID"},
		{name: "backup verify unknown site", args: with("backup", env, "verify", "nope.example.com"), code: exitUsage, stderr: "has no site nope.example.com"},
		{name: "backup verify after the flags, unknown site", args: append(with("backup", env), "verify", "nope.example.com"), code: exitUsage, stderr: "has no site nope.example.com"},
		{name: "backups no site", args: with("backups", env), code: exitUsage},
		{name: "backups unknown site", args: with("backups", env, "nope.example.com"), code: exitUsage},
		{name: "restore without --backup", args: with("restore", env, "a.example.com"), code: exitUsage},
		{name: "restore unknown site", args: with("restore", env, "nope.example.com", "--backup", "20260101T000000Z"), code: exitUsage},

		// serve: only its refusals, which return before it serves
		{name: "serve stray argument", args: []string{"serve", "--state-dir", f.stateDir, "now"}, code: exitUsage},
		{name: "serve bad log level", args: []string{"serve", "--state-dir", f.stateDir, "--log-level", "loud"}, code: exitUsage},
		{name: "serve watch of a URL", args: []string{"serve", "--state-dir", f.stateDir, "--watch", "--repo", "https://example.com/sites.git"}, code: exitUsage, stderr: "--watch"},
		{name: "serve state directory is a file", args: []string{"serve", "--state-dir", notDir, "--repo", f.repo, "--log-format", "json"}, code: exitError},
	}
	for _, tt := range tests {
		if !t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("berth %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(tt.args, " "), code, tt.code, &stdout, &stderr)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, &stderr)
			}
		}) {
			// The cases build on each other: stop at the first failure.
			t.FailNow()
		}
	}
}
