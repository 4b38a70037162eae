package backup

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/kind/database"
)

// A verification is a restore test of one backup: every piece's size and
// SHA-256 are checked against the manifest, the database dump is loaded
// into a scratch database on the site's database server and its tables
// counted, and the files tarball is read to its end and listed. Nothing
// of the site is touched: the scratch database has a name berth owns
// (ScratchName), is created empty, and is dropped when the test ends,
// also when it failed; a SQLite dump is loaded into a file in a private
// temporary directory (mktemp -d) on the web server, removed likewise.
// The files are listed as they stream, never written anywhere.

// ErrNoBackup is wrapped by Verify's error when the site has no backup.
var ErrNoBackup = errors.New("no backup to verify")

// ErrVerifyFailed is wrapped by Verify's error when the backup failed its
// test (as opposed to the test not being able to run).
var ErrVerifyFailed = errors.New("backup verification failed")

// Verification is what one restore test found. It holds no secret.
type Verification struct {
	Env     string    `json:"env"`
	Site    string    `json:"site"`
	Backup  string    `json:"backup"` // the backup's ID
	Started time.Time `json:"started"`
	// Scratch is the scratch database the dump was loaded into.
	Scratch string `json:"scratch,omitempty"`
	// Tables are the tables of the dump with their rows once loaded.
	Tables map[string]int64 `json:"tables,omitempty"`
	Files  int              `json:"files"` // regular files in the files piece
	Bytes  int64            `json:"bytes"` // their size
}

// VerifyEvery is how often a verify setting tests a site's newest
// backup; false for never. "" is weekly.
func VerifyEvery(setting string) (time.Duration, bool) {
	switch setting {
	case "daily":
		return 24 * time.Hour, true
	case "", "weekly":
		return 7 * 24 * time.Hour, true
	case "monthly":
		return 30 * 24 * time.Hour, true
	}
	return 0, false
}

// VerifyDue says whether a verification last started at last (zero:
// never) is due again at now; like a scheduled backup, it is due a
// twentieth of the period early.
func VerifyDue(setting string, last, now time.Time) bool {
	every, ok := VerifyEvery(setting)
	if !ok {
		return false
	}
	return last.IsZero() || now.Sub(last) >= every-every/20
}

// ScratchName is the scratch database the backups of site in env are
// loaded into: berth_verify_ and a hash of both, the same at every run so
// that one left by an interrupted run is dropped by the next.
func ScratchName(env, site string) string {
	sum := sha256.Sum256([]byte(env + "\x00" + site))
	return database.ScratchPrefix + hex.EncodeToString(sum[:8])
}

// Verify restore-tests backup id of the site (the newest when id is ""):
// see above. It says what it checked on out and returns what it found;
// a backup that fails the test is an error wrapping ErrVerifyFailed (or
// ErrCorrupt when a piece does not match the manifest) with the reason.
func (b *Backups) Verify(ctx context.Context, d SiteData, store Store, id string, out io.Writer) (*Verification, error) {
	v := &Verification{Env: d.Env, Site: d.Site, Started: b.now()}
	if id != "" && !idRE.MatchString(id) {
		return v, fmt.Errorf("%q is not a backup ID (like 20261125T123456Z); list them with berth backups", id)
	}
	list, err := b.List(ctx, d.Env, d.Site, store)
	if err != nil {
		return v, err
	}
	if len(list) == 0 {
		return v, fmt.Errorf("site %s in %s has no backup on %s: %w", d.Site, d.Env, store.Server, ErrNoBackup)
	}
	m := list[len(list)-1]
	if id != "" {
		i := slices.IndexFunc(list, func(l Listed) bool { return l.ID == id })
		if i < 0 {
			return v, fmt.Errorf("site %s in %s has no backup %s on %s; list them with berth backups", d.Site, d.Env, id, store.Server)
		}
		m = list[i]
	}
	v.Backup = m.ID
	if !m.Verified {
		return v, fmt.Errorf("backup %s of %s: %w: %s; %w", m.ID, d.Site, ErrCorrupt, m.Problem, ErrVerifyFailed)
	}
	fmt.Fprintf(out, "%s: backup %s: every piece matches its manifest.\n", d.Site, m.ID)
	src, err := b.Hosts.Host(ctx, store.Server)
	if err != nil {
		return v, fmt.Errorf("connect to backup server %s: %w", store.Server, err)
	}
	dir := path.Join(store.siteDir(d.Env, d.Site), m.ID)
	for _, p := range m.Pieces {
		piece := path.Join(dir, p.Name)
		switch p.Kind {
		case "db":
			err = b.verifyDB(ctx, d, m.DBType, src, piece, p, v, out)
		case "files":
			err = verifyFiles(ctx, src, piece, p, v, out)
		default:
			err = fmt.Errorf("it holds a piece of kind %q this berth cannot test; upgrade berth", p.Kind)
		}
		if err != nil {
			return v, fmt.Errorf("backup %s of %s: %w: %w", m.ID, d.Site, ErrVerifyFailed, err)
		}
	}
	fmt.Fprintf(out, "%s: backup %s restores.\n", d.Site, m.ID)
	return v, nil
}

// verifyDB loads the dump piece into the scratch database and checks
// that every table of the dump is there, with rows when the dump had
// some; the scratch database is dropped whatever happened.
func (b *Backups) verifyDB(ctx context.Context, d SiteData, dbType string, src host.Host, piece string, p Piece, v *Verification, out io.Writer) (err error) {
	db := d.DB
	if db == nil || db.Type != dbType {
		return fmt.Errorf("it holds a %s database, but the site now has %s, so it has no server to load it into", dbType, dbTypeOf(db))
	}
	h, err := b.Hosts.Host(ctx, db.Server)
	if err != nil {
		return fmt.Errorf("connect to database server %s: %w", db.Server, err)
	}
	scratch := ScratchName(d.Env, d.Site)
	stats := newDumpStats(dbType)
	var tables map[string]int64
	if dbType == "sqlite" {
		v.Scratch = scratch + ".sqlite"
		tables, err = loadSQLiteScratch(ctx, h, src, piece, p, v.Scratch, stats)
	} else {
		if db.Admin == nil || scratch == db.Name {
			return fmt.Errorf("the database server %s has no administrator for a scratch database", db.Server)
		}
		v.Scratch = scratch
		tables, err = b.loadScratch(ctx, db, h, src, piece, p, scratch, stats)
	}
	if err != nil {
		return err
	}
	v.Tables = tables
	if err := stats.check(tables); err != nil {
		return err
	}
	var rows int64
	for _, n := range tables {
		rows += n
	}
	fmt.Fprintf(out, "%s: the %s dump loads into scratch database %s on %s: %d tables, %d rows; dropped.\n", d.Site, dbType, v.Scratch, db.Server, len(tables), rows)
	return nil
}

// loadScratch creates the scratch database on a MariaDB, MySQL or
// PostgreSQL server, loads the dump, counts its tables' rows and drops
// it.
func (b *Backups) loadScratch(ctx context.Context, db *SiteDB, h host.Host, src host.Host, piece string, p Piece, scratch string, stats *dumpStats) (tables map[string]int64, err error) {
	a := db.Admin
	if err := a.CreateScratch(ctx, h, scratch); err != nil {
		return nil, fmt.Errorf("create the scratch database %s on %s: %w", scratch, db.Server, err)
	}
	defer func() {
		if derr := a.DropScratch(context.WithoutCancel(ctx), h, scratch); derr != nil {
			err = errors.Join(err, fmt.Errorf("drop the scratch database %s on %s: %w; drop it by hand", scratch, db.Server, derr))
		}
	}()
	err = restorePiece(ctx, src, piece, p, func(r io.Reader) error {
		pr, pw := io.Pipe()
		done := make(chan error, 1)
		go func() {
			err := a.PlainDump(ctx, h, r, pw)
			if err == nil {
				// Read the piece to its end: its checksum is checked there.
				_, err = io.Copy(io.Discard, r)
			}
			pw.CloseWithError(err)
			done <- err
		}()
		lerr := a.LoadScratch(ctx, h, scratch, io.TeeReader(pr, stats))
		pr.CloseWithError(errStoppedReading)
		derr := <-done
		if derr != nil && !errors.Is(derr, errStoppedReading) {
			return fmt.Errorf("read the dump: %w", derr)
		}
		if lerr != nil {
			return fmt.Errorf("load the dump into the scratch database %s: %w", scratch, lerr)
		}
		return derr
	})
	if err != nil {
		return nil, err
	}
	tables, err = a.TableRows(ctx, h, scratch)
	if err != nil {
		return nil, fmt.Errorf("count the rows of the scratch database %s: %w", scratch, err)
	}
	return tables, nil
}

var errStoppedReading = errors.New("the scratch database stopped reading the dump")

// loadSQLiteScratch loads a SQLite dump into file name in a private
// temporary directory on the web server, counts its tables' rows and
// removes the directory.
func loadSQLiteScratch(ctx context.Context, h host.Host, src host.Host, piece string, p Piece, name string, stats *dumpStats) (tables map[string]int64, err error) {
	var tmp bytes.Buffer
	if err := runTo(ctx, h, []string{"mktemp", "-d", "-t", "berth-verify.XXXXXXXXXX"}, nil, &tmp); err != nil {
		return nil, fmt.Errorf("create a private temporary directory: %w", err)
	}
	dir := strings.TrimSpace(tmp.String())
	if !path.IsAbs(dir) {
		return nil, fmt.Errorf("mktemp on %s printed %q, not a directory", h.Name(), dir)
	}
	defer func() {
		if _, rerr := h.Run(context.WithoutCancel(ctx), []string{"rm", "-rf", "--", dir}, host.RunOptions{}); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove the scratch directory %s on %s: %w; remove it by hand", dir, h.Name(), host.WithStderr(rerr)))
		}
	}()
	file := path.Join(dir, name)
	err = restorePiece(ctx, src, piece, p, func(r io.Reader) error {
		var tail dumpTail
		if err := runTo(ctx, h, []string{"sqlite3", "-bail", file}, io.TeeReader(r, io.MultiWriter(stats, &tail)), io.Discard); err != nil {
			return fmt.Errorf("load the dump into %s: %w", file, err)
		}
		// Read the piece to its end: its checksum is checked there.
		if _, err := io.Copy(io.Discard, r); err != nil {
			return err
		}
		if err := tail.check(); err != nil {
			return fmt.Errorf("load the dump into %s: %w", file, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var list bytes.Buffer
	const q = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name;"
	if err := runTo(ctx, h, []string{"sqlite3", "-bail", "-readonly", file, q}, nil, &list); err != nil {
		return nil, fmt.Errorf("list the tables of %s: %w", file, err)
	}
	tables = map[string]int64{}
	var counts []string
	for line := range strings.Lines(list.String()) {
		if t := strings.TrimRight(line, "\r\n"); t != "" {
			counts = append(counts, "SELECT '"+strings.ReplaceAll(t, "'", "''")+"', COUNT(*) FROM \""+strings.ReplaceAll(t, `"`, `""`)+"\"")
			tables[t] = 0
		}
	}
	if len(counts) == 0 {
		return tables, nil
	}
	var res bytes.Buffer
	if err := runTo(ctx, h, []string{"sqlite3", "-bail", "-readonly", "-separator", "\t", file, strings.Join(counts, " UNION ALL ") + ";"}, nil, &res); err != nil {
		return nil, fmt.Errorf("count the rows of %s: %w", file, err)
	}
	for line := range strings.Lines(res.String()) {
		t, n, ok := strings.Cut(strings.TrimRight(line, "\r\n"), "\t")
		if !ok {
			continue
		}
		var c int64
		if _, err := fmt.Sscan(n, &c); err != nil {
			return nil, fmt.Errorf("the row count of table %s of %s is %q", t, file, n)
		}
		tables[t] = c
	}
	return tables, nil
}

// verifyFiles reads the files tarball to its end: every entry must be
// files or under files/ (no absolute path, no ..), every regular file
// readable to its size; the checksum is checked at the end.
func verifyFiles(ctx context.Context, src host.Host, piece string, p Piece, v *Verification, out io.Writer) error {
	err := restorePiece(ctx, src, piece, p, func(r io.Reader) error {
		tr := tar.NewReader(r)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("read the files tarball after %d files: %w", v.Files, err)
			}
			name := strings.TrimSuffix(hdr.Name, "/")
			if name != "files" && (!strings.HasPrefix(name, "files/") || path.Clean(name) != name) {
				return fmt.Errorf("the files tarball holds %q, outside files/", hdr.Name)
			}
			if hdr.Typeflag == tar.TypeReg {
				n, err := io.Copy(io.Discard, tr)
				if err != nil {
					return fmt.Errorf("read %s in the files tarball: %w", hdr.Name, err)
				}
				v.Files++
				v.Bytes += n
			}
		}
		// Read the piece to its end: its checksum is checked there.
		_, err := io.Copy(io.Discard, r)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: the files read back: %d files, %s.\n", v.Site, v.Files, HumanSize(v.Bytes))
	return nil
}

// dumpStats reads a dump's SQL as it streams by (an io.Writer): the
// tables it creates and whether it has rows for them. It keeps the start
// of each line only, so lines of any length cost no memory.
type dumpStats struct {
	engine string
	tables map[string]bool // table -> the dump has rows for it
	line   []byte          // the start of the current line
	copyTo string          // PostgreSQL: the table of the COPY block being read
}

func newDumpStats(engine string) *dumpStats {
	return &dumpStats{engine: engine, tables: map[string]bool{}}
}

const dumpLineKeep = 512

func (s *dumpStats) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := dumpLineKeep - len(s.line); room > 0 {
			s.line = append(s.line, chunk[:min(room, len(chunk))]...)
		}
		if i < 0 {
			break
		}
		s.endLine(string(s.line))
		s.line = s.line[:0]
		p = p[i+1:]
	}
	return n, nil
}

// endLine reads one line of the dump (its start).
func (s *dumpStats) endLine(line string) {
	if s.copyTo != "" {
		if line == `\.` {
			s.copyTo = ""
		} else {
			s.tables[s.copyTo] = true
		}
		return
	}
	switch {
	case strings.HasPrefix(line, "CREATE TABLE "):
		if t := tableName(strings.TrimPrefix(line, "CREATE TABLE ")); t != "" {
			if _, ok := s.tables[t]; !ok {
				s.tables[t] = false
			}
		}
	case strings.HasPrefix(line, "INSERT INTO "):
		if t := tableName(strings.TrimPrefix(line, "INSERT INTO ")); t != "" {
			s.tables[t] = true
		}
	case s.engine == "postgresql" && strings.HasPrefix(line, "COPY ") && strings.HasSuffix(line, "FROM stdin;"):
		s.copyTo = tableName(strings.TrimPrefix(line, "COPY "))
		if s.copyTo == "" {
			s.copyTo = "\x00" // an unreadable name: still skip its rows
		}
	}
}

// tableName reads the (possibly qualified, possibly quoted) table name at
// the start of s, unquoted: `t`, "t", public.t, public."T", IF NOT
// EXISTS "t". Names of SQLite's own tables are "".
func tableName(s string) string {
	s = strings.TrimPrefix(s, "IF NOT EXISTS ")
	var b strings.Builder
	for s != "" {
		switch q := s[0]; q {
		case '`', '"':
			end := strings.IndexByte(s[1:], q)
			if end < 0 {
				return ""
			}
			b.WriteString(s[1 : 1+end])
			s = s[2+end:]
		default:
			end := strings.IndexAny(s, " .(\t")
			if end < 0 {
				end = len(s)
			}
			b.WriteString(s[:end])
			s = s[end:]
		}
		if !strings.HasPrefix(s, ".") {
			break
		}
		b.WriteByte('.')
		s = s[1:]
	}
	name := b.String()
	if strings.HasPrefix(name, "sqlite_") {
		return ""
	}
	return name
}

// check compares the loaded tables with the dump's: every table of the
// dump exists, and has rows when the dump had some.
func (s *dumpStats) check(loaded map[string]int64) error {
	var problems []string
	for _, t := range slices.Sorted(maps.Keys(s.tables)) {
		if t == "\x00" {
			continue
		}
		n, ok := loaded[t]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("table %s of the dump is missing", t))
		case s.tables[t] && n == 0:
			problems = append(problems, fmt.Sprintf("table %s has no rows, the dump has some", t))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("the restored database differs from the dump: %s", strings.Join(problems, "; "))
	}
	return nil
}
