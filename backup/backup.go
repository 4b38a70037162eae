package backup

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/kind/filesync"
	"github.com/berthhq/berth/reconcile"
)

// A site's backup is a directory <root>/<env>/<site>/<id>/ on the backup
// server holding one gzipped piece per part of the site's data (the
// database dump, the files tarball) and manifest.json, written last: a
// directory without a manifest is an unfinished backup and is ignored.
// Every file is mode 0600 and every directory 0700: they hold the site's
// data. The manifest records each piece's size and SHA-256, which restore
// verifies before it touches anything.
//
// Data flows from the server that holds it to the backup server through
// the controller, compressed and hashed on the way: database dumps are
// made by the database server's own dump tool over the host (mariadb-dump
// or mysqldump --single-transaction, pg_dump -Fc, sqlite3 .dump), files by
// tar on the web server.

// SiteData is where one site's data lives: what a backup takes and a
// restore puts back.
type SiteData struct {
	Env  string
	Site string // the site's domain in the environment
	// Web is the server holding the site's directory SiteDir; its files
	// are SiteDir/files.
	Web     string
	SiteDir string
	DB      *SiteDB // nil: the site has no database
}

// SiteDB is a site's database.
type SiteDB struct {
	Type   string // mariadb | mysql | postgresql | sqlite
	Server string
	Name   string
	Path   string // sqlite: the database file on Server
	Admin  *database.Admin
	// Owner is the site's role on PostgreSQL: what a restore or copy
	// into this database creates is its (database.Admin.LoadAs).
	Owner string
}

// Store is where backups are kept: a directory on a server.
type Store struct {
	Server string
	Dir    string // absolute
}

// siteDir is the directory holding the backups of one site.
func (s Store) siteDir(env, site string) string { return path.Join(s.Dir, env, site) }

// Manifest describes one backup. It holds no secret.
type Manifest struct {
	ID       string    `json:"id"`
	Site     string    `json:"site"`
	Env      string    `json:"env"`
	Revision string    `json:"revision,omitempty"`
	Time     time.Time `json:"time"`
	Reason   string    `json:"reason"` // manual | scheduled | before restore | before deleting the site
	Berth    string    `json:"berth_version"`
	DBType   string    `json:"db_type,omitempty"`
	Pieces   []Piece   `json:"pieces"`
	// Warnings say what the backup holds other than a still image: the
	// files that changed while they were read (tarFiles).
	Warnings []string `json:"warnings,omitempty"`
}

// Reasons a backup is taken; only scheduled backups are pruned.
const (
	ReasonManual    = "manual"
	ReasonScheduled = "scheduled"
	ReasonRestore   = "before restore"
	ReasonDelete    = "before deleting the site"
)

// Piece is one file of a backup.
type Piece struct {
	Name    string `json:"name"` // file name in the backup directory
	Kind    string `json:"kind"` // db | files
	Size    int64  `json:"size"` // stored (compressed) bytes
	RawSize int64  `json:"raw_size"`
	SHA256  string `json:"sha256"` // of the stored file
}

// Size is the stored size of every piece.
func (m *Manifest) Size() int64 {
	var n int64
	for _, p := range m.Pieces {
		n += p.Size
	}
	return n
}

// Backups takes, lists, verifies, prunes and restores site backups.
type Backups struct {
	Hosts   reconcile.Hosts
	Version string           // berth's version, recorded in manifests
	Now     func() time.Time // nil: time.Now
}

func (b *Backups) now() time.Time {
	if b.Now != nil {
		return b.Now().UTC()
	}
	return time.Now().UTC()
}

// IDFormat is the time layout of backup IDs: sortable, in UTC. A second
// backup within one second gets a suffix (-1, -2, ...).
const IDFormat = "20060102T150405Z"

var idRE = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z(-[0-9]+)?$`)

// ValidID reports whether id has the form of a backup ID.
func ValidID(id string) bool { return idRE.MatchString(id) }

// Options describe why a backup is taken.
type Options struct {
	Revision string
	Reason   string // default ReasonManual
}

// Take backs the site up into store and returns its manifest. On error
// the unfinished backup directory is removed.
func (b *Backups) Take(ctx context.Context, d SiteData, store Store, o Options) (m *Manifest, err error) {
	dst, err := b.Hosts.Host(ctx, store.Server)
	if err != nil {
		return nil, fmt.Errorf("connect to backup server %s: %w", store.Server, err)
	}
	// Backups hold databases and uploads: the backups directory, its
	// environment's and its site's are 0700 (one that exists, 0755 from an
	// older berth or made by hand, is tightened), each backup's directory
	// 0700 and its files 0600.
	parent := store.siteDir(d.Env, d.Site)
	for _, p := range []string{store.Dir, path.Join(store.Dir, d.Env), parent} {
		if err := dst.EnsureDir(ctx, p, host.WriteOptions{Mode: 0o700}); err != nil {
			return nil, fmt.Errorf("create the backup directory %s (mode 0700) on %s: %w; make it writable by berth or set backups.dir in berth.yaml", p, store.Server, err)
		}
	}
	now := b.now()
	m = &Manifest{Site: d.Site, Env: d.Env, Revision: o.Revision, Time: now.Truncate(time.Second), Reason: cmp.Or(o.Reason, ReasonManual), Berth: b.Version}
	var dir string
	for i := 0; ; i++ {
		m.ID = now.Format(IDFormat)
		if i > 0 {
			m.ID += "-" + strconv.Itoa(i)
		}
		dir = path.Join(parent, m.ID)
		_, err := dst.Run(ctx, []string{"mkdir", "-m", "0700", "--", dir}, host.RunOptions{})
		if err == nil {
			break
		}
		if obs, oerr := dst.Observe(ctx, []string{dir}); oerr != nil || !obs[0].Exists || i > 100 {
			return nil, fmt.Errorf("create the backup directory %s on %s: %w", dir, store.Server, host.WithStderr(err))
		}
	}
	defer func() {
		if err != nil {
			dst.Run(context.WithoutCancel(ctx), []string{"rm", "-rf", "--", dir}, host.RunOptions{})
		}
	}()

	if db := d.DB; db != nil {
		src, err := b.Hosts.Host(ctx, db.Server)
		if err != nil {
			return nil, fmt.Errorf("connect to database server %s: %w", db.Server, err)
		}
		m.DBType = db.Type
		name := "db." + db.ext() + ".gz"
		p, err := copyPiece(ctx, dst, path.Join(dir, name), func(w io.Writer) error { return db.dump(ctx, src, w) })
		if err != nil {
			return nil, fmt.Errorf("back up the %s database %s of %s: %w", db.Type, db.Name, d.Site, err)
		}
		p.Name, p.Kind = name, "db"
		m.Pieces = append(m.Pieces, p)
	}
	if d.Web != "" && d.SiteDir != "" {
		src, err := b.Hosts.Host(ctx, d.Web)
		if err != nil {
			return nil, fmt.Errorf("connect to web server %s: %w", d.Web, err)
		}
		obs, err := src.Observe(ctx, []string{path.Join(d.SiteDir, "files")})
		if err != nil {
			return nil, fmt.Errorf("observe the files of %s on %s: %w", d.Site, d.Web, err)
		}
		if obs[0].IsDir() {
			const name = "files.tar.gz"
			var changed []string
			p, err := copyPiece(ctx, dst, path.Join(dir, name), func(w io.Writer) (err error) {
				changed, err = tarFiles(ctx, src, d.SiteDir, w)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("back up the files of %s from %s: %w", d.Site, d.Web, err)
			}
			p.Name, p.Kind = name, "files"
			m.Pieces = append(m.Pieces, p)
			if len(changed) > 0 {
				m.Warnings = append(m.Warnings, fmt.Sprintf("%d file(s) of %s changed while they were read, kept as read: %s", len(changed), d.Web, strings.Join(changed, "; ")))
			}
		}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := dst.WriteFile(ctx, path.Join(dir, "manifest.json"), append(data, '\n'), host.WriteOptions{Mode: 0o600}); err != nil {
		return nil, fmt.Errorf("write the manifest of backup %s on %s: %w", m.ID, store.Server, err)
	}
	return m, nil
}

// copyPiece streams what produce writes, gzipped, into the file p on dst
// (mode 0600) and returns its sizes and checksum.
func copyPiece(ctx context.Context, dst host.Host, p string, produce func(io.Writer) error) (Piece, error) {
	pr, pw := io.Pipe()
	raw := &counter{}
	done := make(chan error, 1)
	go func() {
		gz := gzip.NewWriter(pw)
		err := produce(io.MultiWriter(gz, raw))
		if err == nil {
			err = gz.Close()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	sum := sha256.New()
	stored := &counter{}
	tmp := p + ".part"
	_, err := dst.Run(ctx, []string{"sh", "-c", `umask 077 && cat > "$1"`, "berth-backup", tmp},
		host.RunOptions{Stdin: io.TeeReader(pr, io.MultiWriter(sum, stored))})
	pr.CloseWithError(errors.New("the backup server stopped reading"))
	perr := <-done
	if perr != nil {
		return Piece{}, perr
	}
	if err != nil {
		return Piece{}, fmt.Errorf("write %s on %s: %w", tmp, dst.Name(), host.WithStderr(err))
	}
	if _, err := dst.Run(ctx, []string{"mv", "-f", "--", tmp, p}, host.RunOptions{}); err != nil {
		return Piece{}, fmt.Errorf("rename %s on %s: %w", tmp, dst.Name(), host.WithStderr(err))
	}
	return Piece{Size: stored.n, RawSize: raw.n, SHA256: hex.EncodeToString(sum.Sum(nil))}, nil
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// runTo runs argv on h with stdin, its standard output to w; a failure
// carries the command's standard error.
func runTo(ctx context.Context, h host.Host, argv []string, stdin io.Reader, w io.Writer) error {
	var stderr bytes.Buffer
	_, err := h.Run(ctx, argv, host.RunOptions{Stdin: stdin, Stdout: w, Stderr: &stderr})
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%s on %s: %s: %w", argv[0], h.Name(), msg, err)
		}
		return fmt.Errorf("%s on %s: %w", argv[0], h.Name(), err)
	}
	return nil
}

func (db *SiteDB) ext() string {
	if db.Admin == nil {
		return "sql"
	}
	return db.Admin.DumpExt()
}

// dump writes the database's dump to w.
func (db *SiteDB) dump(ctx context.Context, h host.Host, w io.Writer) error {
	if db.Type == "sqlite" {
		return dumpSQLite(ctx, h, db.Path, w)
	}
	return db.Admin.Dump(ctx, h, db.Name, w)
}

// load replaces the database's content with the dump read from r.
func (db *SiteDB) load(ctx context.Context, h host.Host, r io.Reader) error {
	if db.Type == "sqlite" {
		return loadSQLite(ctx, h, db.Path, r)
	}
	return db.Admin.LoadAs(ctx, h, db.Name, db.Owner, r)
}

// Listed is a backup found on the backup server.
type Listed struct {
	Manifest
	// Verified: every piece's size and SHA-256 match the manifest.
	Verified bool   `json:"verified"`
	Problem  string `json:"problem,omitempty"` // why it is not verified
}

// List returns the finished backups of a site, oldest first, each
// verified against its manifest: one round trip reads every manifest,
// one more hashes every piece.
func (b *Backups) List(ctx context.Context, env, site string, store Store) ([]Listed, error) {
	h, list, err := b.manifests(ctx, env, site, store)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	sums, err := b.sums(ctx, h, store.siteDir(env, site))
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].Problem == "" {
			list[i].Problem = verify(&list[i].Manifest, sums)
			list[i].Verified = list[i].Problem == ""
		}
	}
	return list, nil
}

// Manifests returns the finished backups of a site, oldest first, as
// their manifests say, not verified (Verified false; Problem only for a
// manifest that cannot be read): one round trip, no piece hashed. The
// schedule and the pruning need no more, and run often.
func (b *Backups) Manifests(ctx context.Context, env, site string, store Store) ([]Listed, error) {
	_, list, err := b.manifests(ctx, env, site, store)
	return list, err
}

// manifests reads the manifests of a site's backups in one round trip.
func (b *Backups) manifests(ctx context.Context, env, site string, store Store) (host.Host, []Listed, error) {
	h, err := b.Hosts.Host(ctx, store.Server)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to backup server %s: %w", store.Server, err)
	}
	dir := store.siteDir(env, site)
	var out bytes.Buffer
	// Each manifest is preceded by its directory's name on a line.
	script := `cd "$1" 2>/dev/null || exit 0; for d in */; do d=${d%/}; [ -f "$d/manifest.json" ] || continue; printf '\036%s\n' "$d"; cat "$d/manifest.json"; done`
	if err := runTo(ctx, h, []string{"sh", "-c", script, "berth-backups", dir}, nil, &out); err != nil {
		return nil, nil, fmt.Errorf("list the backups of %s in %s on %s: %w", site, dir, store.Server, err)
	}
	var list []Listed
	for _, part := range strings.Split(out.String(), "\036")[1:] {
		id, body, _ := strings.Cut(part, "\n")
		if !idRE.MatchString(id) {
			continue
		}
		l := Listed{Manifest: Manifest{ID: id}}
		if err := json.Unmarshal([]byte(body), &l.Manifest); err != nil {
			l.Problem = "unreadable manifest: " + err.Error()
		} else if l.ID != id {
			l.Problem = "the manifest names backup " + l.ID
			l.ID = id
		}
		list = append(list, l)
	}
	slices.SortFunc(list, func(a, b Listed) int { return strings.Compare(a.ID, b.ID) })
	return h, list, nil
}

type fileSum struct {
	size int64
	sum  string
}

// sums hashes every file one level below the site's backup directories:
// "<id>/<piece>" -> size and SHA-256.
func (b *Backups) sums(ctx context.Context, h host.Host, dir string) (map[string]fileSum, error) {
	var out bytes.Buffer
	script := `cd "$1" || exit 1; for f in */*; do [ -f "$f" ] || continue; case $f in */manifest.json|*.part) continue;; esac; printf '%s %s ' "$(wc -c < "$f")" "$f"; sha256sum < "$f"; done`
	if err := runTo(ctx, h, []string{"sh", "-c", script, "berth-backups", dir}, nil, &out); err != nil {
		return nil, fmt.Errorf("hash the backups in %s on %s: %w", dir, h.Name(), err)
	}
	sums := map[string]fileSum{}
	for line := range strings.Lines(out.String()) {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		sums[f[1]] = fileSum{size: n, sum: f[2]}
	}
	return sums, nil
}

// verify returns why the stored pieces do not match m, "" when they do.
func verify(m *Manifest, sums map[string]fileSum) string {
	if len(m.Pieces) == 0 {
		return "the manifest lists no piece"
	}
	for _, p := range m.Pieces {
		s, ok := sums[m.ID+"/"+p.Name]
		switch {
		case !ok:
			return p.Name + " is missing"
		case s.size != p.Size:
			return fmt.Sprintf("%s has %d bytes, the manifest says %d", p.Name, s.size, p.Size)
		case s.sum != p.SHA256:
			return fmt.Sprintf("%s has SHA-256 %s, the manifest says %s", p.Name, s.sum, p.SHA256)
		}
	}
	return ""
}

// ErrCorrupt is wrapped by the error of a restore refused because the
// backup does not match its manifest.
var ErrCorrupt = errors.New("backup does not match its manifest")

// Restore puts backup id back into the site: it verifies every piece's
// checksum, takes a fresh backup of the site as it is (a failure stops the
// restore), then loads the database dump and replaces the files directory.
// It returns the manifest of the fresh backup.
func (b *Backups) Restore(ctx context.Context, d SiteData, store Store, id, revision string) (*Manifest, error) {
	return b.RestoreFrom(ctx, d, store, From{Env: d.Env, Site: d.Site, Store: store, ID: id}, revision)
}

// From names a backup to restore: of site Site in Env, on Store.
type From struct {
	Env, Site string
	Store     Store
	ID        string
}

// RestoreFrom is Restore of a backup of any site (a clone's source) into
// the site d, whose fresh backup goes into own.
func (b *Backups) RestoreFrom(ctx context.Context, d SiteData, own Store, from From, revision string) (*Manifest, error) {
	id := from.ID
	if !idRE.MatchString(id) {
		return nil, fmt.Errorf("%q is not a backup ID (like 20261125T123456Z); list them with berth backups", id)
	}
	list, err := b.List(ctx, from.Env, from.Site, from.Store)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(list, func(l Listed) bool { return l.ID == id })
	if i < 0 {
		return nil, fmt.Errorf("site %s in %s has no backup %s on %s; list them with berth backups", from.Site, from.Env, id, from.Store.Server)
	}
	m := list[i]
	if !m.Verified {
		return nil, fmt.Errorf("backup %s of %s is refused, nothing was changed: %w: %s; restore another backup", id, from.Site, ErrCorrupt, m.Problem)
	}
	if m.DBType != "" && (d.DB == nil || d.DB.Type != m.DBType) {
		return nil, fmt.Errorf("backup %s holds a %s database, but site %s now has %s; nothing was changed", id, m.DBType, d.Site, dbTypeOf(d.DB))
	}
	pre, err := b.Take(ctx, d, own, Options{Revision: revision, Reason: ReasonRestore})
	if err != nil {
		return nil, fmt.Errorf("the backup before the restore failed, nothing was restored: %w", err)
	}
	src, err := b.Hosts.Host(ctx, from.Store.Server)
	if err != nil {
		return pre, err
	}
	dir := path.Join(from.Store.siteDir(from.Env, from.Site), id)
	for _, p := range m.Pieces {
		var to host.Host
		var load func(io.Reader) error
		switch p.Kind {
		case "db":
			if to, err = b.Hosts.Host(ctx, d.DB.Server); err != nil {
				return pre, err
			}
			load = func(r io.Reader) error { return d.DB.load(ctx, to, r) }
		case "files":
			if to, err = b.Hosts.Host(ctx, d.Web); err != nil {
				return pre, err
			}
			script := `set -e; cd "$1"; rm -rf files.berth-restore; mkdir files.berth-restore; tar -C files.berth-restore -xf -; ` +
				`rm -rf files.berth-old; if [ -e files ]; then mv -T files files.berth-old; fi; mv -T files.berth-restore/files files; rm -rf files.berth-old files.berth-restore`
			load = func(r io.Reader) error {
				return runTo(ctx, to, []string{"sh", "-c", script, "berth-restore", d.SiteDir}, r, io.Discard)
			}
		default:
			return pre, fmt.Errorf("backup %s holds a piece of kind %q this berth cannot restore; upgrade berth", id, p.Kind)
		}
		if err := restorePiece(ctx, src, path.Join(dir, p.Name), p, load); err != nil {
			return pre, fmt.Errorf("restore the %s of %s from backup %s (the backup taken before, %s, holds what was there): %w", p.Kind, d.Site, id, pre.ID, err)
		}
	}
	return pre, nil
}

func dbTypeOf(db *SiteDB) string {
	if db == nil {
		return "none"
	}
	return db.Type
}

// restorePiece streams the piece from the backup server, gunzipped, into
// load, and checks its checksum again on the way.
func restorePiece(ctx context.Context, src host.Host, p string, want Piece, load func(io.Reader) error) error {
	pr, pw := io.Pipe()
	sum := sha256.New()
	go func() {
		err := runTo(ctx, src, []string{"cat", "--", p}, nil, io.MultiWriter(pw, sum))
		pw.CloseWithError(err)
	}()
	gz, err := gzip.NewReader(pr)
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("read %s: %w", p, err)
	}
	err = load(&checkedReader{r: gz, sum: sum, want: want.SHA256})
	pr.CloseWithError(errors.New("restore stopped reading"))
	return err
}

// checkedReader fails at EOF when the compressed stream's hash differs.
type checkedReader struct {
	r    io.Reader
	sum  hash.Hash
	want string
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF && hex.EncodeToString(c.sum.Sum(nil)) != c.want {
		return n, fmt.Errorf("the piece changed while it was read: %w", ErrCorrupt)
	}
	return n, err
}

// Prune removes the scheduled backups of a site beyond the newest keep;
// other backups (manual, before a restore or a deletion) are never pruned.
// It returns the IDs removed.
func (b *Backups) Prune(ctx context.Context, env, site string, store Store, keep int) ([]string, error) {
	list, err := b.Manifests(ctx, env, site, store)
	if err != nil {
		return nil, err
	}
	var sched []string
	for _, l := range list {
		if l.Reason == ReasonScheduled {
			sched = append(sched, l.ID)
		}
	}
	if len(sched) <= keep {
		return nil, nil
	}
	h, err := b.Hosts.Host(ctx, store.Server)
	if err != nil {
		return nil, err
	}
	gone := sched[:len(sched)-keep]
	for _, id := range gone {
		dir := path.Join(store.siteDir(env, site), id)
		if _, err := h.Run(ctx, []string{"rm", "-rf", "--", dir}, host.RunOptions{}); err != nil {
			return nil, fmt.Errorf("remove backup %s on %s: %w", dir, store.Server, host.WithStderr(err))
		}
	}
	return gone, nil
}

// DefaultDir is where backups go when berth.yaml does not say.
const DefaultDir = "/var/backups/berth"

// CopyDB replaces the content of the database to with a dump of from,
// streamed from one server to the other through berth (nothing is written
// to a disk on the way): a migration's move of a site's database. from
// is only read. Both must be of one engine (MariaDB and MySQL count as
// one; a SQLite file only goes to a SQLite file).
func (b *Backups) CopyDB(ctx context.Context, from, to *SiteDB) error {
	engine := func(db *SiteDB) string { return strings.Replace(dbTypeOf(db), "mysql", "mariadb", 1) }
	if engine(from) != engine(to) {
		return fmt.Errorf("the database of %s is %s and the target's %s: berth cannot convert a database between engines; keep the engine, or move the data by hand", from.Server, from.Type, to.Type)
	}
	src, err := b.Hosts.Host(ctx, from.Server)
	if err != nil {
		return err
	}
	dst, err := b.Hosts.Host(ctx, to.Server)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	dumped := make(chan error, 1)
	go func() {
		err := from.dump(ctx, src, pw)
		pw.CloseWithError(err)
		dumped <- err
	}()
	err = to.load(ctx, dst, pr)
	pr.CloseWithError(errors.New("the load stopped reading"))
	if derr := <-dumped; derr != nil {
		return fmt.Errorf("dump %s on %s: %w", cmp.Or(from.Name, from.Path), from.Server, derr)
	}
	if err != nil {
		return fmt.Errorf("load it into %s on %s: %w", cmp.Or(to.Name, to.Path), to.Server, err)
	}
	return nil
}

// Sanitize runs a clone's sanitize step, script, in its database with
// no more rights than the database's own: SQLite's shell in its -safe
// mode as the site's user runAs (no dot-command reaches the file system),
// a MariaDB or PostgreSQL database as a user or role made for the step
// (database.ExecConfined; on PostgreSQL a member of the database's
// owning role, db.Owner).
func (b *Backups) Sanitize(ctx context.Context, db *SiteDB, script []byte, runAs string) error {
	h, err := b.Hosts.Host(ctx, db.Server)
	if err != nil {
		return err
	}
	if db.Type == "sqlite" {
		argv := []string{"sqlite3", "-safe", "-bail", db.Path}
		if runAs != "" {
			argv = append([]string{"runuser", "-u", runAs, "--"}, argv...)
		}
		return runTo(ctx, h, argv, bytes.NewReader(script), io.Discard)
	}
	return db.Admin.ExecConfined(ctx, h, db.Name, db.Owner, bytes.NewReader(script))
}

// Tables lists the tables of the database (PostgreSQL's as
// schema.table), sorted.
func (b *Backups) Tables(ctx context.Context, db *SiteDB) ([]string, error) {
	h, err := b.Hosts.Host(ctx, db.Server)
	if err != nil {
		return nil, err
	}
	if db.Type == "sqlite" {
		var out bytes.Buffer
		q := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name;"
		if err := runTo(ctx, h, []string{"sqlite3", "-readonly", db.Path, q}, nil, &out); err != nil {
			return nil, err
		}
		return strings.Fields(out.String()), nil
	}
	rows, err := db.Admin.TableRows(ctx, h, db.Name)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(rows)), nil
}

// Empty empties the database: what a clone whose sanitize step failed
// is left with, so that no unsanitized copy is ever served.
func (b *Backups) Empty(ctx context.Context, db *SiteDB) error {
	h, err := b.Hosts.Host(ctx, db.Server)
	if err != nil {
		return err
	}
	if db.Admin != nil {
		return db.Admin.EmptyAs(ctx, h, db.Name, db.Owner)
	}
	return db.load(ctx, h, strings.NewReader("BEGIN TRANSACTION;\n"+sqliteDumpEnd))
}

// tarFiles writes a tar of siteDir/files on h to w. A site being written
// to while it is read (a log, an upload) is backed up as read rather than
// not at all: tar's exit status 1 with nothing but warnings that files
// changed (filesync.TarChanged) is a backup, and those warnings are
// returned; anything else fails.
func tarFiles(ctx context.Context, h host.Host, siteDir string, w io.Writer) ([]string, error) {
	var stderr bytes.Buffer
	_, err := h.Run(ctx, []string{"tar", "-C", siteDir, "-cf", "-", "files"}, host.RunOptions{Stdout: w, Stderr: &stderr})
	if err == nil {
		return nil, nil
	}
	if changed, ok := filesync.TarChanged(err, stderr.Bytes()); ok {
		return changed, nil
	}
	if msg := strings.TrimSpace(stderr.String()); msg != "" {
		return nil, fmt.Errorf("tar on %s: %s: %w", h.Name(), msg, err)
	}
	return nil, fmt.Errorf("tar on %s: %w", h.Name(), err)
}
