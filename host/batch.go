package host

import (
	"errors"
	"fmt"
	"strings"
)

// OpKind says what one BatchOp does.
type OpKind uint8

const (
	// OpDir makes Path a directory with exactly Opts' mode and owner, like
	// EnsureDir.
	OpDir OpKind = iota + 1
	// OpFile replaces the file at Path with Data, mode and owner from
	// Opts, like WriteFile.
	OpFile
	// OpRemove deletes the file, link or empty directory at Path, like
	// Remove.
	OpRemove
)

func (k OpKind) String() string {
	switch k {
	case OpDir:
		return "directory"
	case OpFile:
		return "file"
	case OpRemove:
		return "remove"
	}
	return fmt.Sprintf("OpKind(%d)", uint8(k))
}

// BatchOp is one item of a WriteBatch. Build it with DirOp, FileOp or
// RemoveOp.
type BatchOp struct {
	Kind OpKind
	Path string
	// Data is the file's new contents (OpFile only).
	Data []byte
	// Opts are the mode and owner of a file or directory (OpFile, OpDir).
	Opts WriteOptions
}

// DirOp returns the op that makes path a directory with opts' mode and owner.
func DirOp(path string, opts WriteOptions) BatchOp {
	return BatchOp{Kind: OpDir, Path: path, Opts: opts}
}

// FileOp returns the op that replaces the file at path with data.
func FileOp(path string, data []byte, opts WriteOptions) BatchOp {
	return BatchOp{Kind: OpFile, Path: path, Data: data, Opts: opts}
}

// RemoveOp returns the op that removes path.
func RemoveOp(path string) BatchOp { return BatchOp{Kind: OpRemove, Path: path} }

// BatchResult is what WriteBatch did with one BatchOp.
type BatchResult struct {
	Kind OpKind
	Path string
	// Done reports that the op was applied: the directory is there with
	// its mode and owner, the file holds the new contents under its name
	// (flushed to disk), the path is removed.
	Done bool
	// Err is why the op was not applied: its own failure (wrapping
	// fs.ErrNotExist, fs.ErrPermission, syscall.ENOSPC, syscall.ENOTDIR,
	// ErrNotEmpty... as the single-item method would), or, when the batch
	// as a whole stopped (host unreachable, ctx cancelled, the remote
	// side killed), that error. nil when Done.
	//
	// An OpFile that is not Done left the old file (or no file) at Path,
	// or — only when the batch was cut off while it renamed files into
	// place — the new one: never a part of either. Observe tells which.
	Err error
}

// FileData is one file read by ReadFiles.
type FileData struct {
	Path string
	Data []byte
	// Err is why the file could not be read; it wraps fs.ErrNotExist
	// when the file does not exist.
	Err error
}

// BatchError is returned by WriteBatch when it ran to its end but some
// ops failed: their results carry each one's error. errors.Is and
// errors.As look through every failed op's error.
type BatchError struct {
	Host   string
	Failed []BatchResult // the results whose Err is not nil, in op order
	Total  int
}

func (e *BatchError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d of %d batched writes failed", e.Host, len(e.Failed), e.Total)
	for i, r := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Failed)-3)
			break
		}
		fmt.Fprintf(&b, "; %v", r.Err)
	}
	return b.String()
}

// Unwrap returns every failed op's error.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, r := range e.Failed {
		errs[i] = r.Err
	}
	return errs
}

// CheckBatch checks every op of a WriteBatch before anything is done:
// paths as CheckPath, a known Kind, owner and group names free of NUL
// bytes and ':' (they are passed on as names). Drivers call it first.
func CheckBatch(ops []BatchOp) error {
	for i, op := range ops {
		if err := CheckPath(op.Path); err != nil {
			return fmt.Errorf("batch op %d: %w", i, err)
		}
		switch op.Kind {
		case OpDir, OpFile, OpRemove:
		default:
			return fmt.Errorf("batch op %d (%s): unknown kind %v", i, op.Path, op.Kind)
		}
		for _, name := range []string{op.Opts.Owner, op.Opts.Group} {
			if strings.ContainsAny(name, "\x00:") {
				return fmt.Errorf("batch op %d (%s): owner or group %q holds a NUL byte or ':'", i, op.Path, name)
			}
		}
	}
	return nil
}

// BatchOrder returns the indexes of ops in the order WriteBatch applies
// them: every OpDir, then every OpFile, then every OpRemove, each kind in
// the order given.
func BatchOrder(ops []BatchOp) []int {
	order := make([]int, 0, len(ops))
	for _, k := range []OpKind{OpDir, OpFile, OpRemove} {
		for i, op := range ops {
			if op.Kind == k {
				order = append(order, i)
			}
		}
	}
	return order
}

// BatchOutcome turns per-op results into WriteBatch's error: nil when
// every op is Done, else a *BatchError listing the failed ones. It fills
// in Kind and Path of every result.
func BatchOutcome(hostName string, ops []BatchOp, res []BatchResult) error {
	var failed []BatchResult
	for i := range res {
		res[i].Kind, res[i].Path = ops[i].Kind, ops[i].Path
		if !res[i].Done {
			if res[i].Err == nil {
				res[i].Err = errors.New("not applied")
			}
			failed = append(failed, res[i])
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return &BatchError{Host: hostName, Failed: failed, Total: len(ops)}
}

// FailAll returns one result per op, each failed with err: what WriteBatch
// returns when nothing could be done.
func FailAll(ops []BatchOp, err error) []BatchResult {
	res := make([]BatchResult, len(ops))
	for i, op := range ops {
		res[i] = BatchResult{Kind: op.Kind, Path: op.Path, Err: err}
	}
	return res
}
