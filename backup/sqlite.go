package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/berthhq/berth/host"
)

// sqlite3's .dump exits 0 when it cannot read the database: a damaged or
// foreign file gives a dump that ends in "ROLLBACK; -- due to errors"
// (and loads as an empty database), so its exit status says nothing. A
// whole dump is one transaction, ending in its COMMIT: every SQLite dump
// berth writes, loads or verifies is checked for that end.

// sqliteDumpEnd is how every whole dump of sqlite3's .dump ends.
const sqliteDumpEnd = "COMMIT;\n"

// errSQLiteDump is a SQLite dump without its COMMIT.
var errSQLiteDump = errors.New("the SQLite dump does not end in its COMMIT")

// dumpTail keeps the last bytes written to it, to check a dump's end.
type dumpTail struct{ buf []byte }

func (t *dumpTail) Write(p []byte) (int, error) {
	const keep = 256
	t.buf = append(t.buf, p[max(0, len(p)-keep):]...)
	if len(t.buf) > keep {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-keep:]...)
	}
	return len(p), nil
}

// check says whether the bytes written were a whole SQLite dump; if not,
// the error quotes the dump's last line (sqlite3's reason, e.g. "ROLLBACK;
// -- due to errors").
func (t *dumpTail) check() error {
	if bytes.HasSuffix(t.buf, []byte(sqliteDumpEnd)) {
		return nil
	}
	last := bytes.TrimRight(t.buf, "\n")
	if i := bytes.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	if len(last) == 0 {
		return fmt.Errorf("%w: it is empty", errSQLiteDump)
	}
	return fmt.Errorf("%w: its last line is %q", errSQLiteDump, string(last))
}

// dumpSQLite writes the dump of the SQLite file path on h to w and fails
// unless sqlite3 read the whole database.
func dumpSQLite(ctx context.Context, h host.Host, path string, w io.Writer) error {
	var tail dumpTail
	if err := runTo(ctx, h, []string{"sqlite3", "-bail", "-readonly", path, ".dump"}, nil, io.MultiWriter(w, &tail)); err != nil {
		return err
	}
	if err := tail.check(); err != nil {
		return fmt.Errorf("sqlite3 could not read all of %s on %s (%w): the file is damaged or not a SQLite database; "+
			"nothing was kept or changed: check it with sqlite3 %s 'PRAGMA integrity_check' and restore it from an earlier backup", path, h.Name(), err, path)
	}
	return nil
}

// loadSQLite replaces the SQLite file path on h with the database the
// dump read from r makes: loaded into a file beside it, which takes the
// old file's owner and mode and is renamed over it only once the dump
// loaded and was whole.
func loadSQLite(ctx context.Context, h host.Host, path string, r io.Reader) error {
	tmp := path + ".berth-restore"
	var tail dumpTail
	load := `set -e; rm -f -- "$1"; sqlite3 -bail "$1"`
	if err := runTo(ctx, h, []string{"sh", "-c", load, "berth-restore", tmp}, io.TeeReader(r, &tail), io.Discard); err != nil {
		return errors.Join(err, removeOn(ctx, h, tmp))
	}
	if err := tail.check(); err != nil {
		return errors.Join(fmt.Errorf("%w; %s on %s was left as it was", err, path, h.Name()), removeOn(ctx, h, tmp))
	}
	swap := `set -e; chown --reference="$1" -- "$2"; chmod --reference="$1" -- "$2"; mv -fT -- "$2" "$1"`
	return runTo(ctx, h, []string{"sh", "-c", swap, "berth-restore", path, tmp}, nil, io.Discard)
}

// removeOn removes the file p on h.
func removeOn(ctx context.Context, h host.Host, p string) error {
	if _, err := h.Run(context.WithoutCancel(ctx), []string{"rm", "-f", "--", p}, host.RunOptions{}); err != nil {
		return fmt.Errorf("remove %s on %s: %w; remove it by hand", p, h.Name(), host.WithStderr(err))
	}
	return nil
}
