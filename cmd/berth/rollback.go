package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"syscall"
	"time"

	"github.com/berthhq/berth/desired"
)

// runRollbackMigration is berth rollback-migration: a site that a
// finished migration moved, within its grace period, goes back to the
// server it left, with the data written since (a fresh backup of the
// target first), without a commit. It records a hold (desired/holds.go)
// and runs berth apply: the same pipeline, which plans the move back as
// the migration a revert of the commit would be. The hold keeps the site
// there while the revision still places it on the target; --release
// forgets it.
func runRollbackMigration(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rollback-migration", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f planFlags
	f.register(fs)
	f.registerWait(fs)
	f.registerRev(fs, true)
	autoApprove := fs.Bool("auto-approve", false, "apply without asking (for scripts and CI)")
	platform := fs.String("platform", "", "the platform the site goes back to, when several of its type are on the server it left")
	release := fs.Bool("release", false, "forget the site's hold instead: the next apply moves it where the revision places it")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: berth rollback-migration SITE --env ENV [--repo DIR] [--auto-approve] [flags]\n       berth rollback-migration --release SITE --env ENV\n\n"+
			"Moves a site that a finished migration moved back to the server it left, within\n"+
			"the migration's grace period, with the data written since: the move back is a\n"+
			"migration of its own (a fresh backup of the target, files and database copied\n"+
			"back in a maintenance window, health check, switch; the target disabled and\n"+
			"kept). The site is held there while the revision still places it on the\n"+
			"target: every plan says so. Reverting the commit ends the hold; --release\n"+
			"forgets it, and the next apply moves the site forward again.\n"+
			"Exit status: %d applied (or released), %d error or not approved, %d usage error.\n", exitOK, exitError, exitUsage)
		fs.PrintDefaults()
	}
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return exitFor(usageError("give one SITE"), "rollback-migration", stderr)
	}
	if !*release && !*autoApprove && !canAsk(os.Stdin, stdout) {
		return exitFor(errNoApproval, "rollback-migration", stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	site, err := holdSite(ctx, &f, pos[0], *platform, *release, stdout, stderr)
	switch {
	case err != nil:
		return exitFor(err, "rollback-migration", stderr)
	case *release:
		return exitOK
	}
	err = apply(ctx, &f, *autoApprove, os.Stdin, stdout, stderr)
	if errors.Is(err, errCancelled) {
		// Not approved: nothing moved, so nothing is held either.
		if rerr := releaseHold(ctx, &f, site, stderr); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		return exitFor(err, "rollback-migration", stderr)
	}
	return exitOK
}

// holdSite records the hold that moves site back (desired.Rollback), or
// forgets it (release); it returns the site's name.
func holdSite(ctx context.Context, f *planFlags, name, platform string, release bool, stdout, stderr io.Writer) (string, error) {
	registerGitToken(f.git)
	l, err := f.load(stderr)
	if err != nil {
		return "", err
	}
	s, err := findSite(l.res, name)
	if err != nil {
		return "", err
	}
	store, err := l.lock(ctx, &f.envFlags, "berth rollback-migration", stderr)
	if err != nil {
		return "", err
	}
	defer store.Close()
	if release {
		ok, err := store.DeleteHold(ctx, l.res.Environment, s.Name)
		switch {
		case err != nil:
			return "", err
		case !ok:
			return "", usageError(fmt.Sprintf("site %s is not held in %s", s.Name, l.res.Environment))
		}
		fmt.Fprintf(stdout, "Released site %s: the next apply of %s moves it where the revision places it (platform %s).\n", s.Name, l.res.Environment, s.Platform)
		return s.Name, nil
	}
	holds, err := store.Holds(ctx, l.res.Environment)
	if err != nil {
		return "", err
	}
	for _, h := range holds {
		if h.Site == s.Name && h.RevPlatform == s.Platform {
			return "", usageError(fmt.Sprintf("site %s is already held on platform %s (since %s); berth apply finishes a move back that did not", s.Name, h.Platform, h.At.UTC().Format(time.RFC3339)))
		}
	}
	e, err := f.backupsOf(l)
	if err != nil {
		return "", err
	}
	defer e.conn.Close()
	now := time.Now
	if migrationClock != nil {
		now = migrationClock
	}
	hold, err := desired.Rollback(ctx, l.res, store, e.conn, l.stateDir, s.Name, platform, now())
	if err != nil {
		return "", err
	}
	if u, err := user.Current(); err == nil {
		hold.By = u.Username
	}
	if err := store.PutHold(ctx, hold); err != nil {
		return "", err
	}
	fmt.Fprintf(stderr, "berth: site %s is held on platform %s in %s; moving it back\n", s.Name, hold.Platform, l.res.Environment)
	return s.Name, nil
}

// releaseHold forgets the hold of site after a move back that was not
// approved.
func releaseHold(ctx context.Context, f *planFlags, site string, stderr io.Writer) error {
	l, err := f.load(io.Discard)
	if err != nil {
		return err
	}
	store, err := l.lock(ctx, &f.envFlags, "berth rollback-migration", stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	_, err = store.DeleteHold(ctx, l.res.Environment, site)
	return err
}
