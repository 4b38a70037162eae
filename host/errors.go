package host

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
)

// ErrInvalidPath is wrapped by every error for a path that is not absolute
// or holds a NUL byte.
var ErrInvalidPath = errors.New("invalid path")

// ErrUnreachable is wrapped by every error caused by not reaching the host:
// connection refused or timed out, connection lost mid-command.
var ErrUnreachable = errors.New("host unreachable")

// ErrNotEmpty is wrapped by the error of Remove of a directory that is not
// empty: nothing was removed.
var ErrNotEmpty = errors.New("directory not empty")

// ErrClosed is wrapped by errors from a Host used after Close.
var ErrClosed = errors.New("host closed")

// ExitError reports a command that ran and exited with a non-zero status.
type ExitError struct {
	Host   string
	Argv   []string
	Code   int
	Stderr []byte
}

func (e *ExitError) Error() string {
	name := ""
	if len(e.Argv) > 0 {
		name = e.Argv[0]
	}
	msg := fmt.Sprintf("%s: %s exited with status %d", e.Host, name, e.Code)
	if s := strings.TrimSpace(tail(e.Stderr, 512)); s != "" {
		msg += ": " + s
	}
	return msg
}

// tail returns the last n bytes of b, marking a cut.
func tail(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return "…" + string(b[len(b)-n:])
}

// CheckPath returns an error wrapping ErrInvalidPath unless p is an
// absolute, slash-separated path without NUL bytes. Drivers call it first
// in every method that takes a path.
func CheckPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty path: %w", ErrInvalidPath)
	case !path.IsAbs(p):
		return fmt.Errorf("path %q is relative; berth acts on absolute paths only: %w", p, ErrInvalidPath)
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("path %q holds a NUL byte: %w", p, ErrInvalidPath)
	}
	return nil
}

// CheckArgv returns an error unless argv names a program and no argument
// holds a NUL byte (which no operating system can pass on).
func CheckArgv(argv []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New("empty command: argv[0] must name the program to run")
	}
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("argument %d of %s holds a NUL byte, which cannot be passed to a program", i, argv[0])
		}
	}
	return nil
}

// WithStderr returns err, and when it is an *ExitError, with the whole of
// the command's standard error appended (Error keeps only its end): for
// the errors of commands whose message is the point (tar, rm, mkdir).
func WithStderr(err error) error {
	var ee *ExitError
	if errors.As(err, &ee) && len(bytes.TrimSpace(ee.Stderr)) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
	}
	return err
}
