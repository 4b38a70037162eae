package state

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrLocked is matched (errors.Is) by the *LockedError Open returns when
// another process holds the state directory.
var ErrLocked = errors.New("state dir is in use")

// LockedError reports that another berth process holds the state directory's
// lock, at once or after Options.Wait. PID, Command, Since and API describe
// the holder as it recorded itself; they are zero when it had not written
// them yet. Waited is the Options.Wait Open waited before giving up (zero: it did not
// wait).
type LockedError struct {
	Dir     string
	PID     int
	Command string
	Since   time.Time
	// API is the address the holder serves its API on ("127.0.0.1:8080"),
	// when it recorded one (berth serve does).
	API    string
	Waited time.Duration
}

func (e *LockedError) Error() string {
	s := fmt.Sprintf("state dir %s is in use by %s", e.Dir, describe(holder{PID: e.PID, Command: e.Command, Since: e.Since, API: e.API}))
	if e.Waited > 0 {
		s += fmt.Sprintf("; gave up after waiting %s", e.Waited)
	}
	return s
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// holder is what the lock's owner writes into berth.lock: one line of JSON.
type holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Session string    `json:"session"`
	Since   time.Time `json:"since"`
	API     string    `json:"api,omitempty"`
}

func describe(h holder) string {
	if h.PID == 0 {
		return "another berth process"
	}
	s := fmt.Sprintf("berth (pid %d, %q", h.PID, h.Command)
	if !h.Since.IsZero() {
		s += ", since " + h.Since.Local().Format(time.DateTime)
	}
	if h.API != "" {
		s += ", API on " + h.API
	}
	return s + ")"
}

// flock is a held exclusive lock on berth.lock.
type flock struct {
	f *os.File
}

// acquire takes the exclusive lock on dir/berth.lock and records me in it.
// When the lock is held it calls onWait once and polls until the lock is
// free, wait has passed or ctx ends; with wait 0 it does not wait. When wait
// passes it returns a *LockedError naming the holder; when ctx ends, ctx's
// error.
func acquire(ctx context.Context, dir string, me holder, wait time.Duration, onWait func(string)) (*flock, error) {
	path := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	// flock(2) blocks without a way to cancel it, so waiting is a loop of
	// non-blocking attempts with a growing pause, which honours ctx.
	pause := 10 * time.Millisecond
	deadline := time.Now().Add(wait)
	waited := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock state dir %s: %w", dir, err)
		}
		h, _ := readHolder(dir)
		left := time.Until(deadline)
		if left <= 0 {
			f.Close()
			le := &LockedError{Dir: dir, PID: h.PID, Command: h.Command, Since: h.Since, API: h.API}
			if waited {
				le.Waited = wait
			}
			return nil, le
		}
		if !waited {
			waited = true
			if onWait != nil {
				onWait(describe(h))
			}
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("waiting for state dir %s, in use by %s: %w", dir, describe(h), ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, 500*time.Millisecond)
	}
	b, err := json.Marshal(me)
	if err == nil {
		err = f.Truncate(0)
	}
	if err == nil {
		_, err = f.WriteAt(append(b, '\n'), 0)
	}
	if err != nil {
		f.Close() // drops the lock
		return nil, fmt.Errorf("record lock holder in %s: %w", path, err)
	}
	return &flock{f: f}, nil
}

// release empties the lock file, so readers know no writer is alive, and
// drops the lock. The file itself stays: removing it would let two processes
// lock two different inodes of the same name.
func (l *flock) release() error {
	terr := l.f.Truncate(0)
	cerr := l.f.Close() // closing the last descriptor drops the flock
	return errors.Join(terr, cerr)
}

// readHolder reads what the lock's holder recorded. An empty or unreadable
// file yields the zero holder and an error.
func readHolder(dir string) (holder, error) {
	b, err := os.ReadFile(filepath.Join(dir, LockFile))
	if err != nil {
		return holder{}, err
	}
	var h holder
	if len(strings.TrimSpace(string(b))) == 0 {
		return holder{}, nil
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return holder{}, err
	}
	return h, nil
}

// liveWriterSession returns the session of the writing Store that is alive
// now, or "" when there is none. A writing Store knows it is the one; a
// read-only Store reads berth.lock and checks that the process it names
// still exists (a killed writer leaves its record behind, but not its
// process; a reused PID can make a dead writer look alive until the next
// writing Open marks its runs interrupted).
func (s *Store) liveWriterSession() string {
	if !s.ro {
		return s.session
	}
	h, err := readHolder(s.dir)
	if err != nil || h.PID <= 0 {
		return ""
	}
	if err := syscall.Kill(h.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return ""
	}
	return h.Session
}

func newSession() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("make state session id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// defaultCommand is the program's name and its leading non-flag arguments,
// e.g. "berth apply": flags are left out because they may carry secrets.
func defaultCommand() string {
	if len(os.Args) == 0 {
		return "berth"
	}
	parts := []string{filepath.Base(os.Args[0])}
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-") || len(parts) == 3 {
			break
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}
