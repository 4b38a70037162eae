package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// File names inside the state directory.
const (
	// DBFile is the SQLite database, mode 0600.
	DBFile = "berth.db"
	// LockFile is flocked by the writing Store and names its holder.
	LockFile = "berth.lock"
)

// busyTimeout bounds how long a statement waits for SQLite's own file lock.
// Within one process writes are serialised on one connection, and other
// writing processes are kept out by the flock, so this is only ever spent
// waiting for a WAL checkpoint.
const busyTimeout = 10 * time.Second

// ErrNotFound is what the errors of lookups of a missing run, resource or
// environment wrap. It is fs.ErrNotExist, so errors.Is(err, fs.ErrNotExist)
// works as well, as it does for certmagic's Storage and berth's host.Host.
var ErrNotFound = fs.ErrNotExist

// ErrReadOnly is wrapped by the errors of writing methods called on a Store
// opened with Options.ReadOnly.
var ErrReadOnly = errors.New("state store is read-only")

// Options tune Open. The zero value opens for writing and fails at once when
// another berth process holds the state directory.
type Options struct {
	// Wait is how long Open waits for the process holding the state
	// directory to release it; then (or at once, when Wait is 0) Open fails
	// with a *LockedError naming the holder. Open also stops waiting when
	// ctx ends. A writer that never waits without a bound cannot hang
	// behind `berth serve`, which holds the directory for as long as it
	// runs.
	Wait time.Duration

	// OnWait, when not nil and Open has to wait (Wait is set and the lock is
	// held), is called once before waiting, with a description of the
	// holder such as `berth (pid 1234, "berth apply")`, so a CLI can say
	// what it is waiting for.
	OnWait func(holder string)

	// API is the address this process serves its API on, recorded in
	// berth.lock so that a process finding the directory busy can say how
	// to reach the holder (LockedError.API). berth serve sets it.
	API string

	// ReadOnly opens the database for reading only and takes no lock, so it
	// neither waits for nor blocks a writing berth (see the package
	// documentation). The database must already exist and be at this
	// berth's schema version; writing methods return errors wrapping
	// ErrReadOnly. Wait and OnWait are ignored.
	ReadOnly bool

	// Command describes this process in berth.lock, for the error another
	// process shows when the state directory is busy, e.g. "berth apply".
	// Empty means the program name and its leading non-flag arguments
	// (never flags, which might carry secrets).
	Command string
}

// Store is an open state directory. Its methods are safe for concurrent use
// by multiple goroutines. Use after Close fails.
type Store struct {
	dir     string
	dbPath  string
	ro      bool
	session string // identifies this writing Store's runs; "" when read-only

	w *sql.DB // one connection: every write, serialised; nil when read-only
	r *sql.DB // reads, several connections, query_only

	lock *flock // nil when read-only

	// invGen counts the inventory writes this Store made (InventoryGeneration).
	invGen atomic.Uint64

	closeOnce sync.Once
	closeErr  error
}

// Open opens the state directory dir, creating it (mode 0700) and its
// database when missing, and brings the database schema up to date.
//
// Unless opts.ReadOnly is set, Open first takes the state directory's
// exclusive lock, held until Close: when another process holds it, Open waits
// up to opts.Wait for it and then fails with a *LockedError
// (errors.Is(err, ErrLocked)). Open honours ctx while waiting for the lock and while migrating.
//
// Open fails with an error wrapping ErrSchemaTooNew when the database was
// written by a newer berth, and refuses a database file that is readable by
// group or others and cannot be made private with chmod. A read-only Open of
// a directory without a database fails with an error wrapping
// fs.ErrNotExist.
func Open(ctx context.Context, dir string, opts Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open state: no state directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open state dir %s: %w", dir, err)
	}
	s := &Store{dir: abs, dbPath: filepath.Join(abs, DBFile), ro: opts.ReadOnly}
	if s.ro {
		if err := s.openReadOnly(ctx); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
	}
	if err := s.openWritable(ctx, opts); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) openWritable(ctx context.Context, opts Options) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("create state dir %s: %w", s.dir, err)
	}
	session, err := newSession()
	if err != nil {
		return err
	}
	s.session = session
	cmd := opts.Command
	if cmd == "" {
		cmd = defaultCommand()
	}
	s.lock, err = acquire(ctx, s.dir, holder{PID: os.Getpid(), Command: cmd, Session: session, Since: time.Now().UTC(), API: opts.API}, opts.Wait, opts.OnWait)
	if err != nil {
		return err
	}
	if err := privateFile(s.dbPath, true); err != nil {
		return err
	}
	s.w, err = sql.Open("sqlite", dsn(s.dbPath, false))
	if err != nil {
		return fmt.Errorf("open state database %s: %w", s.dbPath, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("open state database %s: %w", s.dbPath, err)
	}
	if err := migrate(ctx, s.w, s.dbPath); err != nil {
		return err
	}
	// SQLite creates -wal and -shm with the database file's mode, but check
	// them: an older berth or a hand-run sqlite3 may have left them wider.
	for _, p := range []string{s.dbPath + "-wal", s.dbPath + "-shm"} {
		if err := privateFile(p, false); err != nil {
			return err
		}
	}
	if err := s.markInterrupted(ctx); err != nil {
		return err
	}
	return s.openReaders(ctx)
}

func (s *Store) openReadOnly(ctx context.Context) error {
	if _, err := os.Stat(s.dbPath); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no state database %s: nothing has been applied with this state dir yet: %w", s.dbPath, fs.ErrNotExist)
		}
		return fmt.Errorf("open state database %s: %w", s.dbPath, err)
	}
	if err := privateFile(s.dbPath, false); err != nil {
		return err
	}
	if err := s.openReaders(ctx); err != nil {
		return err
	}
	v, err := schemaVersion(ctx, s.r)
	if err != nil {
		return fmt.Errorf("read schema version of state database %s: %w", s.dbPath, err)
	}
	if err := checkVersion(v, s.dbPath); err != nil {
		return err
	}
	if v < len(migrations) {
		return fmt.Errorf("state database %s has schema version %d and this berth needs %d: run a writing berth command (e.g. berth apply) once to upgrade it", s.dbPath, v, len(migrations))
	}
	return nil
}

func (s *Store) openReaders(ctx context.Context) error {
	var err error
	s.r, err = sql.Open("sqlite", dsn(s.dbPath, true))
	if err != nil {
		return fmt.Errorf("open state database %s: %w", s.dbPath, err)
	}
	s.r.SetMaxOpenConns(4)
	s.r.SetMaxIdleConns(4)
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("open state database %s: %w", s.dbPath, err)
	}
	return nil
}

// dsn is the modernc.org/sqlite data source name for the database at path.
// The path is escaped into a file: URI so that '?', '#' and '%' in a
// directory name cannot be mistaken for parameters.
func dsn(path string, readers bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if readers {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		// FULL: a committed inventory row must survive a power cut, or
		// berth would forget a resource it created and never prune it.
		q.Add("_pragma", "synchronous(FULL)")
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: filepath.ToSlash(path)}).EscapedPath() + "?" + q.Encode()
}

// privateFile makes sure path, a file that may hold secrets, is a regular
// file readable by its owner only. create makes it (empty, 0600) when
// missing; otherwise a missing file is fine. A file open to group or others
// is chmod-ed to 0600; when that fails, the file is refused.
func privateFile(path string, create bool) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil
		}
		f, cerr := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if cerr != nil {
			return fmt.Errorf("create state database %s: %w", path, cerr)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("create state database %s: %w", path, err)
		}
		fi, err = os.Lstat(path)
	}
	if err != nil {
		return fmt.Errorf("check state database %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("state database %s is not a regular file (%v): move it away", path, fi.Mode().Type())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("state database %s has mode %04o but holds secrets, and making it 0600 failed: run chmod 600 %s: %w", path, fi.Mode().Perm(), path, err)
		}
	}
	return nil
}

// Dir returns the absolute path of the state directory.
func (s *Store) Dir() string { return s.dir }

// ReadOnly reports whether the Store was opened with Options.ReadOnly.
func (s *Store) ReadOnly() bool { return s.ro }

// Close closes the database and releases the state directory's lock, so
// another berth process can open it. It is safe to call more than once; later
// calls return the first call's result. Calls to other methods after Close
// fail.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		if s.w != nil {
			errs = append(errs, s.w.Close())
		}
		if s.lock != nil {
			errs = append(errs, s.lock.release())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close state dir %s: %w", s.dir, err)
		}
	})
	return s.closeErr
}

// writable returns an error wrapping ErrReadOnly for op when s is read-only.
func (s *Store) writable(op string) error {
	if s.ro {
		return fmt.Errorf("%s in %s: %w; open it without ReadOnly", op, s.dir, ErrReadOnly)
	}
	return nil
}

// Times are stored as Unix nanoseconds in UTC; 0 is the zero time.

func toDB(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromDB(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// orNow returns t, or the current time when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}
