package host

import (
	"context"
	"io"
	"io/fs"
)

// Host is one machine that berth converges: this one (host/local) or a remote
// one (host/ssh).
//
// Every method:
//   - honours ctx: it returns early, with an error wrapping ctx.Err(), when
//     ctx is cancelled or its deadline passes; for a remote host the deadline
//     also bounds connecting;
//   - is safe for concurrent use by multiple goroutines;
//   - takes absolute, slash-separated paths; a relative path or one holding a
//     NUL byte is refused with an error wrapping ErrInvalidPath;
//   - returns errors that wrap fs.ErrNotExist, fs.ErrPermission,
//     syscall.ENOSPC or ErrUnreachable when that is the cause, so callers can
//     test with errors.Is and operators read what went wrong and where.
type Host interface {
	// Name identifies the host in logs and errors: "local" or "user@addr".
	Name() string

	// Run executes argv[0] with arguments argv[1:] and waits for it. argv is
	// passed as a vector: no shell parses it, so spaces, quotes, `$(...)`,
	// backticks, `;` and newlines in an argument reach the program
	// unchanged. argv[0] is looked up in the host's PATH.
	//
	// The result always carries what the command wrote to stdout and stderr
	// (unless opts redirected them) and its exit code. A command that ran
	// and exited non-zero returns an error of type *ExitError; a command that
	// could not be started or whose host could not be reached returns
	// another error and an ExitCode of -1.
	Run(ctx context.Context, argv []string, opts RunOptions) (RunResult, error)

	// ReadFile returns the contents of the file at path. When the file does
	// not exist the error wraps fs.ErrNotExist.
	ReadFile(ctx context.Context, path string) ([]byte, error)

	// WriteFile replaces the file at path with data, atomically: the data is
	// written to a temporary file in the same directory, flushed to disk
	// (fsync), given its mode and owner, and only then renamed over path. A
	// concurrent reader sees the old contents or the new, never a mix, and a
	// failed write leaves the old file as it was and no temporary file
	// behind. The parent directory must exist: when it does not the error
	// wraps fs.ErrNotExist (call MkdirAll first).
	WriteFile(ctx context.Context, path string, data []byte, opts WriteOptions) error

	// Remove deletes the file, symbolic link or empty directory at path. It
	// returns nil when path does not exist, so it is safe to repeat. A
	// directory that is not empty is left as it is and the error wraps
	// ErrNotEmpty.
	Remove(ctx context.Context, path string) error

	// MkdirAll creates the directory path and any missing parents with mode
	// perm (before the host's umask), like os.MkdirAll. It returns nil when
	// path already is a directory, and leaves existing directories unchanged.
	MkdirAll(ctx context.Context, path string, perm fs.FileMode) error

	// EnsureDir makes path a directory with exactly the permission bits
	// opts.FileMode() (the umask does not apply) and, when opts.Owner or
	// opts.Group is set, that owner, in one round trip. Missing parents are
	// created as MkdirAll(0755) would; an existing directory only gets its
	// mode and owner set, so EnsureDir is safe to repeat. When path exists
	// and is not a directory the error wraps syscall.ENOTDIR.
	EnsureDir(ctx context.Context, path string, opts WriteOptions) error

	// Observe returns one Observation per path, in the order given: whether
	// it exists and, if so, its type, mode, owner, size and, for regular
	// files, the SHA-256 of its contents. All paths are read in ONE round
	// trip to the host, however many there are. A path that does not exist
	// is not an error (Exists is false); a path that cannot be examined
	// (permission denied, unreadable file) makes Observe return an error
	// naming it.
	Observe(ctx context.Context, paths []string) ([]Observation, error)

	// SweepTemp removes the temporary files WriteFile leaves when it is
	// interrupted before its rename (a crash, a kill): regular files named
	// TempPrefix+"*" directly in each of dirs, in ONE round trip. A dir
	// that does not exist, or is a symbolic link, is skipped. It returns
	// the paths it removed. A WriteFile running at the same time in one of
	// dirs may lose its temporary file: its rename then fails and the
	// write returns an error, so a half-written file never reaches the
	// name a service reads. Callers sweep where no write of theirs runs.
	SweepTemp(ctx context.Context, dirs []string) ([]string, error)

	// WriteBatch applies every op in ONE round trip to the host (over SSH
	// one session carrying all the data), in this order: every OpDir, then
	// every OpFile, then every OpRemove, each kind in the order given (see
	// BatchOrder). A directory therefore exists before the files put in it,
	// and a removal happens after the writes that replace what it removes.
	//
	// Each op keeps the guarantees of its single-item method. A file is
	// written to a temporary file (TempPrefix, in the same directory, so
	// SweepTemp finds it), given its mode and owner, flushed to disk, and
	// only then renamed over Path: a reader, a crash or a kill at any
	// moment sees the old file or the new one, never a part of either. The
	// batch flushes once per file system and once per directory, not once
	// per file. A directory gets exactly its mode and owner, missing
	// parents created as by MkdirAll(0755). A removal of a path that does
	// not exist is done; of a directory that is not empty fails with
	// ErrNotEmpty.
	//
	// The result has one entry per op, in the order of ops (not the order
	// applied), saying whether it was done and, if not, why. An op that
	// fails does not stop the others (a file whose directory failed then
	// fails too, with fs.ErrNotExist). The error is nil when every op is
	// done; a *BatchError when the batch ran to its end and some ops
	// failed; otherwise the error that stopped the whole batch (invalid
	// op, ctx, host unreachable, the remote side killed), which then is
	// also the Err of every op not known to be done. A batch cut off half
	// way leaves every file whole; temporary files it leaves are removed
	// by SweepTemp, and repeating the batch finishes it. An empty batch
	// does nothing and does not contact the host.
	WriteBatch(ctx context.Context, ops []BatchOp) ([]BatchResult, error)

	// ReadFiles returns the contents of every path, in the order given, in
	// ONE round trip. A path that cannot be read (missing: its Err wraps
	// fs.ErrNotExist; a directory; permission denied) has its own Err; the
	// error returned is for the call as a whole (invalid path, ctx, host
	// unreachable), and then no result is returned.
	ReadFiles(ctx context.Context, paths []string) ([]FileData, error)

	// Close releases the host's connections. Calls after Close fail.
	Close() error
}

// TempPrefix starts the name of every temporary file WriteFile creates. No
// service reads files of that name; SweepTemp removes leftovers.
const TempPrefix = ".berth-tmp-"

// RunOptions are the optional parts of a command. The zero value runs the
// command with no standard input, in the host's default directory and
// environment, and captures stdout and stderr into the RunResult.
type RunOptions struct {
	// Stdin, when not nil, is copied to the command's standard input.
	Stdin io.Reader
	// Stdout and Stderr, when not nil, receive the command's output as it is
	// written, instead of RunResult.Stdout and RunResult.Stderr.
	Stdout, Stderr io.Writer
	// Dir is the working directory; empty means the host's default (the
	// login directory for ssh, berth's own for local).
	Dir string
	// Env adds KEY=VALUE variables to the command's environment.
	Env []string
}

// RunResult is what a finished command left behind.
type RunResult struct {
	Stdout, Stderr []byte
	// ExitCode is the command's exit status, or -1 when it did not run to
	// an exit (not started, killed by a signal, host unreachable).
	ExitCode int
}

// WriteOptions are the optional parts of a WriteFile.
type WriteOptions struct {
	// Mode is the file's permission bits; zero means 0644.
	Mode fs.FileMode
	// Owner and Group are user and group names or numeric IDs; empty leaves
	// the file owned by the user (and group) the host acts as.
	Owner, Group string
}

// FileMode returns the permission bits WriteFile applies: Mode, or 0644.
func (o WriteOptions) FileMode() fs.FileMode {
	if o.Mode == 0 {
		return 0o644
	}
	return o.Mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// Observation is the state of one path as Observe found it.
type Observation struct {
	Path   string
	Exists bool
	// Mode holds the type bits (fs.ModeDir, fs.ModeSymlink, ...) and the
	// permission bits, like fs.FileInfo.Mode. Symbolic links are not
	// followed: a link is reported as a link.
	Mode fs.FileMode
	// Owner and Group are names when the host can resolve them, otherwise
	// the numeric IDs in decimal. UID and GID are always numeric.
	Owner, Group string
	UID, GID     int
	Size         int64
	// SHA256 is the lower-case hex SHA-256 of a regular file's contents;
	// empty for anything else.
	SHA256 string
	// LinkTarget is the target of a symbolic link; empty otherwise.
	LinkTarget string
}

// IsDir reports whether the path exists and is a directory.
func (o Observation) IsDir() bool { return o.Exists && o.Mode.IsDir() }

// IsRegular reports whether the path exists and is a regular file.
func (o Observation) IsRegular() bool { return o.Exists && o.Mode.IsRegular() }
