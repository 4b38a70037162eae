package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/spec"
)

// runSyncData is berth sync-data: the data of a site copied from another
// environment (a fresh backup of it there), restored into the site of
// --env after its own backup, then sanitized, as a clone is
// (desired.SyncData). Never into production without --into-production.
func runSyncData(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sync-data", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f envFlags
	f.register(fs, true)
	fs.Bool("no-color", false, "no colour (berth never colours this output)")
	f.registerWait(fs)
	from := fs.String("from", "", "environment the data comes from (default: the site's from_env)")
	intoProduction := fs.Bool("into-production", false, "allow --env to be a production environment (named production, or following main or master)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: berth sync-data SITE --from ENV --env ENV [--repo DIR]\n\nCopies the site's data down from environment --from (its clone_from's site there,\nelse the site of its own name): a fresh backup of it, restored into the site of\n--env after the site's own backup, its files given to the site's user, then the\nsanitize step of the site or its platform. On any failure the site's database\nis emptied again, so nothing unsanitized is served. The source is only read.")
		fs.PrintDefaults()
	}
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return exitFor(usageError("give one SITE"), "sync-data", stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := f.load(stderr)
	if err != nil {
		return exitFor(err, "sync-data", stderr)
	}
	if isProduction(l.res) && !*intoProduction {
		return exitFor(usageError(fmt.Sprintf("environment %s is production: berth copies data down, never into production, unless --into-production says so", l.res.Environment)), "sync-data", stderr)
	}
	repo, err := spec.Load(l.fsys)
	if err != nil {
		return exitFor(err, "sync-data", stderr)
	}
	site := pos[0]
	if s, err := findSite(l.res, site); err == nil {
		site = s.Name
	}
	cl, err := spec.DataFrom(repo, l.res, site, *from)
	if err != nil {
		return exitFor(usageError(err.Error()), "sync-data", stderr)
	}
	// The source's servers are reached for reading, as a clone's.
	l.res = l.res.WithClone(site, cl)
	e, err := f.backupsOf(l)
	if err != nil {
		return exitFor(err, "sync-data", stderr)
	}
	defer e.conn.Close()
	// It replaces a site's database and files: never while an apply or
	// berth serve converges the environment.
	held, err := l.lock(ctx, &f, "berth sync-data", stderr)
	if err != nil {
		return exitFor(err, "sync-data", stderr)
	}
	defer held.Close()
	if err := desired.SyncData(ctx, l.res, l.stateDir, l.revision, l.fsys, e.b, e.conn, site, cl, desired.OperatorConsent); err != nil {
		return exitFor(err, "sync-data", stderr)
	}
	how := "as it is (no sanitize step)"
	if cl.Sanitize != nil && cl.Sanitize.Shown() != "" {
		how = "sanitized with " + cl.Sanitize.Shown()
	}
	fmt.Fprintf(stdout, "Copied the data of %s/%s into %s/%s, %s.\n", cl.Env, cl.Site, l.res.Environment, site, how)
	return 0
}

// isProduction reports whether res is a production environment, which
// berth sync-data does not write without --into-production.
func isProduction(res *spec.Resolved) bool { return spec.IsProduction(res.Environment, res.Branch) }
