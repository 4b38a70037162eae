package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testenv"
)

// TestCloneSiteSanitized: a staging site cloned from a production site
// (real nginx, PHP-FPM, MariaDB) gets a fresh backup of its database and
// files, sanitized before it is served: every e-mail address in the
// clone is replaced, the production database is untouched (checksum
// before and after), the clone's files belong to its own user, and it
// serves its copy. A second clone whose platform asks for every table to
// be handled fails on the table its sanitize step does not mention, and
// its database is emptied again. Applying again changes nothing.
func TestCloneSiteSanitized(t *testing.T) {
	w := newPHPWeb(t)
	f := w.webFixture
	my := testenv.MariaDB(t)
	f.write("berth.yaml", "environments:\n  production: { branch: main }\n  staging: { branch: staging }\n"+
		"backups: { dir: "+filepath.Join(w.base, "backups")+" }\n")
	f.write("servers/web.yaml", w.webServer("")+fmt.Sprintf("---\nkind: Server\nname: mdb\naddress: local\nservices:\n  db: { type: mariadb, socket: %s }\n", my.Socket))
	app, err := os.ReadFile("testdata/dbapp/index.php")
	if err != nil {
		t.Fatal(err)
	}
	f.write("code/index.php", string(app))
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web]\n")
	f.write("platforms/strict.yaml", "kind: Platform\nname: strict\ntype: php\nsource: { path: code }\nservers: [web]\nenvironments: [staging]\n"+
		"sanitize: { sql: sanitize/users.sql, check_tables: true }\n")
	f.write("sanitize/users.sql", "-- e-mail addresses and password hashes of the users table\n"+
		"UPDATE users SET mail = CONCAT('user', id, '@example.invalid'), pass = '';\n")
	f.write("sites/shop.yaml", "kind: Site\nname: shop.example.com\nplatform: app\nenvironments: [production]\ndb: { server: mdb }\n")
	berthIn := func(env string, args ...string) (int, string, string) {
		t.Helper()
		args = append(append(args, "--env", env, "--repo", f.repo, "--state-dir", f.stateDir, "--no-color"), f.flags...)
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	if code, out, errOut := berthIn("production", "apply", "--auto-approve"); code != 0 {
		t.Fatalf("production apply: exit %d\n%s\n%s", code, out, errOut)
	}
	my.SQL(t, "CREATE TABLE shop_example_com.users (id INT PRIMARY KEY, mail VARCHAR(255), pass VARCHAR(255));"+
		"INSERT INTO shop_example_com.users VALUES (1, 'ann@customer.example', 'h1'), (2, 'bob@customer.example', 'h2'), (3, 'cy@customer.example', 'h3');")
	upload := filepath.Join(f.webRoot, "sites", "shop.example.com", "files", "upload.txt")
	if err := os.WriteFile(upload, []byte("uploaded in production\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checksum := func() string { return strings.TrimSpace(my.SQL(t, "CHECKSUM TABLE shop_example_com.users")) }
	before := checksum()

	f.write("sites/copy.yaml", "kind: Site\nname: copy.example.com\nplatform: app\nenvironments: [staging]\ndb: { server: mdb }\n"+
		"clone_from: shop.example.com\nfrom_env: production\nsanitize: { sql: sanitize/users.sql }\n")
	code, out, errOut := berthIn("staging", "plan")
	if code != 2 || !strings.Contains(out, "clone copy.example.com from production/shop.example.com: a fresh backup of it, restored here, then sanitized with sanitize/users.sql") {
		t.Fatalf("staging plan: exit %d, want the clone\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := berthIn("staging", "apply", "--auto-approve"); code != 0 {
		t.Fatalf("staging apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := strings.TrimSpace(my.SQL(t, "SELECT COUNT(*), SUM(mail LIKE '%@example.invalid'), SUM(pass = '') FROM copy_example_com.users")); got != "3\t3\t3" {
		t.Errorf("the clone's users (rows, sanitized mails, emptied hashes): %q, want 3 3 3", got)
	}
	if got := my.SQL(t, "SELECT mail FROM copy_example_com.users"); strings.Contains(got, "customer.example") {
		t.Errorf("a production address reached the clone: %q", got)
	}
	if got := checksum(); got != before {
		t.Errorf("the production table changed: %q, was %q", got, before)
	}
	copied := filepath.Join(f.webRoot, "sites", "copy.example.com", "files", "upload.txt")
	if data, err := os.ReadFile(copied); err != nil || string(data) != "uploaded in production\n" {
		t.Errorf("the clone's file: %q, %v", data, err)
	}
	f.get("copy.example.com", "/", func(r *http.Response, body string) bool {
		return r.StatusCode == 200 && strings.Contains(body, "driver=mysql rows=1")
	})
	if code, out, errOut := berthIn("staging", "apply", "--auto-approve"); code != 0 || !strings.Contains(out, "No changes") {
		t.Errorf("second staging apply: exit %d\n%s\n%s", code, out, errOut)
	}

	// A table the sanitize step does not mention fails the strict clone.
	my.SQL(t, "CREATE TABLE shop_example_com.api_keys (k VARCHAR(64)); INSERT INTO shop_example_com.api_keys VALUES ('secret-key');")
	f.write("sites/strict.yaml", "kind: Site\nname: strict.example.com\nplatform: strict\nenvironments: [staging]\ndb: { server: mdb }\n"+
		"clone_from: shop.example.com\nfrom_env: production\n")
	code, out, errOut = berthIn("staging", "apply", "--auto-approve")
	if code == 0 || !strings.Contains(out+errOut, "does not mention: [api_keys]") || !strings.Contains(out+errOut, "emptied again") {
		t.Fatalf("strict clone: exit %d, want the failure naming api_keys\n%s\n%s", code, out, errOut)
	}
	if got := strings.TrimSpace(my.SQL(t, "SHOW TABLES FROM strict_example_com")); got != "" {
		t.Errorf("the failed clone's database holds %q, want nothing", got)
	}
	if got := checksum(); got != before {
		t.Errorf("the production table changed: %q, was %q", got, before)
	}

	// berth sync-data copies production's data down again, sanitized.
	my.SQL(t, "INSERT INTO shop_example_com.users VALUES (4, 'dee@customer.example', 'h4');")
	before = checksum()
	code, out, errOut = berthIn("staging", "sync-data", "copy.example.com")
	if code != 0 || !strings.Contains(out, "Copied the data of production/shop.example.com into staging/copy.example.com, sanitized with sanitize/users.sql") {
		t.Fatalf("sync-data: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := strings.TrimSpace(my.SQL(t, "SELECT COUNT(*), SUM(mail LIKE '%@example.invalid') FROM copy_example_com.users")); got != "4\t4" {
		t.Errorf("the clone's users after sync-data (rows, sanitized mails): %q, want 4 4", got)
	}
	if got := checksum(); got != before {
		t.Errorf("sync-data changed the production table: %q, was %q", got, before)
	}
	// Never into production without --into-production.
	code, out, errOut = berthIn("production", "sync-data", "shop.example.com", "--from", "staging")
	if code == 0 || !strings.Contains(errOut, "never into production") {
		t.Errorf("sync-data into production: exit %d, want a refusal\n%s\n%s", code, out, errOut)
	}
	if got := checksum(); got != before {
		t.Errorf("the production table changed: %q, was %q", got, before)
	}
}
