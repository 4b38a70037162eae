package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/state"
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
		fmt.Fprintf(stderr, "Usage: berth apply --env ENV [--repo DIR] [--auto-approve] [flags]\n\nShows the plan, asks for approval on a terminal (elsewhere --auto-approve is\nneeded), applies it and records the run. A Git --repo is read from its\nobjects (not the work tree): the head of the environment's branch; another\ncommit needs --rev REV --allow-other-rev. Exit status: %d applied (or nothing\nto do), %d error or not approved, %d usage error.\n", exitOK, exitError, exitUsage)
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
	e, d, conn, err := l.engine(ctx, store, &f.envFlags, progress)
	if err != nil {
		return err
	}
	defer conn.Close()

	p, err := e.Plan(ctx, d, opts)
	if err != nil {
		return err
	}
	f.write(p, stdout)
	if p.Empty() && len(p.Unreachable) == 0 {
		// Still run Apply: it records unchanged resources berth found in
		// place (adopted) in the inventory. It writes nothing on hosts.
		if _, err := e.Apply(ctx, p); err != nil {
			return err
		}
		return recordRun(ctx, store, p, l.git.trigger(), &reconcile.Result{}, nil, nil, stdout)
	}
	if !autoApprove {
		if !canAsk(stdin, stdout) {
			return errNoApproval
		}
		fmt.Fprintf(stdout, "\nApply these changes to %s? Only 'yes' is accepted: ", p.Env)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return errors.New("apply cancelled; nothing was changed")
		}
	}
	id, err := store.StartRun(ctx, state.Run{Env: p.Env, Revision: p.Revision, Trigger: l.git.trigger()})
	if err != nil {
		return err
	}
	res, applyErr := e.Apply(ctx, p)
	return recordRunID(ctx, store, id, p, res, applyErr, progress.log(), stdout)
}

// canAsk tells whether apply can ask for approval: stdin and stdout are
// a terminal.
func canAsk(stdin io.Reader, stdout io.Writer) bool {
	f, ok := stdin.(*os.File)
	return ok && isTerminal(f) && isTerminal(stdout)
}

// errNoApproval refuses an apply that nobody can approve.
var errNoApproval = usageError("refusing to apply without --auto-approve when not run on a terminal (stdin and stdout); nothing was changed")

// recordRun records a run that applied nothing.
func recordRun(ctx context.Context, store *state.Store, p *reconcile.Plan, trigger string, res *reconcile.Result, applyErr error, log []byte, stdout io.Writer) error {
	id, err := store.StartRun(ctx, state.Run{Env: p.Env, Revision: p.Revision, Trigger: trigger})
	if err != nil {
		return err
	}
	return recordRunID(ctx, store, id, p, res, applyErr, log, stdout)
}

func recordRunID(ctx context.Context, store *state.Store, id int64, p *reconcile.Plan, res *reconcile.Result, applyErr error, log []byte, stdout io.Writer) error {
	changes, _ := json.Marshal(p)
	rr := state.RunResult{Result: state.ResultSucceeded, Changes: changes, Log: log}
	switch {
	case applyErr != nil:
		rr.Result, rr.Error = state.ResultFailed, applyErr.Error()
	case p.Empty():
		rr.Result = state.ResultNoOp
	}
	// Record the run even when the apply was interrupted.
	if err := store.FinishRun(context.WithoutCancel(ctx), id, rr); err != nil {
		return errors.Join(applyErr, fmt.Errorf("record run %d: %w", id, err))
	}
	if res != nil {
		fmt.Fprintf(stdout, "\nApply: %d applied, %d failed, %d restored; reloaded: %s. Run %d.\n",
			res.Applied, res.Failed, res.Restored, orNone(res.Reloads), id)
		for _, w := range res.Warnings {
			fmt.Fprintf(stdout, "Warning: %s\n", w)
		}
	}
	return applyErr
}

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
