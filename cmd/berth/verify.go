package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// runVerify is Aegir's verify: re-render everything of one site, compare
// it with what its servers hold, and fix the drift. It is apply limited to
// the site and what it depends on (its directories, its platform's
// release): nothing of another site is checked, changed or pruned. It
// also runs the site's install when its marker is missing.
func runVerify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f planFlags
	f.register(fs)
	f.registerWait(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: berth verify SITE --env ENV [--repo DIR] [flags]\n\nRe-renders everything of one site, shows what drifted and fixes it, without\nasking: nothing of other sites is touched. Runs the site's install again when\nits marker (.berth-installed in the site's directory) is missing.\nExit status: 0 verified (nothing to do, or fixed), 1 error.")
		fs.PrintDefaults()
	}
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := applySites(ctx, &f, pos, true, os.Stdin, stdout, stderr); err != nil {
		return exitFor(err, "verify", stderr)
	}
	return 0
}
