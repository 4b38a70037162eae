package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/berthhq/berth/reconcile"
)

type planFlags struct {
	envFlags
	json, markdown, noColor bool
	out                     string // --out: the whole plan, into this file
	comment                 int    // --comment: the pull request to comment on
	forge                   forgeFlags
}

func (f *planFlags) register(fs *flag.FlagSet) {
	f.envFlags.register(fs, true)
	f.envFlags.registerPlan(fs)
	fs.BoolVar(&f.json, "json", false, "print the plan as JSON")
	fs.BoolVar(&f.markdown, "markdown", false, "print the plan as Markdown, for a pull-request comment")
	fs.BoolVar(&f.noColor, "no-color", false, "no colour even on a terminal")
	fs.IntVar(&f.comment, "comment", 0, "also put the plan (as --markdown prints it) in one comment on this pull request (GitLab: merge request) of the forge (--forge, --forge-url, --forge-repo, --forge-token-file), created the first time and edited in place after")
	f.forge.register(fs)
	fs.StringVar(&f.out, "out", "", "also write the whole plan (every change and diff; with --markdown its unshortened Markdown) into this file")
}

func (f *planFlags) write(p *reconcile.Plan, w io.Writer) {
	switch {
	case f.json:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(p)
	case f.markdown:
		p.WriteMarkdown(w)
	default:
		o := reconcile.TextOptions{Color: !f.noColor && isTerminal(w) && os.Getenv("NO_COLOR") == "", MaxDiffs: 50}
		if f.fullDiff {
			o.MaxDiffs = 0
		}
		p.WriteText(w, o)
	}
}

// writeFull writes the whole plan into f.out, in the form of stdout's
// but never shortened.
func (f *planFlags) writeFull(p *reconcile.Plan) error {
	var b bytes.Buffer
	switch {
	case f.json:
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		_ = enc.Encode(p)
	case f.markdown:
		p.WriteMarkdownFull(&b)
	default:
		p.WriteText(&b, reconcile.TextOptions{})
	}
	return os.WriteFile(f.out, b.Bytes(), 0o644)
}

func isTerminal(w io.Writer) bool {
	for {
		u, ok := w.(interface{ Unwrap() io.Writer })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func runPlan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f planFlags
	f.register(fs)
	f.registerRev(fs, false)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: berth plan --env ENV [--repo DIR] [flags]\n\nShows, per server, what apply would change. Changes nothing. A Git --repo is\nread from its objects (not the work tree): the head of the environment's\nbranch, or the commit --rev names (with a warning when it is not that head).\nExit status: %d no changes, %d changes, %d error, %d usage error.\n",
			exitOK, exitChanges, exitError, exitUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stderr); !ok {
		return code
	}
	applyGC() // as berth apply: a 50,000-site plan peaked at ~660 MB, ~500 MB with it
	p, err := plan(context.Background(), &f.envFlags, stderr)
	if err != nil {
		return exitFor(err, "plan", stderr)
	}
	f.write(p, stdout)
	if f.out != "" {
		if err := f.writeFull(p); err != nil {
			fmt.Fprintf(stderr, "berth plan: --out: %v\n", err)
			return exitError
		}
	}
	if f.comment > 0 {
		msg, err := f.forge.comment(p, f.comment)
		if err != nil {
			return exitFor(fmt.Errorf("--comment: %w", err), "plan", stderr)
		}
		fmt.Fprintln(stderr, msg)
	}
	if len(p.Unreachable) > 0 {
		return exitError
	}
	if p.Empty() {
		return exitOK
	}
	if !f.json && !f.markdown {
		writeNextSteps(stderr, p, &f.envFlags)
	}
	return exitChanges
}

// writeNextSteps tells a reader of a text plan with changes how to apply
// it, and, for a repo that is not under Git yet, how berth serve will
// follow it. On stderr: the plan on stdout stays the plan.
func writeNextSteps(w io.Writer, p *reconcile.Plan, f *envFlags) {
	fmt.Fprintf(w, "\nNext: berth apply --env %s --repo %s applies this plan (it asks before it changes anything).\n", p.Env, f.repo)
	if strings.HasPrefix(p.Revision, "dir:") {
		fmt.Fprintf(w, "%s is not a Git repository: commit it (git init && git add -A && git commit) on the branch berth.yaml gives %s, so that berth serve can follow it.\n", f.repo, p.Env)
	}
}

// plan loads, validates and plans one environment without writing anything.
func plan(ctx context.Context, f *envFlags, stderr io.Writer) (*reconcile.Plan, error) {
	l, err := f.load(stderr)
	if err != nil {
		return nil, err
	}
	store, err := openState(ctx, l.stateDir, true, "berth plan", stderr)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	prepared, conn, err := l.prepare(ctx, store, f, nil)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return prepared.Plan(ctx, f.planOptions())
}
