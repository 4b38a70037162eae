package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthhq/berth/adopt"
	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
)

func runImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f envFlags
	f.register(fs, true)
	var pairs stringList
	fs.Var(&pairs, "db", "SITE=DATABASE: give an imported site this database of the server (repeatable); a database named as berth names the site's is paired by itself")
	php := fs.String("php", spec.DefaultPHP, "PHP version whose PHP-FPM pools are read")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `Usage: berth import --env ENV [--repo DIR] [--db SITE=DATABASE] SERVER

Reads the hand-made sites of SERVER (a Server of the repo): the nginx or
apache vhosts of its conf_dir, the PHP-FPM pools of its pool_dir, their
document roots and the databases of its db service. Writes a Platform
(serving the document root in place) and a Site into the repo for each
site berth can express, never over an existing file, and records the vhost
and the database as adopted: the first plan leaves them as they are, berth
rewrites the vhost at the repo's first change to the site, and it never
deletes them. What it cannot model is listed with the reason.
Exit status: %d imported (or nothing to import), %d error, %d usage error.
`, exitOK, exitError, exitUsage)
		fs.PrintDefaults()
	}
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "berth import: want one SERVER, got %d arguments\n", len(pos))
		return exitUsage
	}
	db := map[string]string{}
	for _, p := range pairs {
		site, name, ok := strings.Cut(p, "=")
		if !ok || site == "" || name == "" {
			fmt.Fprintf(stderr, "berth import: --db %q: want SITE=DATABASE\n", p)
			return exitUsage
		}
		db[site] = name
	}
	if err := importServer(context.Background(), &f, pos[0], *php, db, stdout, stderr); err != nil {
		return exitFor(err, "import", stderr)
	}
	return exitOK
}

// importServer is berth import: read, model, write, then record what was
// adopted in f.env's inventory.
func importServer(ctx context.Context, f *envFlags, server, php string, pairs map[string]string, stdout, stderr io.Writer) error {
	if err := spec.RulePHPVersion.Check(php); err != nil {
		return usageError(fmt.Sprintf("--php %q: %v", php, err))
	}
	l, err := f.loadDir(stderr)
	if err != nil {
		return err
	}
	var srv *spec.ResolvedServer
	for i := range l.res.Servers {
		if l.res.Servers[i].Name == server {
			srv = &l.res.Servers[i]
		}
	}
	if srv == nil {
		return usageError(fmt.Sprintf("server %s is not declared in environment %s: declare it in servers/ first (kind: Server), then import it", server, f.env))
	}
	s := *srv
	if s.Local() {
		s = s.WithBase(l.stateDir)
	}
	conn := newConnector(l.res, sshOptions{keyFiles: f.keyFiles, knownHosts: f.knownHosts})
	defer conn.Close()
	h, err := conn.Host(ctx, server)
	if err != nil {
		return err
	}
	found, err := adopt.Read(ctx, h, s, php)
	if err != nil {
		return err
	}
	taken := map[string]bool{}
	for _, x := range l.res.Sites {
		taken["site/"+x.Name] = true
	}
	for _, x := range l.res.Platforms {
		taken["platform/"+x.Name] = true
	}
	for _, dir := range []string{"sites", "platforms"} {
		entries, err := os.ReadDir(filepath.Join(f.repo, dir))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, e := range entries {
			taken[dir+"/"+e.Name()] = true
		}
	}
	res := adopt.Model(adopt.Input{Found: found, Server: s, Env: f.env, Suffix: l.res.DomainSuffix, PHP: php, Pairs: pairs, Taken: taken})

	// Until what was adopted is recorded, a failure removes the files
	// written: a rerun starts from the same repo.
	var written []string
	recorded := false
	defer func() {
		if !recorded && len(written) > 0 {
			for _, p := range written {
				os.Remove(p)
			}
			fmt.Fprintf(stderr, "berth import: the %d files written were removed again; nothing was recorded\n", len(written))
		}
	}()
	for _, file := range res.Files {
		p := filepath.Join(f.repo, filepath.FromSlash(file.Path))
		if err := createNew(p, file.Data); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		written = append(written, p)
	}
	for _, sk := range res.Skipped {
		fmt.Fprintf(stdout, "not imported: %s: %s\n", sk.What, sk.Reason)
	}
	if len(res.Sites) == 0 {
		fmt.Fprintf(stdout, "berth import: nothing on %s that berth can model; nothing was written\n", server)
		return nil
	}

	// The repo with the new files must load; then what berth adopts is
	// recorded against the desired state built from it, as apply builds it.
	l2, err := f.loadDir(stderr)
	if err != nil {
		return fmt.Errorf("the repo with the imported files does not load: %w", err)
	}
	store, err := l2.lock(ctx, f, "berth import", stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	in := l2.input(store, f, conn)
	in.Code = nil // the imported sites' platforms are served in place: nothing to fetch
	_, d, err := desired.Prepare(ctx, in, nil)
	if err != nil {
		return err
	}
	if err := desired.StoreInventory(store).SaveRecords(ctx, f.env, l2.revision, adoptedRecords(d, res.Sites)); err != nil {
		return fmt.Errorf("record what berth adopted: %w", err)
	}
	recorded = true
	for _, file := range res.Files {
		fmt.Fprintf(stdout, "wrote %s\n", file.Path)
	}
	for _, st := range res.Sites {
		adopted := st.Vhost
		if st.Database != "" {
			adopted += ", database " + st.Database
		}
		fmt.Fprintf(stdout, "imported %s (platform %s): adopted %s\n", st.Name, st.Platform, adopted)
	}
	fmt.Fprintf(stdout, "berth import: %d sites imported from %s, %d things not imported; next: berth validate, then berth plan --env %s (it leaves the hand-made vhosts as they are and shows only what berth adds)\n",
		len(res.Sites), server, len(res.Skipped), f.env)
	return nil
}

// loadDir reads and validates the repo as its files are on disk, a Git
// work tree's too (import writes its files there; they reach Git's
// objects, which plan and apply read, once committed), and resolves
// f.env.
func (f *envFlags) loadDir(stderr io.Writer) (*loaded, error) {
	if f.env == "" {
		return nil, usageError("--env is required")
	}
	if st, err := os.Stat(f.repo); err != nil || !st.IsDir() {
		return nil, usageError(fmt.Sprintf("%s is not a directory", f.repo))
	}
	fsys, err := source.OpenDirFS(f.repo)
	if err != nil {
		return nil, usageError(err.Error())
	}
	repo, err := loadFS(fsys, stderr)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(f.stateDir)
	if err != nil {
		return nil, err
	}
	l := &loaded{fsys: fsys, revision: "dir:" + repo.Digest[:12], stateDir: dir}
	if err := l.resolve(repo, f.env); err != nil {
		return nil, err
	}
	if l.removed {
		return nil, l.unknown
	}
	return l, nil
}

// adoptedRecords are the inventory records of what import adopted: each
// imported site's vhost (at the path berth keeps it, kept as found) and
// its database, marked Adopted and Imported; the vhost also AsFound.
func adoptedRecords(d *reconcile.Desired, sites []adopt.Site) []reconcile.Record {
	vhosts := map[string]string{}
	withDB := map[string]bool{}
	for _, s := range sites {
		vhosts[s.Domain] = s.Vhost
		withDB[s.Domain] = s.Database != ""
	}
	var recs []reconcile.Record
	for _, r := range d.Resources {
		vhost, ok := vhosts[r.Site()]
		if !ok {
			continue
		}
		isDB := (r.Kind() == database.KindMySQL || r.Kind() == database.KindPostgres) && withDB[r.Site()]
		if r.Path() != vhost && !isDB {
			continue
		}
		rec := r.Record()
		rec.Adopted, rec.Imported, rec.AsFound = true, true, !isDB
		recs = append(recs, rec)
	}
	return recs
}

// createNew writes a new file at p, its directory created when missing;
// an existing file of that name (or a link) is an error, never replaced.
func createNew(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return errors.Join(err, f.Close())
}
