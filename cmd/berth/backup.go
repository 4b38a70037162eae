package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/berthhq/berth/backup"
	"github.com/berthhq/berth/desired"
)

// backupEnv is what the backup commands share: a loaded repo and the
// connections to its servers.
type backupEnv struct {
	l    *loaded
	b    *backup.Backups
	conn *connector
}

func (f *envFlags) backups(stderr io.Writer) (*backupEnv, error) {
	l, err := f.load(stderr)
	if err != nil {
		return nil, err
	}
	return f.backupsOf(l)
}

// backupsOf is backups of a loaded revision.
func (f *envFlags) backupsOf(l *loaded) (*backupEnv, error) {
	conn := newConnector(l.res, sshOptions{keyFiles: f.keyFiles, knownHosts: f.knownHosts})
	return &backupEnv{l: l, conn: conn, b: &backup.Backups{Hosts: conn, Version: version}}, nil
}

// site finds the site by any of its names (see findSite).
func (e *backupEnv) site(name string) (backup.SiteData, backup.Store, error) {
	if s, err := findSite(e.l.res, name); err == nil {
		name = s.Name
	}
	return desired.SiteDataOf(e.l.res, name, e.l.stateDir)
}

// store is where the backups of site are, also when the repo no longer
// declares it (then only backups.server says where).
func (e *backupEnv) store(site string) (env, domain string, store backup.Store, err error) {
	d, store, err := e.site(site)
	if errors.Is(err, desired.ErrNoSite) && e.l.res.Backups.Server != "" {
		store, err = desired.BackupStoreOf(e.l.res, e.l.res.Backups.Server, e.l.stateDir)
		return e.l.res.Environment, site, store, err
	}
	return d.Env, d.Site, store, err
}

func runBackup(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "verify" {
		return runBackupVerify(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f envFlags
	f.register(fs, true)
	fs.Bool("no-color", false, "no colour (berth never colours this output)")
	f.registerWait(fs)
	due := fs.Bool("due", false, "take the scheduled backups that are due (per site backup.schedule) and prune each site's scheduled backups beyond backup.keep")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: berth backup SITE --env ENV [--repo DIR]\n       berth backup --due --env ENV [--repo DIR]\n       berth backup verify SITE [BACKUP] --env ENV [--repo DIR]\n\nBacks a site up (database dump and files, compressed, each checksummed,\nwith a manifest) into the backup directory on the backup server\n(berth.yaml backups:). With --due, takes every scheduled backup that is due.\nberth backup verify restore-tests a backup (see berth backup verify --help).")
		fs.PrintDefaults()
	}
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if !*due && len(pos) > 0 && pos[0] == "verify" {
		// berth backup --env ENV verify SITE: the flags came first.
		return backupVerify(&f, pos[1:], stdout, stderr)
	}
	if *due != (len(pos) == 0) || len(pos) > 1 {
		return exitFor(usageError("give one SITE, or --due"), "backup", stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := f.backups(stderr)
	if err != nil {
		return exitFor(err, "backup", stderr)
	}
	defer e.conn.Close()
	// A backup writes on the backup server, and must not run while an
	// apply (or berth serve) changes the site or prunes it after a
	// deletion backup.
	held, err := e.l.lock(ctx, &f, "berth backup", stderr)
	if err != nil {
		return exitFor(err, "backup", stderr)
	}
	defer held.Close()
	if *due {
		err = e.due(ctx, stdout)
	} else {
		err = e.one(ctx, pos[0], stdout)
	}
	if err != nil {
		return exitFor(err, "backup", stderr)
	}
	return 0
}

func (e *backupEnv) one(ctx context.Context, site string, stdout io.Writer) error {
	d, store, err := e.site(site)
	if err != nil {
		return err
	}
	m, err := e.b.Take(ctx, d, store, backup.Options{Revision: e.l.revision, Reason: backup.ReasonManual})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Backup %s of %s: %s on %s.\n", m.ID, d.Site, backup.HumanSize(m.Size()), store.Server)
	for _, w := range m.Warnings {
		fmt.Fprintf(stdout, "Warning: %s\n", w)
	}
	return nil
}

// due takes the scheduled backups that are due (package backup).
func (e *backupEnv) due(ctx context.Context, stdout io.Writer) error {
	_, err := e.b.Due(ctx, desired.ScheduledBackups(e.l.res, e.l.stateDir), e.l.revision, time.Now(), stdout)
	return err
}

func runBackups(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backups", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f envFlags
	f.register(fs, true)
	fs.Bool("no-color", false, "no colour (berth never colours this output)")
	asJSON := fs.Bool("json", false, "print the backups as JSON")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: berth backups SITE --env ENV [--repo DIR] [--json]\n\nLists a site's backups, oldest first, each verified against its manifest.")
		fs.PrintDefaults()
	}
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return exitFor(usageError("give one SITE"), "backups", stderr)
	}
	e, err := f.backups(stderr)
	if err != nil {
		return exitFor(err, "backups", stderr)
	}
	defer e.conn.Close()
	env, site, store, err := e.store(pos[0])
	if err == nil {
		var list []backup.Listed
		if list, err = e.b.List(context.Background(), env, site, store); err == nil {
			err = printBackups(stdout, site, store, list, *asJSON)
		}
	}
	if err != nil {
		return exitFor(err, "backups", stderr)
	}
	return 0
}

func printBackups(w io.Writer, site string, store backup.Store, list []backup.Listed, asJSON bool) error {
	if asJSON {
		if list == nil {
			list = []backup.Listed{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		fmt.Fprintf(w, "%s has no backups on %s.\n", site, store.Server)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTIME\tREASON\tDB\tSIZE\tVERIFIED")
	for _, l := range list {
		ok := "yes"
		if !l.Verified {
			ok = "NO: " + l.Problem
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", l.ID, l.Time.Format(time.RFC3339), l.Reason, orDash(l.DBType), backup.HumanSize(l.Size()), ok)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runRestore(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f envFlags
	f.register(fs, true)
	fs.Bool("no-color", false, "no colour (berth never colours this output)")
	f.registerWait(fs)
	id := fs.String("backup", "", "ID of the backup to restore (see berth backups)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: berth restore SITE --backup ID --env ENV [--repo DIR]\n\nVerifies every checksum of the backup, takes a fresh backup of the site,\nthen restores the site's database and files from the backup; the files\nof a platform that syncs them (files: { mode: sync }) are copied from its\nprimary to its other web servers.")
		fs.PrintDefaults()
	}
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || *id == "" {
		return exitFor(usageError("give one SITE and --backup ID"), "restore", stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := f.backups(stderr)
	if err != nil {
		return exitFor(err, "restore", stderr)
	}
	defer e.conn.Close()
	// A restore replaces a site's database and files: never while an
	// apply or berth serve converges the site.
	held, err := e.l.lock(ctx, &f, "berth restore", stderr)
	if err != nil {
		return exitFor(err, "restore", stderr)
	}
	defer held.Close()
	site := pos[0]
	if s, err := findSite(e.l.res, site); err == nil {
		site = s.Name
	}
	if _, err := desired.RestoreSite(ctx, e.b, e.l.res, e.l.stateDir, e.conn, site, *id, e.l.revision, stdout); err != nil {
		return exitFor(err, "restore", stderr)
	}
	return 0
}

func runBackupVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("backup verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f envFlags
	f.register(fs, true)
	fs.Bool("no-color", false, "no colour (berth never colours this output)")
	f.registerWait(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: berth backup verify SITE [BACKUP] --env ENV [--repo DIR]\n\n"+
			"Restore-tests a backup of SITE (the newest when no BACKUP ID is given), as\n"+
			"berth serve does at each site's backup.verify: checks every piece against\n"+
			"the manifest, loads the database dump into a scratch database berth owns\n"+
			"(berth_verify_<hash>) on the site's database server, checks that every\n"+
			"table of the dump is there with its rows, drops it, and reads the files\n"+
			"back. The site itself is not touched. It exits 0 when the backup restores,\n"+
			"1 when it does not or the test could not run (the reason on stderr).")
		fs.PrintDefaults()
	}
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	return backupVerify(&f, pos, stdout, stderr)
}

// backupVerify restore-tests backup pos[1] (the newest when not given) of
// site pos[0].
func backupVerify(f *envFlags, pos []string, stdout, stderr io.Writer) int {
	if len(pos) < 1 || len(pos) > 2 {
		return exitFor(usageError("give one SITE and optionally a BACKUP ID"), "backup verify", stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := f.backups(stderr)
	if err != nil {
		return exitFor(err, "backup verify", stderr)
	}
	defer e.conn.Close()
	// The scratch database has one name per site: never two verifications
	// of a site at once, nor one while berth serve verifies.
	held, err := e.l.lock(ctx, f, "berth backup verify", stderr)
	if err != nil {
		return exitFor(err, "backup verify", stderr)
	}
	defer held.Close()
	d, store, err := e.site(pos[0])
	if err != nil {
		return exitFor(err, "backup verify", stderr)
	}
	id := ""
	if len(pos) == 2 {
		id = pos[1]
	}
	if _, err := e.b.Verify(ctx, d, store, id, stdout); err != nil {
		return exitFor(err, "backup verify", stderr)
	}
	return 0
}
