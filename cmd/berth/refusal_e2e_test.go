package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// phpFixture is a sites repo on one local server "web" running a real
// nginx and a real php-fpm: a php platform (testdata/dbapp, which answers
// with a row count from its SQLite database) and a static one.
type phpFixture struct {
	*phpWeb
	before map[string]bool // paths that existed before berth ran
}

func newPHPFixture(t *testing.T, maxDeletions int) *phpFixture {
	t.Helper()
	f := &phpFixture{phpWeb: newPHPWeb(t)}
	f.write("berth.yaml", fmt.Sprintf("environments:\n  production: { branch: main }\npolicy: { max_deletions: %d }\nbackups: { server: web, dir: %s }\n", maxDeletions, filepath.Join(f.base, "backups")))
	f.write("servers/web.yaml", f.webServer("  db: { type: sqlite }\n"))
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web]\n")
	f.write("platforms/static.yaml", "kind: Platform\nname: static\ntype: static\nsource: { path: static }\nservers: [web]\n")
	app, err := os.ReadFile("testdata/dbapp/index.php")
	if err != nil {
		t.Fatal(err)
	}
	f.write("code/index.php", string(app))
	f.write("static/index.html", "<h1>static platform</h1>\n")
	return f
}

// phpSite declares a php site with a SQLite database on web.
func (f *phpFixture) phpSite(name string, extra string) {
	f.write("sites/"+name+".yaml", fmt.Sprintf("kind: Site\nname: %s\nplatform: app\ndb: { server: web }\n%s", name, extra))
}

// staticSite declares a static site answering with header X-Site: name.
func (f *phpFixture) staticSite(name string) {
	f.write("sites/"+name+".yaml", fmt.Sprintf("kind: Site\nname: %s\nplatform: static\nweb:\n  headers:\n    X-Site: %s\n", name, name))
}

func (f *phpFixture) remove(name string) {
	if err := os.Remove(filepath.Join(f.repo, "sites", name+".yaml")); err != nil {
		f.t.Fatal(err)
	}
}

// refusedAlias is a name nginx -t refuses (longer than
// server_names_hash_bucket_size allows) and berth's validation accepts.
var refusedAlias = strings.Repeat("x", 60) + "." + strings.Repeat("y", 60) + "." + strings.Repeat("z", 60) + ".example.com"

// phpAnswers is a php site's answer from its own SQLite database.
func phpAnswers(name string) func(*http.Response, string) bool {
	return func(r *http.Response, body string) bool {
		return r.StatusCode == 200 && strings.Contains(body, "driver=sqlite") && strings.Contains(body, "domain="+name)
	}
}

// paths lists every path under the fixture's web root, vhost and pool
// directories.
func (f *phpFixture) paths() map[string]bool {
	out := map[string]bool{}
	for _, root := range []string{f.webRoot, f.confDir, f.phpRoot} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil {
				out[p] = true
			}
			return nil
		})
	}
	return out
}

// TestRefusedRunDeletesNothing: a revision removes a php site with a SQLite
// database and adds a site whose name nginx refuses. The refused run
// deletes nothing of the removed site (its database with its rows, its
// settings, its pool, its directory: it still answers), and the refused
// site leaves nothing behind. Once the name is fixed, the next run deletes
// the removed site (after its backup) and serves the new one.
func TestRefusedRunDeletesNothing(t *testing.T) {
	for _, tc := range []struct{ name, newSite string }{
		{"nginx", "aliases: [" + refusedAlias + "]\n"},
		// A name nginx refuses; a PHP version php-fpm refuses: php-fpm8.3
		// is not installed, so its check fails, and its pool and
		// run directories (php/8.3/...) must not stay behind.
		{"php", "php: '8.3'\n"},
	} {
		t.Run(tc.name, func(t *testing.T) { testRefusedRun(t, tc.newSite) })
	}
}

func testRefusedRun(t *testing.T, newSite string) {
	f := newPHPFixture(t, 1)
	f.phpSite("keep.example.com", "")
	f.phpSite("gone.example.com", "")
	f.mustApply()
	f.get("keep.example.com", "/", phpAnswers("keep.example.com"))
	f.get("gone.example.com", "/", phpAnswers("gone.example.com"))
	f.get("gone.example.com", "/", phpAnswers("gone.example.com")) // a second row

	goneDir := filepath.Join(f.webRoot, "sites", "gone.example.com")
	goneData := map[string][]byte{}
	filepath.WalkDir(goneDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			goneData[p], _ = os.ReadFile(p)
		}
		return nil
	})
	goneDB := ""
	for p := range goneData {
		if strings.HasSuffix(p, ".sqlite") || strings.Contains(p, "/db/") {
			goneDB = p
		}
	}
	if goneDB == "" || len(goneData[goneDB]) == 0 {
		t.Fatalf("no SQLite database with data among gone's files %v", goneData)
	}
	goneSettings := ""
	for p := range goneData {
		if strings.HasSuffix(p, "/.env") || strings.Contains(filepath.Base(p), "settings") {
			goneSettings = p
		}
	}
	if goneSettings == "" {
		t.Fatalf("no settings file among gone's files %v", goneData)
	}
	gonePool := filepath.Join(f.poolDir, "gone.example.com.conf")
	goneVhost := filepath.Join(f.confDir, "gone.example.com.conf")
	for _, p := range []string{gonePool, goneVhost} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("before the refused run: %v", err)
		}
	}
	before := f.paths()

	// The refused revision: gone removed, new added with a name nginx refuses.
	f.remove("gone.example.com")
	f.phpSite("new.example.com", newSite)
	code, out, errOut := f.berth("apply", "--auto-approve")
	if code != 1 || !strings.Contains(errOut, "configuration check failed") || !strings.Contains(errOut, "deletion(s) of data not run") {
		t.Fatalf("refused run: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "- site/gone.example.com/") || !strings.Contains(out, "+ site/new.example.com/") {
		t.Fatalf("the refused run's plan neither removes gone nor adds new:\n%s", out)
	}
	for p, data := range goneData {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("the refused run deleted %s: %v", p, err)
		} else if p == goneDB && len(got) < len(data) {
			t.Errorf("the refused run emptied the database %s", p)
		}
	}
	for _, p := range []string{gonePool, goneVhost, goneDir} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("the refused run deleted %s: %v", p, err)
		}
	}
	after := f.paths()
	for p := range after {
		if !before[p] && !strings.Contains(p, "gone.example.com") { // gone's app keeps writing its journal
			t.Errorf("the refused run left %s behind", p)
		}
	}
	for p := range before {
		if !after[p] {
			t.Errorf("the refused run removed %s", p)
		}
	}
	f.get("gone.example.com", "/", phpAnswers("gone.example.com"))
	f.get("keep.example.com", "/", phpAnswers("keep.example.com"))
	st, err := status(context.Background(), &envFlags{env: "production", repo: f.repo, stateDir: f.stateDir}, false, io.Discard)
	if err != nil || st.Sync != "OutOfSync" {
		t.Errorf("status after the refused run: %+v %v, want OutOfSync", st, err)
	}

	// The name fixed: gone goes (backup first), new answers.
	f.phpSite("new.example.com", "")
	out = f.mustApply()
	if !strings.Contains(out, "+ site/gone.example.com/backup@web") {
		t.Errorf("gone deleted without a backup step:\n%s", out)
	}
	for _, p := range []string{gonePool, goneVhost, goneDir} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("after the accepted run %s is still there: %v", p, err)
		}
	}
	f.get("new.example.com", "/", phpAnswers("new.example.com"))
	f.get("gone.example.com", "/", func(r *http.Response, body string) bool { return !strings.Contains(body, "driver=") })
	st, err = status(context.Background(), &envFlags{env: "production", repo: f.repo, stateDir: f.stateDir}, false, io.Discard)
	if err != nil || st.Sync != "Synced" {
		t.Errorf("status after the accepted run: %+v %v, want Synced", st, err)
	}
}
