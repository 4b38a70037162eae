package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/berthhq/berth/spec"
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
		fmt.Fprintf(stderr, "Usage: berth verify SITE --env ENV [--repo DIR] [flags]\n\nRe-renders everything of one site, shows what drifted and fixes it, without\nasking: nothing of other sites is touched. Runs the site's install again when\nits marker (.berth-installed in the site's directory) is missing. SITE is any\nname of the site: its name or an alias, with or without the environment's\ndomain_suffix, in Unicode or punycode.\nExit status: %d verified (nothing to do, or fixed), %d error, %d usage error.\n",
			exitOK, exitError, exitUsage)
		fs.PrintDefaults()
	}
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return exitFor(usageError(fmt.Sprintf("give one SITE, not %d", len(pos))), "verify", stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := applySites(ctx, &f, pos, true, os.Stdin, stdout, stderr); err != nil {
		return exitFor(err, "verify", stderr)
	}
	return exitOK
}

// findSite returns the site of res that name names: its name in the repo,
// or any of its domains (main name or alias), with or without the
// environment's domain_suffix, in Unicode or punycode, in any case. A name
// no site has is a usage error.
func findSite(res *spec.Resolved, name string) (*spec.ResolvedSite, error) {
	var forms []string // the domains name may be, suffix applied first
	if ascii, err := spec.ASCIIDomain(strings.TrimSuffix(name, "."), true); err == nil {
		if res.DomainSuffix != "" {
			forms = append(forms, ascii+res.DomainSuffix)
		}
		forms = append(forms, ascii)
	}
	for _, form := range append([]string{""}, forms...) {
		for i := range res.Sites {
			s := &res.Sites[i]
			if form == "" && s.Name == name || form != "" && (s.Domain == form || slices.Contains(s.Aliases, form)) {
				return s, nil
			}
		}
	}
	return nil, usageError(fmt.Sprintf("environment %s has no site %s (berth status --env %s lists its sites)", res.Environment, name, res.Environment))
}
