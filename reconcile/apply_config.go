package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/internal/failpoint"
)

// applyServer is phase 1 of Apply on one server.
func (e *Engine) applyServer(ctx context.Context, p *Plan, server string, changes []*Change, n *atomic.Int64, total int, cross *crossDeps, reloads *reloadBarrier) *Result {
	// Whatever happens here, no change on another server waits forever for
	// one of this server's, nor for its reloads.
	defer cross.completeAll(changes)
	reloaded := reloads.arrive()
	defer reloaded()
	res := &Result{}
	fail := func(format string, args ...any) { res.failServer(server, format, args...) }
	abort := func(format string, args ...any) *Result {
		fail(format, args...)
		res.stop = "nothing was applied"
		for _, c := range changes {
			e.hook().Applied(c, errors.New("not applied: "+res.Errors[len(res.Errors)-1]))
		}
		res.Failed = len(changes)
		return res
	}
	h, err := e.Hosts.Host(ctx, server)
	if err != nil {
		return abort("connect: %v", err)
	}

	wasPending, services, newPending, err := e.recordIntent(ctx, p, server, h, changes, res)
	if err != nil {
		return abort("%v", err)
	}

	// The changes that run between the checks and the reloads (installs,
	// see afterChecker), then the ones that run after the reloads
	// (afterReloader) go last; the DAG runs the others first.
	changes = slices.Clone(changes)
	slices.SortStableFunc(changes, func(a, b *Change) int {
		return cmp.Compare(afterRank(a), afterRank(b))
	})
	npre := slices.IndexFunc(changes, func(c *Change) bool { return afterRank(c) > 0 })
	if npre < 0 {
		npre = len(changes)
	}
	nrel := slices.IndexFunc(changes, (*Change).afterReload)
	if nrel < 0 {
		nrel = len(changes)
	}
	runCtx := ctx
	errs, order := e.runDAG(ctx, h, changes[:npre], n, total, cross, nil)
	errs = append(errs, make([]error, len(changes)-npre)...)

	// Once changes were written, their service check, restore or reload and
	// the inventory must happen even when ctx was cancelled (SIGTERM): the
	// DAG stopped starting new changes, and what it did must not be left
	// unchecked, unreloaded or unrecorded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()

	ok := make([]bool, len(changes))
	account := func(i int) {
		c := changes[i]
		var kept *KeptError
		switch {
		case errs[i] == nil:
			ok[i] = true
			res.Applied++
			for _, r := range c.Reloaded {
				res.Reloads = append(res.Reloads, server+"/"+r)
			}
		case isWaitErr(errs[i]):
			w, _ := isWait(errs[i])
			res.Waiting = append(res.Waiting, Waiting{Server: server, ID: c.ID, Site: c.Site, Until: w.Until, Reason: w.Reason})
			if c.Site != "" {
				// Its data deletions wait too (as after a failure).
				if res.failedSites == nil {
					res.failedSites = map[string]bool{}
				}
				res.failedSites[c.Site] = true
			}
		case errors.As(errs[i], &kept):
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %v", server, kept))
			if kept.Degraded {
				res.Degraded = append(res.Degraded, Failure{Server: server, ID: c.ID, Site: c.Site, Error: kept.Error()})
			}
		default:
			res.Failed++
			res.failChange(c, "%v", errs[i])
			if c.Site == "" {
				res.stop = "a shared resource failed"
			} else {
				if res.failedSites == nil {
					res.failedSites = map[string]bool{}
				}
				res.failedSites[c.Site] = true
			}
		}
	}
	for i := range npre {
		account(i)
	}

	// Check every service; reload only when all passed.
	names := slices.Sorted(maps.Keys(services))
	failpoint.Hit("before-check")
	var refused []string
	svcs := map[string]Service{}
	for _, name := range names {
		svc, err := p.planned.desired.Service(server, name)
		if err != nil && wasPending[name] && !slices.ContainsFunc(changes, func(c *Change) bool { return c.Service == name }) {
			// Pending from an interrupted run, and no longer declared: no
			// check can ever pass, so it must not refuse every later run.
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s: %s was left pending check and reload by an interrupted run, but berth can no longer check it (%v): forgotten; check and reload it by hand if it still runs", server, name, err))
			if cerr := e.Inventory.ClearPendingReloads(ctx, p.Env, server, []string{name}); cerr != nil {
				fail("clear the pending reload of %s: %v", name, cerr)
			}
			delete(services, name)
			continue
		}
		if err == nil {
			svcs[name] = svc
			err = e.runService(ctx, h, svc.Test, svc.Dir)
			e.hook().ServiceChecked(server, name, err)
		}
		if err != nil {
			refused = append(refused, name)
			fail("%s: configuration check failed: %v", name, err)
		}
	}
	if len(refused) > 0 {
		for _, c := range changes[npre:] {
			e.hook().Applied(c, errors.New("not run: the configuration check of this server failed"))
			res.Failed++
		}
		restored, unrestored := e.restore(ctx, h, changes, order, ok, res)
		fail("%d change(s) of this run restored and nothing reloaded, because the configuration check of %s failed", restored, strings.Join(refused, ", "))
		res.stop = "the configuration check of " + strings.Join(refused, ", ") + " failed"
		// Restored, the files are what the services run: this run's
		// pending records go (an interrupted run's stay). A change that
		// could not be restored leaves them: the next run checks again.
		if unrestored == 0 && len(newPending) > 0 {
			if err := e.Inventory.ClearPendingReloads(ctx, p.Env, server, newPending); err != nil {
				fail("clear pending reloads of %s: %v", strings.Join(newPending, ", "), err)
			}
		}
	} else {
		e.runAfter(runCtx, h, changes[:nrel], npre, errs, &order, n, total, cross)
		for i := npre; i < nrel; i++ {
			account(i)
		}
		failpoint.Hit("before-reload")
		reloadFailed := false
		for _, name := range names {
			svc, ok := svcs[name]
			if !ok {
				continue // forgotten above
			}
			err := e.reload(ctx, h, svc)
			e.hook().Reloaded(server, name, err)
			if err != nil {
				fail("%s: reload failed (the files are written and checked; the old configuration may still be running; the next run reloads it again): %v", name, err)
				res.stop = "the reload of " + name + " failed"
				reloadFailed = true
				continue
			}
			res.Reloads = append(res.Reloads, server+"/"+name)
			if err := e.Inventory.ClearPendingReloads(ctx, p.Env, server, []string{name}); err != nil {
				fail("%s: reloaded, but its pending record was not cleared (the next run reloads it again): %v", name, err)
			}
			failpoint.Hit("after-reload")
		}
		reloaded()
		if nrel < len(changes) {
			if reloadFailed {
				for _, c := range changes[nrel:] {
					e.hook().Applied(c, errors.New("not run: a reload of this server failed"))
					res.Failed++
				}
			} else {
				// Every server's reloads are done (or stopped): what
				// another server serves now is what this run made it.
				// No change on another server may still wait for one of
				// this server's (one a cancelled DAG never started).
				cross.completeAll(changes[:nrel])
				reloads.wait()
				e.runAfter(runCtx, h, changes, nrel, errs, &order, n, total, cross)
				for i := nrel; i < len(changes); i++ {
					account(i)
				}
			}
		}
	}

	e.recordOutcome(ctx, p, server, changes, ok, errs, fail)
	return res
}

// afterRank sorts the changes that run after the checks (1), then the
// ones that run after the reloads (2), last.
func afterRank(c *Change) int {
	switch {
	case c.afterReload():
		return 2
	case c.afterCheck():
		return 1
	}
	return 0
}

// runAfter runs changes[npre:] once the server's checks passed (see
// afterChecker) or its reloads are done (see afterReloader), in
// dependency order: their errors go to errs, the ones that succeeded are
// appended to order. One whose dependency failed (here or on another
// server) is skipped.
func (e *Engine) runAfter(ctx context.Context, h host.Host, changes []*Change, npre int, errs []error, order *[]int, n *atomic.Int64, total int, cross *crossDeps) {
	postErrs, postOrder := e.runDAG(ctx, h, changes[npre:], n, total, cross, nil)
	copy(errs[npre:], postErrs)
	for _, j := range postOrder {
		*order = append(*order, npre+j)
	}
}

func (e *Engine) runService(ctx context.Context, h host.Host, argv []string, dir string) error {
	if len(argv) == 0 {
		return nil
	}
	r, err := h.Run(ctx, argv, host.RunOptions{Dir: dir})
	if err != nil {
		var ee *host.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s: %s", strings.Join(argv, " "), strings.TrimSpace(string(r.Stderr)+string(r.Stdout)))
		}
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return nil
}

// reload reloads svc: SIGHUP to the PID in its PIDFile when it has one
// that holds a PID, else its Reload command.
func (e *Engine) reload(ctx context.Context, h host.Host, svc Service) error {
	if svc.PIDFile != "" {
		if pid, err := readPID(ctx, h, svc.PIDFile); err == nil {
			return e.runService(ctx, h, []string{"kill", "-HUP", strconv.Itoa(pid)}, svc.Dir)
		}
	}
	return e.runService(ctx, h, svc.Reload, svc.Dir)
}

// readPID reads a process ID from a PID file.
func readPID(ctx context.Context, h host.Host, file string) (int, error) {
	data, err := h.ReadFile(ctx, file)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("%s holds no process ID: %q", file, data)
	}
	return pid, nil
}
