package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/state"
)

// TestCloneSiteSanitized: a staging site cloned from a production site
// (real nginx, PHP-FPM, MariaDB) gets a fresh backup of its database and
// files, sanitized before it is served: every e-mail address in the
// clone is replaced, the production database is untouched (checksum
// before and after), the clone's files belong to its own user, and it
// serves its copy. A second clone whose platform asks for every table to
// be handled fails on the table its sanitize step does not mention, and
// its database is emptied again. Applying again changes nothing. berth
// sync-data copies the data down again; staging's data_from (the
// clone's own, in staging's override of it) then does it on berth
// serve's scheduled pass, once per its schedule.
func TestCloneSiteSanitized(t *testing.T) {
	w := newPHPWeb(t)
	f := w.webFixture
	my := testenv.MariaDB(t)
	f.write("berth.yaml", "environments:\n  production: { branch: main, data_to: [staging] }\n  staging: { branch: staging }\n"+
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
	// A clone whose sanitize step is a command of its code (drush
	// sql:sanitize, say): run as its user against its own database.
	f.write("code/sanitize.php", "<?php\n$env = [];\nforeach (file(getenv('BERTH_SETTINGS'), FILE_IGNORE_NEW_LINES) as $l) {\n"+
		"    if (preg_match(\"/^([A-Z_]+)='(.*)'$/\", $l, $m)) { $env[$m[1]] = $m[2]; }\n}\n"+
		"$db = new PDO(\"mysql:unix_socket={$env['DB_SOCKET']};dbname={$env['DB_NAME']}\", $env['DB_USER'], $env['DB_PASSWORD']);\n"+
		"$n = $db->exec(\"UPDATE users SET mail = CONCAT('cmd', id, '@example.invalid'), pass = ''\");\necho \"sanitized $n users\\n\";\n")
	f.write("sites/cmd.yaml", "kind: Site\nname: cmd.example.com\nplatform: app\nenvironments: [staging]\ndb: { server: mdb }\n"+
		"clone_from: shop.example.com\nfrom_env: production\nsanitize: { command: [php, sanitize.php] }\n")
	code, out, errOut := berthIn("staging", "plan")
	if code != 2 || !strings.Contains(out, "clone copy.example.com from production/shop.example.com: a fresh backup of it, restored here, then sanitized with sanitize/users.sql") {
		t.Fatalf("staging plan: exit %d, want the clone\n%s\n%s", code, out, errOut)
	}
	// Production's data goes only where berth.yaml (here the plain
	// directory's one) lets it: without data_to the clone reads nothing.
	consent := "environments:\n  production: { branch: main, data_to: [staging] }\n  staging: { branch: staging }\n" +
		"backups: { dir: " + filepath.Join(w.base, "backups") + " }\n"
	f.write("berth.yaml", strings.Replace(consent, ", data_to: [staging]", "", 1))
	if code, out, errOut := berthIn("staging", "apply", "--auto-approve"); code == 0 || !strings.Contains(out+errOut, "environment production does not give its data to staging") {
		t.Fatalf("staging apply without production's data_to: exit %d, want the clone refused\n%s\n%s", code, out, errOut)
	}
	if got := strings.TrimSpace(my.SQL(t, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema IN ('copy_example_com', 'cmd_example_com')")); got != "0" {
		t.Errorf("the refused clone has %s tables", got)
	}
	f.write("berth.yaml", consent)
	if code, out, errOut := berthIn("staging", "apply", "--auto-approve"); code != 0 {
		t.Fatalf("staging apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := strings.TrimSpace(my.SQL(t, "SELECT COUNT(*), SUM(mail LIKE '%@example.invalid'), SUM(pass = '') FROM copy_example_com.users")); got != "3\t3\t3" {
		t.Errorf("the clone's users (rows, sanitized mails, emptied hashes): %q, want 3 3 3", got)
	}
	if got := my.SQL(t, "SELECT mail FROM copy_example_com.users"); strings.Contains(got, "customer.example") {
		t.Errorf("a production address reached the clone: %q", got)
	}
	if got := strings.TrimSpace(my.SQL(t, "SELECT COUNT(*), SUM(mail LIKE 'cmd%@example.invalid'), SUM(pass = '') FROM cmd_example_com.users")); got != "3\t3\t3" {
		t.Errorf("the users of the clone sanitized by a command (rows, sanitized mails, emptied hashes): %q, want 3 3 3", got)
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

	// Declared: staging's data_from, run by berth serve's scheduled pass
	// (the function its Schedule timer triggers), through the same code.
	if err := os.Remove(filepath.Join(f.repo, "sites", "strict.yaml")); err != nil {
		t.Fatal(err)
	}
	// The clone by a data_from of its own, weekly, in staging's
	// override of it; cmd.example.com by the environment's.
	f.write("berth.yaml", "environments:\n  production: { branch: main, data_to: [staging] }\n  staging:\n    branch: staging\n    data_from: { env: production, schedule: daily }\n"+
		"    sites:\n      copy.example.com:\n        data_from: { env: production, schedule: weekly }\n"+
		"backups: { dir: "+filepath.Join(w.base, "backups")+" }\n")
	if code, out, errOut := berthIn("staging", "apply", "--auto-approve"); code != 0 {
		t.Fatalf("staging apply with data_from: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, errOut := berthIn("staging", "plan"); code != 0 || !strings.Contains(out, "data_from: berth serve copies the data of cmd.example.com down from production into staging, daily; of copy.example.com down from production, weekly") {
		t.Errorf("staging plan: exit %d, want the data_from note\n%s\n%s", code, out, errOut)
	}
	my.SQL(t, "INSERT INTO shop_example_com.users VALUES (5, 'eve@customer.example', 'h5');")
	before = checksum()
	dataFromPasses(t, f, []string{"staging"}, func(pass int) {
		rows := strings.TrimSpace(my.SQL(t, "SELECT COUNT(*), SUM(mail LIKE '%@example.invalid') FROM copy_example_com.users"))
		if pass == 0 {
			if rows != "5\t5" {
				t.Errorf("the clone's users after data_from's first pass (rows, sanitized mails): %q, want 5 5", rows)
			}
			// Not due again before a day: the next row stays in production.
			my.SQL(t, "INSERT INTO shop_example_com.users VALUES (6, 'fay@customer.example', 'h6');")
			before = checksum()
			return
		}
		if rows != "5\t5" {
			t.Errorf("the clone's users after a second pass within the day: %q, want 5 5 (not copied again)", rows)
		}
	})
	if got := checksum(); got != before {
		t.Errorf("data_from changed the production table: %q, was %q", got, before)
	}
	if got := my.SQL(t, "SELECT mail FROM copy_example_com.users"); strings.Contains(got, "customer.example") {
		t.Errorf("a production address reached staging: %q", got)
	}
}

// dataFromPasses runs berth serve's daemon (daemonConfig) on f's repo for
// envs: after its start-up pass, two scheduled passes (the Schedule
// timer's trigger), check called after each; it then stops the daemon
// and checks that exactly one copy of data down was recorded per site
// of each environment's data_from, and that it succeeded.
func dataFromPasses(t *testing.T, f *webFixture, envs []string, check func(pass int)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	store, err := state.Open(ctx, f.stateDir, state.Options{Command: "berth serve"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	src, err := source.Open(ctx, f.repo, filepath.Join(f.stateDir, "repo.git"), source.Auth{})
	if err != nil {
		t.Fatal(err)
	}
	passes := make(chan daemon.EnvStatus, 10)
	cfg := daemonConfig(&serveFlags{repo: f.repo, stateDir: f.stateDir, configBranch: "main", envs: envs, knownHosts: defaultKnownHosts()}, src, store, f.stateDir, zerolog.Nop())
	cfg.AfterRun = func(s daemon.EnvStatus) { passes <- s }
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	next := func(what string) daemon.EnvStatus {
		t.Helper()
		select {
		case s := <-passes:
			return s
		case <-time.After(2 * time.Minute):
			t.Fatalf("%s: no pass of the daemon within 2 minutes", what)
		}
		return daemon.EnvStatus{}
	}
	for range envs {
		if s := next("start-up"); s.Phase != daemon.PhaseSynced {
			t.Fatalf("start-up: %s is %s: %s", s.Env, s.Phase, s.Message)
		}
	}
	for pass := range 2 {
		d.TriggerAll(daemon.TriggerSchedule)
		for range envs {
			next("scheduled pass")
		}
		check(pass)
	}
	for _, env := range envs {
		runs, err := store.Runs(ctx, env, 0)
		if err != nil {
			t.Fatal(err)
		}
		copies := map[string]int{}
		for _, r := range runs {
			if site, ok := strings.CutPrefix(r.Trigger, "sync-data "); ok {
				copies[site]++
				if r.Result != state.ResultJobDone {
					t.Errorf("%s: the copy of %s's data: %s %s", env, site, r.Result, r.Error)
				}
			}
		}
		for site, n := range copies {
			if n != 1 {
				t.Errorf("%s: %d copies of %s's data recorded, want 1", env, n, site)
			}
		}
		if len(copies) == 0 {
			t.Errorf("%s: no copy of data down recorded", env)
		}
	}
}

// TestClonePostgresSite: a PostgreSQL site of production cloned into
// staging on the same server: the copy's tables belong to the clone's own
// role (not production's), its sanitize command replaced every address,
// the clone serves and writes with its own role; a second clone's
// sanitize SQL file of the repo (run confined, database.ExecConfined)
// replaced every address too, and left no role behind; production's
// table is unchanged.
func TestClonePostgresSite(t *testing.T) {
	w := newPHPWeb(t)
	f := w.webFixture
	pg := testenv.Postgres(t)
	f.write("berth.yaml", "environments:\n  production: { branch: main, data_to: [staging] }\n  staging: { branch: staging }\n"+
		"backups: { dir: "+filepath.Join(w.base, "backups")+" }\n")
	f.write("servers/web.yaml", w.webServer("")+fmt.Sprintf("---\nkind: Server\nname: pdb\naddress: local\nservices:\n  db: { type: postgresql, socket_dir: %s, port: %d, client: %s }\n",
		pg.SocketDir, pg.Port, filepath.Join(testenv.PostgresBin, "psql")))
	app, err := os.ReadFile("testdata/dbapp/index.php")
	if err != nil {
		t.Fatal(err)
	}
	f.write("code/index.php", string(app))
	f.write("code/sanitize.php", "<?php\n$env = [];\nforeach (file(getenv('BERTH_SETTINGS'), FILE_IGNORE_NEW_LINES) as $l) {\n"+
		"    if (preg_match(\"/^([A-Z_]+)='(.*)'$/\", $l, $m)) { $env[$m[1]] = $m[2]; }\n}\n"+
		"$db = new PDO(\"pgsql:host={$env['DB_HOST']};port={$env['DB_PORT']};dbname={$env['DB_NAME']}\", $env['DB_USER'], $env['DB_PASSWORD']);\n"+
		"$db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);\n"+
		"$db->exec(\"UPDATE users SET mail = 'user' || id || '@example.invalid'\");\n")
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web]\n")
	f.write("sites/shop.yaml", "kind: Site\nname: shop.example.com\nplatform: app\nenvironments: [production]\ndb: { server: pdb }\n")
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
	f.get("shop.example.com", "/", func(r *http.Response, body string) bool {
		return r.StatusCode == 200 && strings.Contains(body, "driver=pgsql rows=")
	})
	psql := func(db, sql string) string {
		t.Helper()
		out, err := exec.Command(filepath.Join(testenv.PostgresBin, "psql"), "-X", "-h", pg.SocketDir, "-p", strconv.Itoa(pg.Port), "-U", pg.User,
			"-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql).CombinedOutput()
		if err != nil {
			t.Fatalf("psql %s: %v\n%s", sql, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1]
	}
	psql("shop_example_com", "SET ROLE shop_example_com; CREATE TABLE users (id int PRIMARY KEY, mail text); "+
		"INSERT INTO users VALUES (1, 'ann@customer.example'), (2, 'bob@customer.example')")
	checksum := func() string {
		return psql("shop_example_com", "SELECT md5(string_agg(id || mail, ',' ORDER BY id)) FROM users")
	}
	before := checksum()

	f.write("sites/copy.yaml", "kind: Site\nname: copy.example.com\nplatform: app\nenvironments: [staging]\ndb: { server: pdb }\n"+
		"clone_from: shop.example.com\nfrom_env: production\nsanitize: { command: [php, sanitize.php] }\n")
	// The other clone's sanitize step is an SQL file of the repo, run as a
	// role made for it (a member of the clone's role only), through psql -c.
	f.write("sanitize/users.sql", "-- every address of the clone (visits holds nothing personal)\nUPDATE users SET mail = 'sql' || id || '@example.invalid';\n")
	f.write("sites/sqlcopy.yaml", "kind: Site\nname: sqlcopy.example.com\nplatform: app\nenvironments: [staging]\ndb: { server: pdb }\n"+
		"clone_from: shop.example.com\nfrom_env: production\nsanitize: { sql: sanitize/users.sql, check_tables: true }\n")
	if code, out, errOut := berthIn("staging", "apply", "--auto-approve"); code != 0 {
		t.Fatalf("staging apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if got := psql("copy_example_com", "SELECT string_agg(DISTINCT pg_get_userbyid(relowner)::text, ',') FROM pg_class WHERE relnamespace = 'public'::regnamespace"); got != "copy_example_com" {
		t.Errorf("the clone's tables belong to %q, want its own role copy_example_com", got)
	}
	if got := psql("copy_example_com", "SELECT count(*), count(*) FILTER (WHERE mail LIKE '%@example.invalid') FROM users"); got != "2|2" {
		t.Errorf("the clone's users (rows|sanitized): %q, want 2|2", got)
	}
	if got := psql("sqlcopy_example_com", "SELECT string_agg(mail, ',' ORDER BY id) FROM users"); got != "sql1@example.invalid,sql2@example.invalid" {
		t.Errorf("the SQL-sanitized clone's users: %q", got)
	}
	if got := psql("sqlcopy_example_com", "SELECT string_agg(DISTINCT pg_get_userbyid(relowner)::text, ',') FROM pg_class WHERE relnamespace = 'public'::regnamespace"); got != "sqlcopy_example_com" {
		t.Errorf("the SQL-sanitized clone's tables belong to %q, want its own role", got)
	}
	if got := psql("postgres", "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'berth_sanitize_%'"); got != "0" {
		t.Errorf("%s sanitize roles left", got)
	}
	f.get("sqlcopy.example.com", "/", func(r *http.Response, body string) bool {
		return r.StatusCode == 200 && strings.Contains(body, "driver=pgsql rows=")
	})
	f.get("copy.example.com", "/", func(r *http.Response, body string) bool {
		return r.StatusCode == 200 && strings.Contains(body, "driver=pgsql rows=") && strings.Contains(body, "domain=shop.example.com")
	})
	if got := checksum(); got != before {
		t.Errorf("production's users changed: %q, was %q", got, before)
	}
	if code, out, errOut := berthIn("staging", "apply", "--auto-approve"); code != 0 || !strings.Contains(out, "No changes") {
		t.Errorf("second staging apply: exit %d\n%s\n%s", code, out, errOut)
	}
	// psql takes the SQL as one argument: a file over Linux's 128 KiB for
	// one is refused at plan.
	f.write("sanitize/users.sql", "UPDATE users SET mail = 'x';\n--"+strings.Repeat("x", 128<<10)+"\n")
	if code, out, errOut := berthIn("staging", "plan"); code == 0 || !strings.Contains(out+errOut, "sanitize sql sanitize/users.sql: the sanitize SQL file is") || !strings.Contains(out+errOut, "128 KiB") {
		t.Errorf("plan with a sanitize SQL file over 128 KiB: exit %d\n%s\n%s", code, out, errOut)
	}
}
