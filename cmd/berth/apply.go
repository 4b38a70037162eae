package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthhq/berth/reconcile"
	berthrun "github.com/berthhq/berth/run"
)

func runApply(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f planFlags
	f.register(fs)
	f.registerWait(fs)
	f.registerRev(fs, true)
	autoApprove := fs.Bool("auto-approve", false, "apply without asking (for scripts and CI)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: berth apply --env ENV [--repo DIR] [--auto-approve] [flags]\n\nShows the plan, asks for approval on a terminal (elsewhere --auto-approve is\nneeded), applies it and records the run. A Git --repo is read from its\nobjects (not the work tree): the head of the environment's branch; another\ncommit needs --rev REV --allow-other-rev. An environment berth.yaml no\nlonger declares is removed: what berth recorded of it is deleted, its\nsites backed up first. Exit status: %d applied (or nothing\nto do), %d error or not approved, %d usage error.\n", exitOK, exitError, exitUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stderr); !ok {
		return code
	}
	if !*autoApprove && !canAsk(os.Stdin, stdout) {
		// Refused before anything is read: a script without the flag
		// fails the same whether or not this revision has changes.
		return exitFor(errNoApproval, "apply", stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	applyGC()
	if err := apply(ctx, &f, *autoApprove, os.Stdin, stdout, stderr); err != nil {
		return exitFor(err, "apply", stderr)
	}
	return exitOK
}

func apply(ctx context.Context, f *planFlags, autoApprove bool, stdin io.Reader, stdout, stderr io.Writer) error {
	return applySites(ctx, f, nil, autoApprove, stdin, stdout, stderr)
}

// applySites is apply limited to sites (by name or domain) and what they
// depend on; nil: the whole environment.
func applySites(ctx context.Context, f *planFlags, sites []string, autoApprove bool, stdin io.Reader, stdout, stderr io.Writer) error {
	registerGitToken(f.git)
	l, err := f.load(stderr)
	if err != nil {
		return err
	}
	if l.git.other() && !f.allowOtherRev {
		return usageError(fmt.Sprintf("refusing to apply commit %s to %s: it is not the head of branch %s, which %s follows; apply that head (drop --rev), or add --allow-other-rev; nothing was changed",
			reconcile.ShortRevision(l.revision), f.env, l.git.branch, f.env))
	}
	opts := f.planOptions()
	for _, name := range sites {
		s, err := findSite(l.res, name)
		if err != nil {
			return err
		}
		opts.Sites = append(opts.Sites, s.Domain)
	}
	command := "berth apply"
	if sites != nil {
		command = "berth verify"
	}
	store, err := l.lock(ctx, &f.envFlags, command, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	progress := &progressHook{w: stderr}
	prepared, conn, err := l.prepare(ctx, store, &f.envFlags, progress)
	if err != nil {
		return err
	}
	defer conn.Close()

	// One run, as the daemon's (package run): recorded from its start,
	// planned, approved here, applied (an empty plan too: that records
	// what berth found in place and writes nothing on hosts), recorded.
	approve := func(p *reconcile.Plan) error {
		f.write(p, stdout)
		if p.Empty() && len(p.Unreachable) == 0 || autoApprove {
			return nil
		}
		if !canAsk(stdin, stdout) {
			return errNoApproval
		}
		fmt.Fprintf(stdout, "\nApply these changes to %s? Only 'yes' is accepted: ", p.Env)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return errCancelled
		}
		return nil
	}
	out, err := prepared.Converge(ctx, berthrun.Options{Trigger: l.git.trigger(), Plan: opts, Approve: approve, Log: progress.log})
	if out != nil && out.Result != nil {
		res := out.Result
		fmt.Fprintf(stdout, "\nApply: %d applied, %d failed, %d restored; reloaded: %s. Run %d.\n",
			res.Applied, res.Failed, res.Restored, orNone(res.Reloads), out.Run)
		for _, w := range res.Warnings {
			fmt.Fprintf(stdout, "Warning: %s\n", w)
		}
		for _, w := range res.Waiting {
			fmt.Fprintf(stdout, "Waiting: %s (%s on %s) until %s, not failed: %s; run berth apply again then (berth serve does)\n",
				cmp.Or(w.Site, w.ID), w.ID, w.Server, w.Until.UTC().Format(time.RFC3339), w.Reason)
		}
	}
	if out != nil && out.Plan != nil && out.Result != nil {
		// A dead node does not stop the fleet: say what it left undone.
		for _, u := range out.Plan.Unreachable {
			fmt.Fprintf(stdout, "Degraded: server %s could not be reached, so nothing was done on it in this run; the other servers were applied, and the next run that reaches it converges it (%s)\n", u.Server, u.Error)
		}
	}
	return err
}

// canAsk tells whether apply can ask for approval: stdin and stdout are
// a terminal.
func canAsk(stdin io.Reader, stdout io.Writer) bool {
	f, ok := stdin.(*os.File)
	return ok && isTerminal(f) && isTerminal(stdout)
}

// errCancelled is an apply its operator did not approve.
var errCancelled = errors.New("apply cancelled; nothing was changed")

// errNoApproval refuses an apply that nobody can approve.
var errNoApproval = usageError("refusing to apply without --auto-approve when not run on a terminal (stdin and stdout); nothing was changed")

func orNone(s []string) string {
	if len(s) == 0 {
		return "nothing"
	}
	return strings.Join(s, ", ")
}

// progressHook prints one line per step and keeps them for the run log.
type progressHook struct {
	reconcile.NopHook
	w   io.Writer
	mu  sync.Mutex
	buf bytes.Buffer
}

func (h *progressHook) printf(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	line := fmt.Sprintf("%s "+format+"\n", append([]any{time.Now().UTC().Format(time.TimeOnly)}, args...)...)
	h.buf.WriteString(line)
	io.WriteString(h.w, line)
}

func (h *progressHook) log() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return bytes.Clone(h.buf.Bytes())
}

func (h *progressHook) Applied(c *reconcile.Change, err error) {
	if err != nil {
		h.printf("%s: %c %s: %v", c.Server, rune(c.Action), c.ID, err)
		return
	}
	if c.Output != "" { // an install's output, secrets redacted
		h.printf("%s: %s:\n  %s", c.Server, c.ID, strings.ReplaceAll(c.Output, "\n", "\n  "))
	}
}

func (h *progressHook) Applying(c *reconcile.Change, n, total int) {
	h.printf("[%d/%d] %s: %c %s", n, total, c.Server, rune(c.Action), c.ID)
}

func (h *progressHook) ServiceChecked(server, service string, err error) {
	if err != nil {
		h.printf("%s: %s: configuration check FAILED: %v", server, service, err)
		return
	}
	h.printf("%s: %s: configuration check passed", server, service)
}

func (h *progressHook) Reloaded(server, service string, err error) {
	if err != nil {
		h.printf("%s: %s: reload FAILED: %v", server, service, err)
		return
	}
	h.printf("%s: %s: reloaded", server, service)
}

// applyGC makes the garbage collector of berth apply and plan run at 1.5 times the
// live heap instead of twice (GOGC=50), unless GOGC is set: a big apply
// holds the desired state, the plan and the inventory's records at once,
// and at 10,000 sites the default let a first converge peak at ~170 MB
// (~145 MB with it, for a few percent more CPU; docs/benchmarks.md).
func applyGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
}
