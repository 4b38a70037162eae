package install

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/redact"
)

// KindInstall is a site's one-time install: the platform type's install
// command, run once, remembered by a marker file in the site's directory.
const KindInstall = "install"

// InstallMarker is the name of the marker file, in the site's directory,
// that says the site was installed. Remove it to run the install again
// (an install must then be safe to repeat: wordpress's is).
const InstallMarker = ".berth-installed"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindInstall, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Install{Base: reconcile.PrunedBase(KindInstall, rec)}
	}})
}

// InstallSpec describes a site's install.
type InstallSpec struct {
	ID, Server, Site string
	// Marker is the file written after the command succeeded; the install
	// runs while it is missing.
	Marker       string
	Owner, Group string // of the marker
	// Argv is the command, run in Dir as User (through runuser) with Env
	// (KEY=VALUE) set; argv is never given to a shell.
	Argv []string
	Dir  string
	User string
	Env  []string
	// Shown describes the command in the plan, instead of Argv.
	Shown string
	// Input returns the command's standard input and the secrets in it,
	// which are registered with package redact and so redacted from its
	// output (as is every other secret the process knows). It is called only when the
	// install runs, so a read-only plan needs no secret. nil: no input.
	Input func(ctx context.Context) (stdin []byte, secrets []string, err error)
	// Success, when not "", must be a line of the command's standard
	// output for the install to count as done (PHP's die() exits 0).
	Success string
	Deps    []string
}

// Install is a site's install, run once. Check observes the marker
// (through the engine's one observation per server); there is no memory
// of it anywhere else. A failed install writes no marker, so the next run
// tries again.
type Install struct {
	reconcile.Base // Path is the marker
	owner, group   string
	cmd            command
}

// New returns the resource for a site's install.
func New(s InstallSpec) *Install {
	return &Install{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindInstall, ID: s.ID, Server: s.Server, Site: s.Site, Path: s.Marker, Deps: s.Deps}),
		owner: s.Owner, group: s.Group,
		cmd: command{argv: s.Argv, dir: s.Dir, user: s.User, env: s.Env, shown: s.Shown, input: s.Input, success: s.Success}}
}

// marker is the path of the marker file.
func (i *Install) marker() string { return i.Path() }

// AfterCheck: an install runs after its server's configuration checks
// passed and before the reloads, so a refused run installs nothing and a
// new site is installed before it is served.
func (i *Install) AfterCheck() bool  { return true }
func (i *Install) Observe() []string { return []string{i.marker()} }

func (i *Install) Check(_ context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	obs := in.Obs[i.marker()]
	if i.Absent() {
		if in.Record != nil && in.Record.Adopted {
			return i.NewChange(reconcile.None, ""), nil
		}
		if !obs.Exists {
			return i.NewChange(reconcile.Delete, "marker already gone; forgotten"), nil
		}
		return i.NewChange(reconcile.Delete, "no longer declared: forget the install (its marker)"), nil
	}
	if obs.Exists {
		return i.NewChange(reconcile.None, ""), nil
	}
	return i.NewChange(reconcile.Create, fmt.Sprintf("not installed (no %s): run %s", InstallMarker, i.cmd.String())), nil
}

func (i *Install) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	switch c.Action {
	case reconcile.Delete:
		return h.Remove(ctx, i.marker())
	case reconcile.Create:
	default:
		return nil
	}
	out, err := i.cmd.run(ctx, h)
	c.Output = out
	if err != nil {
		return fmt.Errorf("install of %s failed, so it is not marked installed and the next run tries again; fix the cause shown in its output: %w\n%s",
			i.Site(), err, out)
	}
	marker := fmt.Sprintf("berth installed %s on %s at %s\n", i.Site(), i.Server(), time.Now().UTC().Format(time.RFC3339))
	if err := h.WriteFile(ctx, i.marker(), []byte(marker), host.WriteOptions{Mode: 0o640, Owner: i.owner, Group: i.group}); err != nil {
		return fmt.Errorf("the install of %s succeeded but its marker %s could not be written (the next run installs again): %w", i.Site(), i.marker(), err)
	}
	return nil
}

// Undo removes the marker: an install has no service whose check could
// fail, so the engine calls it only for completeness.
func (i *Install) Undo(ctx context.Context, h host.Host, c *reconcile.Change) error {
	if c.Action == reconcile.Create {
		return h.Remove(ctx, i.marker())
	}
	return nil
}

func (i *Install) Record() reconcile.Record { return i.NewRecord() }

// RunCommand runs argv on h as user (runuser; "" as the connection's),
// in dir, with env added, never through a shell, and returns its output,
// secrets redacted: a site's command outside an install or update step
// (a clone's sanitize command).
func RunCommand(ctx context.Context, h host.Host, argv []string, dir, user string, env []string) (string, error) {
	return command{argv: argv, dir: dir, user: user, env: env}.run(ctx, h)
}

// command is a platform's command for one site (its install, its update
// step): run as the site's user, with its environment, through runuser
// and env, never a shell.
type command struct {
	argv      []string
	dir, user string
	env       []string
	shown     string
	input     func(ctx context.Context) ([]byte, []string, error)
	success   string
}

// String is the command as plans show it.
func (c command) String() string {
	if c.shown != "" {
		return c.shown
	}
	return strings.Join(c.argv, " ")
}

// full is the argv run runs.
func (c command) full() []string {
	var argv []string
	if c.user != "" {
		argv = append(argv, "runuser", "-u", c.user, "--")
	}
	if len(c.env) > 0 {
		argv = append(append(argv, "env"), c.env...)
	}
	return append(argv, c.argv...)
}

// run runs the command on h and returns its output, every secret of its
// input redacted (from the error too).
func (c command) run(ctx context.Context, h host.Host) (string, error) {
	var stdin []byte
	var secrets []string
	if c.input != nil {
		var err error
		if stdin, secrets, err = c.input(ctx); err != nil {
			return "", fmt.Errorf("prepare its input: %w", err)
		}
	}
	opts := host.RunOptions{Dir: c.dir}
	if stdin != nil {
		opts.Stdin = bytes.NewReader(stdin)
	}
	redact.Add(secrets...)
	r, err := h.Run(ctx, c.full(), opts)
	out := redact.String(strings.TrimSpace(string(r.Stdout) + "\n" + string(r.Stderr)))
	if err == nil && c.success != "" && !hasLine(r.Stdout, c.success) {
		err = errors.New("it did not report success")
	}
	if err != nil {
		return out, errors.New(redact.String(err.Error()))
	}
	return out, nil
}

func hasLine(out []byte, line string) bool {
	for l := range strings.Lines(string(out)) {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
