package state

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The test binary doubles as a second berth process: with helperEnv set,
// TestMain runs helperMain instead of the tests.
const helperEnv = "BERTH_STATE_TEST_HELPER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helperMain(dir))
	}
	os.Exit(m.Run())
}

// helperMain opens dir for writing as $BERTH_STATE_TEST_COMMAND (default
// "berth apply") serving its API on $BERTH_STATE_TEST_API, optionally starts
// a run of environment $BERTH_STATE_TEST_RUN, prints "ready <run id>" and
// holds the Store until its standard input closes.
func helperMain(dir string) int {
	ctx := context.Background()
	cmd := cmp.Or(os.Getenv("BERTH_STATE_TEST_COMMAND"), "berth apply")
	s, err := Open(ctx, dir, Options{Command: cmd, API: os.Getenv("BERTH_STATE_TEST_API")})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var id int64
	if env := os.Getenv("BERTH_STATE_TEST_RUN"); env != "" {
		if id, err = s.StartRun(ctx, Run{Env: env, Revision: "rev-helper", Trigger: "cli"}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	fmt.Printf("ready %d\n", id)
	io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// helper is a second berth process holding a state dir.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	runID int64
}

// startHelper starts a process that opens dir for writing (and starts a run
// of runEnv when not empty) and returns once it holds the lock.
func startHelper(t *testing.T, dir, runEnv string) *helper {
	t.Helper()
	return startHelperEnv(t, dir, "BERTH_STATE_TEST_RUN="+runEnv)
}

// startHelperEnv is startHelper with the helper's environment variables
// given (see helperMain).
func startHelperEnv(t *testing.T, dir string, env ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+dir), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		h.stdin.Close()
		h.cmd.Process.Kill()
		h.cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("helper process did not get ready: %v", err)
	}
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "ready" {
		t.Fatalf("helper said %q", line)
	}
	if h.runID, err = strconv.ParseInt(f[1], 10, 64); err != nil {
		t.Fatal(err)
	}
	return h
}

// stop closes the helper's Store cleanly and waits for it to exit.
func (h *helper) stop(t *testing.T) {
	t.Helper()
	h.stdin.Close()
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
}

// kill ends the helper as SIGKILL would, without closing anything.
func (h *helper) kill(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	h.cmd.Wait()
}

func open(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, Options{Command: "berth test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "nested")
	s := open(t, dir)
	ctx := context.Background()
	// A write makes sure the WAL files exist.
	if _, err := s.Secret(ctx, "k", func() (string, error) { return "v", nil }); err != nil {
		t.Fatal(err)
	}
	if s.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
	}
	for _, c := range []struct {
		path string
		want fs.FileMode
	}{
		{dir, fs.ModeDir | 0o700},
		{filepath.Join(dir, DBFile), 0o600},
		{filepath.Join(dir, DBFile+"-wal"), 0o600},
		{filepath.Join(dir, DBFile+"-shm"), 0o600},
		{filepath.Join(dir, LockFile), 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() & (fs.ModeDir | fs.ModePerm); got != c.want {
			t.Errorf("%s: mode %v, want %v", c.path, got, c.want)
		}
	}
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode %q, want wal", mode)
	}
}

func TestOpenMakesReadableDatabasePrivate(t *testing.T) {
	dir := t.TempDir()
	open(t, dir).Close()
	db := filepath.Join(dir, DBFile)
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	open(t, dir).Close()
	fi, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after reopening, want 0600", fi.Mode().Perm())
	}
}

func TestOpenRefusesNonRegularDatabase(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, DBFile), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Open = %v, want a refusal of the directory", err)
	}
	// The failed Open released the lock: a second try fails the same way.
	if _, err := Open(context.Background(), dir, Options{}); errors.Is(err, ErrLocked) {
		t.Fatalf("lock kept after failed Open: %v", err)
	}
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	versions := func(t *testing.T, dir string) []int {
		t.Helper()
		db, err := sql.Open("sqlite", filepath.Join(dir, DBFile))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query("SELECT version FROM schema_migrations ORDER BY version")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var vs []int
		for rows.Next() {
			var v int
			rows.Scan(&v)
			vs = append(vs, v)
		}
		return vs
	}
	all := make([]int, len(migrations))
	for i := range all {
		all[i] = i + 1
	}

	t.Run("from empty", func(t *testing.T) {
		dir := t.TempDir()
		open(t, dir).Close()
		if got := versions(t, dir); fmt.Sprint(got) != fmt.Sprint(all) {
			t.Errorf("versions %v, want %v", got, all)
		}
		// Reopening applies nothing twice.
		open(t, dir).Close()
		if got := versions(t, dir); fmt.Sprint(got) != fmt.Sprint(all) {
			t.Errorf("versions after reopen %v, want %v", got, all)
		}
	})

	t.Run("from an older version keeps data", func(t *testing.T) {
		dir := t.TempDir()
		saved := migrations
		t.Cleanup(func() { migrations = saved })
		migrations = saved[:1]
		s := open(t, dir)
		if err := s.SaveResources(ctx, "prod", []Resource{{ID: "a", Host: "web1"}}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		migrations = append(saved[:1:1], []string{`CREATE TABLE test_v2 (x INTEGER)`})
		s = open(t, dir)
		inv, err := s.Inventory(ctx, "prod")
		if err != nil || len(inv) != 1 || inv[0].ID != "a" {
			t.Fatalf("inventory after migration = %v, %v", inv, err)
		}
		if got := versions(t, dir); fmt.Sprint(got) != "[1 2]" {
			t.Errorf("versions %v, want [1 2]", got)
		}
	})

	t.Run("read-only Store does not migrate", func(t *testing.T) {
		dir := t.TempDir()
		saved := migrations
		t.Cleanup(func() { migrations = saved })
		migrations = saved[:1]
		open(t, dir).Close()
		migrations = append(saved[:1:1], []string{`CREATE TABLE test_v2 (x INTEGER)`})
		_, err := Open(ctx, dir, Options{ReadOnly: true})
		if err == nil || !strings.Contains(err.Error(), "run a writing berth command") {
			t.Fatalf("read-only Open of an old schema = %v", err)
		}
		if got := versions(t, dir); fmt.Sprint(got) != "[1]" {
			t.Errorf("versions %v, want [1]", got)
		}
	})

	t.Run("failed migration changes nothing", func(t *testing.T) {
		dir := t.TempDir()
		saved := migrations
		t.Cleanup(func() { migrations = saved })
		migrations = append(saved[:1:1], []string{`CREATE TABLE half (x INTEGER)`, `THIS IS NOT SQL`})
		_, err := Open(ctx, dir, Options{})
		if err == nil || !strings.Contains(err.Error(), "schema version 2") {
			t.Fatalf("Open = %v, want a migration error", err)
		}
		if got := versions(t, dir); fmt.Sprint(got) != "[1]" {
			t.Errorf("versions %v, want [1]", got)
		}
		migrations = saved[:1]
		s := open(t, dir)
		var n int
		s.r.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'half'`).Scan(&n)
		if n != 0 {
			t.Error("half-applied migration left table 'half' behind")
		}
	})

	t.Run("newer schema refused", func(t *testing.T) {
		dir := t.TempDir()
		s := open(t, dir)
		if _, err := s.w.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, len(migrations)+5); err != nil {
			t.Fatal(err)
		}
		s.Close()
		for _, ro := range []bool{false, true} {
			_, err := Open(ctx, dir, Options{ReadOnly: ro})
			if !errors.Is(err, ErrSchemaTooNew) {
				t.Fatalf("ReadOnly=%v: Open = %v, want ErrSchemaTooNew", ro, err)
			}
			if !strings.Contains(err.Error(), "newer berth") || !strings.Contains(err.Error(), "upgrade berth") {
				t.Errorf("error does not tell the operator what to do: %v", err)
			}
		}
	})
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	if err := s.SaveResources(ctx, "prod", []Resource{{ID: "site/a/vhost@web1", Host: "web1", Hash: "h1"}}); err != nil {
		t.Fatal(err)
	}
	id, err := s.StartRun(ctx, Run{Env: "prod", Revision: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, id, RunResult{Result: ResultSucceeded}); err != nil {
		t.Fatal(err)
	}
	pw, err := s.Secret(ctx, "db/a", func() (string, error) { return GeneratePassword(24) })
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetEnvStatus(ctx, EnvStatus{Env: "prod", Phase: PhaseSynced}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	inv, err := s.Inventory(ctx, "prod")
	if err != nil || len(inv) != 1 || inv[0].Hash != "h1" {
		t.Errorf("inventory = %+v, %v", inv, err)
	}
	if rev, _, err := s.LastApplied(ctx, "prod"); err != nil || rev != "r1" {
		t.Errorf("LastApplied = %q, %v", rev, err)
	}
	got, err := s.Secret(ctx, "db/a", func() (string, error) { return "", errors.New("must not generate") })
	if err != nil || got != pw {
		t.Errorf("secret changed across reopen (err %v)", err)
	}
	if st, err := s.EnvStatuses(ctx); err != nil || len(st) != 1 || st[0].Phase != PhaseSynced {
		t.Errorf("EnvStatuses = %+v, %v", st, err)
	}
}

func TestReadOnly(t *testing.T) {
	ctx := context.Background()

	t.Run("missing database", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Open(ctx, dir, Options{ReadOnly: true})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open = %v, want fs.ErrNotExist", err)
		}
		if _, err := os.Stat(filepath.Join(dir, DBFile)); !errors.Is(err, fs.ErrNotExist) {
			t.Error("read-only Open created the database")
		}
	})

	t.Run("reads while a writer holds the lock", func(t *testing.T) {
		dir := t.TempDir()
		w := open(t, dir)
		if err := w.SaveResources(ctx, "prod", []Resource{{ID: "a"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Secret(ctx, "k", func() (string, error) { return "v", nil }); err != nil {
			t.Fatal(err)
		}
		r, err := Open(ctx, dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if !r.ReadOnly() {
			t.Error("ReadOnly() = false")
		}
		if inv, err := r.Inventory(ctx, "prod"); err != nil || len(inv) != 1 {
			t.Errorf("Inventory = %v, %v", inv, err)
		}
		// A write through the writer is seen by the reader's next read.
		if err := w.SaveResources(ctx, "prod", []Resource{{ID: "b"}}); err != nil {
			t.Fatal(err)
		}
		if inv, err := r.Inventory(ctx, "prod"); err != nil || len(inv) != 2 {
			t.Errorf("Inventory after write = %v, %v", inv, err)
		}
		if v, err := r.Secret(ctx, "k", nil); err != nil || v != "v" {
			t.Errorf("stored secret through read-only store: err %v", err)
		}
		writes := map[string]error{
			"SaveResources":   r.SaveResources(ctx, "prod", []Resource{{ID: "c"}}),
			"DeleteResources": r.DeleteResources(ctx, "prod", []string{"a"}),
			"SetEnvStatus":    r.SetEnvStatus(ctx, EnvStatus{Env: "prod"}),
			"DeleteSecret":    r.DeleteSecret(ctx, "k"),
			"FinishRun":       r.FinishRun(ctx, 1, RunResult{Result: ResultFailed}),
		}
		_, writes["StartRun"] = r.StartRun(ctx, Run{Env: "prod"})
		_, writes["Secret"] = r.Secret(ctx, "new", func() (string, error) { return "x", nil })
		for name, err := range writes {
			if !errors.Is(err, ErrReadOnly) {
				t.Errorf("%s on a read-only store = %v, want ErrReadOnly", name, err)
			}
		}
		// The writer was never blocked: a reader takes no lock.
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCloseTwice(t *testing.T) {
	s := open(t, t.TempDir())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := s.Inventory(context.Background(), "prod"); err == nil {
		t.Error("Inventory after Close succeeded")
	}
}

func TestDirWithURISpecialCharacters(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a?b#c%d e")
	s := open(t, dir)
	if err := s.SaveResources(context.Background(), "prod", []Resource{{ID: "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, DBFile)); err != nil {
		t.Fatalf("database not where expected: %v", err)
	}
}
