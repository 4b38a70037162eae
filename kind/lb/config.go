package lb

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindConfig is a load balancer's configuration file of one platform in
// one environment.
const KindConfig = "lb-config"

// Service is the name of a load balancer's nginx as the engine checks and
// reloads it (render.ServiceLB).
const Service = "lb"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindConfig, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Config{Base: reconcile.PrunedBase(KindConfig, rec)}
	}})
}

// ConfigSpec describes a load balancer's configuration file.
type ConfigSpec struct {
	ID, Server, Path string
	Content          []byte
	// Test and Reload are the load balancer's check and reload commands;
	// with PIDFile set, the reload is SIGHUP to the PID it holds (Reload
	// when it holds none). Dir is where they run ("" for the login's).
	Test, Reload []string
	PIDFile      string
	Dir          string
	// Draining is set when a web server of the file's upstream is
	// drained: the change then runs first, and the drained server's
	// changes depend on it; otherwise it runs after every server's
	// reloads (see the package doc).
	Draining bool
	Deps     []string
}

// Config is a load balancer's configuration file, checked and reloaded by
// its own Apply.
type Config struct {
	reconcile.Base
	content  []byte
	hash     string
	test     []string
	reload   []string
	pidFile  string
	dir      string
	draining bool
}

// NewConfig returns the resource of a load balancer's configuration file.
func NewConfig(s ConfigSpec) *Config {
	sum := sha256.Sum256(s.Content)
	return &Config{
		Base:    reconcile.NewBase(reconcile.BaseSpec{Kind: KindConfig, ID: s.ID, Server: s.Server, Path: s.Path, Deps: s.Deps}),
		content: s.Content, hash: hex.EncodeToString(sum[:]),
		test: s.Test, reload: s.Reload, pidFile: s.PIDFile, dir: s.Dir, draining: s.Draining,
	}
}

// AfterReload makes a change that adds or keeps every web server run once
// they all converged and reloaded (reconcile's afterReloader).
func (c *Config) AfterReload() bool { return !c.draining }

func (c *Config) Observe() []string { return []string{c.Path()} }

// ReadPaths asks for the old content of a file berth changes: its diff
// and what a failed test puts back.
func (c *Config) ReadPaths(in reconcile.CheckInput) []string {
	if obs := in.Obs[c.Path()]; obs.Exists && obs.IsRegular() && (c.Absent() || obs.SHA256 != c.hash) {
		return []string{c.Path()}
	}
	return nil
}

// prior is what the file held before a change.
type prior struct {
	exists bool
	data   []byte
	obs    host.Observation
}

func (c *Config) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	obs := in.Obs[c.Path()]
	read := func() ([]byte, error) {
		if d, ok := in.Files[c.Path()]; ok {
			return d.Data, d.Err
		}
		return in.Host.ReadFile(ctx, c.Path())
	}
	if c.Absent() {
		ch := c.NewChange(reconcile.Delete, "no longer declared")
		ch.Service = Service // the engine checks and reloads the load balancer
		if !obs.Exists {
			ch.Reason = "already gone; forgotten"
			ch.Found = &prior{}
			return ch, nil
		}
		if !obs.IsRegular() {
			return c.NewChange(reconcile.None, "kept: no longer a regular file"), nil
		}
		data, err := read()
		if err != nil {
			return ch, fmt.Errorf("read %s before deleting it: %w", c.Path(), err)
		}
		ch.Found = &prior{exists: true, data: data, obs: obs}
		ch.Diff = diff(c.Path(), data, nil)
		return ch, nil
	}
	if !obs.Exists {
		ch := c.NewChange(reconcile.Create, "missing")
		ch.Found = &prior{}
		ch.Diff = diff(c.Path(), nil, c.content)
		return ch, nil
	}
	if !obs.IsRegular() {
		return c.NewChange(reconcile.Conflict, fmt.Sprintf("exists and is not a regular file (%s); remove it by hand", obs.Mode.Type())), nil
	}
	if obs.SHA256 == c.hash {
		return c.NewChange(reconcile.None, ""), nil
	}
	if in.Record == nil && !in.Adopt {
		return c.NewChange(reconcile.Conflict, "exists and was not created by berth; run with --adopt to let berth take it over"), nil
	}
	ch := c.NewChange(reconcile.Update, "content differs")
	data, err := read()
	if err != nil {
		return ch, fmt.Errorf("read %s to compare it: %w", c.Path(), err)
	}
	ch.Found = &prior{exists: true, data: data, obs: obs}
	ch.Diff = diff(c.Path(), data, c.content)
	return ch, nil
}

// Apply writes the file, checks the load balancer's configuration and
// reloads it. A failed check puts the old file back and reloads nothing:
// the load balancer keeps serving the old configuration; a failed reload
// puts the old file back too, so the next run tries again. A deletion only
// removes the file: the engine checks and reloads (Change.Service).
func (c *Config) Apply(ctx context.Context, h host.Host, ch *reconcile.Change) error {
	switch ch.Action {
	case reconcile.Delete:
		return h.Remove(ctx, c.Path())
	case reconcile.Create, reconcile.Update:
	default:
		return nil
	}
	if err := h.WriteFile(ctx, c.Path(), c.content, host.WriteOptions{Mode: 0o644}); err != nil {
		return err
	}
	if err := run(ctx, h, c.test, c.dir); err != nil {
		if uerr := c.Undo(ctx, h, ch); uerr != nil {
			return fmt.Errorf("load balancer configuration check failed: %w; and the old file could not be put back: %v", err, uerr)
		}
		return fmt.Errorf("load balancer configuration check failed, the old configuration is kept: %w", err)
	}
	if err := c.reloadLB(ctx, h); err != nil {
		// Put the old file back, so the next run writes and reloads again.
		if uerr := c.Undo(ctx, h, ch); uerr != nil {
			return fmt.Errorf("load balancer reload failed: %w; and the old file could not be put back (reload it by hand once it runs): %v", err, uerr)
		}
		return fmt.Errorf("load balancer reload failed, the old file is put back and the next run tries again: %w", err)
	}
	ch.Reloaded = append(ch.Reloaded, Service+" "+c.Path())
	return nil
}

// Undo puts the old file back; after a change that Apply had reloaded,
// it reloads again.
func (c *Config) Undo(ctx context.Context, h host.Host, ch *reconcile.Change) error {
	p, _ := ch.Found.(*prior)
	if p == nil {
		return fmt.Errorf("cannot restore %s: its prior state was not recorded", c.Path())
	}
	var err error
	if p.exists {
		err = h.WriteFile(ctx, c.Path(), p.data, host.WriteOptions{Mode: p.obs.Mode.Perm(), Owner: p.obs.Owner, Group: p.obs.Group})
	} else {
		err = h.Remove(ctx, c.Path())
	}
	if err != nil || len(ch.Reloaded) == 0 {
		return err
	}
	return c.reloadLB(ctx, h)
}

func (c *Config) Record() reconcile.Record {
	r := c.NewRecord()
	r.Hash, r.Service = c.hash, Service
	return r
}

// reloadLB sends SIGHUP to the PID in the PID file when it holds one,
// else runs the reload command.
func (c *Config) reloadLB(ctx context.Context, h host.Host) error {
	return reload(ctx, h, c.pidFile, c.reload, c.dir)
}

// reload sends SIGHUP to the PID in pidFile when it holds one, else runs
// argv.
func reload(ctx context.Context, h host.Host, pidFile string, argv []string, dir string) error {
	if pidFile != "" {
		if data, err := h.ReadFile(ctx, pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
				return run(ctx, h, []string{"kill", "-HUP", strconv.Itoa(pid)}, dir)
			}
		}
	}
	return run(ctx, h, argv, dir)
}

func run(ctx context.Context, h host.Host, argv []string, dir string) error {
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

// diff is the unified diff of the file's old and new content.
func diff(path string, before, after []byte) string {
	from, to := "a"+path, "b"+path
	if before == nil {
		from = "/dev/null"
	}
	if after == nil {
		to = "/dev/null"
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(before)), B: difflib.SplitLines(string(after)),
		FromFile: from, ToFile: to, Context: 3,
	})
	if err != nil {
		return fmt.Sprintf("(no diff: %v)", err)
	}
	return d
}
