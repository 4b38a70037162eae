package install

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindUpdate is a site's update step: the platform's update command (drush
// updatedb, WordPress's upgrade routine, a platform's own), run once per
// build of the platform's code the site is served by.
const KindUpdate = "update"

// UpdateMarker is the name of the file, in the site's directory, naming
// the build the site's data was last updated to (UpdateContent).
const UpdateMarker = ".berth-updated"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindUpdate, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Update{Base: reconcile.PrunedBase(KindUpdate, rec)}
	}})
}

// UpdateContent is what the update marker holds once a site's data is
// updated to build: its only memory, compared by its SHA-256 through the
// engine's one observation per server.
func UpdateContent(build string) []byte { return []byte("build " + build + "\n") }

// UpdateSpec describes a site's update step.
type UpdateSpec struct {
	ID, Server, Site string
	// Marker is the update marker (UpdateMarker in the site's directory);
	// Build the build of the platform's code the site is served by.
	Marker, Build string
	Owner, Group  string // of the marker
	// Installed is the install's marker when the platform installs its
	// sites: a site not installed yet is installed with this build, so
	// its update only records the build. "": no install.
	Installed string
	// The command, as InstallSpec's: Argv run in Dir as User with Env,
	// through runuser and env, never a shell; Input its standard input
	// and secrets; Success a line its output must hold; Shown what the
	// plan shows.
	Argv    []string
	Dir     string
	User    string
	Env     []string
	Shown   string
	Input   func(ctx context.Context) (stdin []byte, secrets []string, err error)
	Success string
	// Backup backs the site up before the command runs (the update
	// changes its database in place); nil: none.
	Backup func(ctx context.Context) error
	Deps   []string
}

// Update is a site's update step: after a new build of its platform is
// live, the platform's update command runs once against the site's data,
// after a backup; the marker records the build. A failed update writes no
// marker and the next run tries again (an update command must be safe to
// repeat: drush updatedb and wp_upgrade() are). A site installed in the
// same run only gets the marker.
type Update struct {
	reconcile.Base // Path is the marker
	build          string
	owner, group   string
	installed      string
	cmd            command
	backup         func(ctx context.Context) error
}

// NewUpdate returns the resource for a site's update step.
func NewUpdate(s UpdateSpec) *Update {
	return &Update{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindUpdate, ID: s.ID, Server: s.Server, Site: s.Site, Path: s.Marker, Deps: s.Deps}),
		build: s.Build, owner: s.Owner, group: s.Group, installed: s.Installed, backup: s.Backup,
		cmd: command{argv: s.Argv, dir: s.Dir, user: s.User, env: s.Env, shown: s.Shown, input: s.Input, success: s.Success}}
}

// AfterCheck: like the install, after the server's configuration checks
// passed and the install ran.
func (u *Update) AfterCheck() bool { return true }

func (u *Update) Observe() []string {
	if u.installed == "" || u.Absent() {
		return []string{u.Path()}
	}
	return []string{u.Path(), u.installed}
}

func (u *Update) Check(_ context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	obs := in.Obs[u.Path()]
	if u.Absent() {
		if !obs.Exists {
			return u.NewChange(reconcile.Delete, "marker already gone; forgotten"), nil
		}
		return u.NewChange(reconcile.Delete, "no longer declared: forget the update step (its marker)"), nil
	}
	sum := sha256.Sum256(UpdateContent(u.build))
	switch {
	case obs.Exists && obs.SHA256 == hex.EncodeToString(sum[:]):
		return u.NewChange(reconcile.None, ""), nil
	case u.installed != "" && !in.Obs[u.installed].Exists:
		return u.NewChange(reconcile.Create, fmt.Sprintf("installed with build %s: record it (no update step)", u.build)), nil
	}
	return u.NewChange(reconcile.Update, fmt.Sprintf("served by build %s: back the site up, then run its update step: %s", u.build, u.cmd)), nil
}

func (u *Update) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	switch c.Action {
	case reconcile.Delete:
		return h.Remove(ctx, u.Path())
	case reconcile.Update:
		out, err := u.Run(ctx, h)
		c.Output = out
		return err
	case reconcile.Create:
		return u.mark(ctx, h)
	}
	return nil
}

// Run backs the site up, runs the update command on h and records the
// build; a migration calls it on its target in the maintenance window.
func (u *Update) Run(ctx context.Context, h host.Host) (string, error) {
	if u.backup != nil {
		if err := u.backup(ctx); err != nil {
			return "", fmt.Errorf("back up %s before its update step (nothing was updated): %w", u.Site(), err)
		}
	}
	out, err := u.cmd.run(ctx, h)
	if err != nil {
		return out, fmt.Errorf("update step of %s failed, so build %s is not recorded and the next run tries again (the backup taken before holds its data); fix the cause shown in its output: %w\n%s",
			u.Site(), u.build, err, out)
	}
	return out, u.mark(ctx, h)
}

// Shown is the command as the plan shows it.
func (u *Update) Shown() string { return u.cmd.String() }

// Current reports whether h's marker already records the build.
func (u *Update) Current(ctx context.Context, h host.Host) (bool, error) {
	obs, err := h.Observe(ctx, []string{u.Path()})
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(UpdateContent(u.build))
	return len(obs) == 1 && obs[0].Exists && obs[0].SHA256 == hex.EncodeToString(sum[:]), nil
}

func (u *Update) mark(ctx context.Context, h host.Host) error {
	if err := h.WriteFile(ctx, u.Path(), UpdateContent(u.build), host.WriteOptions{Mode: 0o640, Owner: u.owner, Group: u.group}); err != nil {
		return fmt.Errorf("record build %s of %s in %s (the next run runs its update step again): %w", u.build, u.Site(), u.Path(), err)
	}
	return nil
}

// Undo leaves the marker: the command ran, or nothing was recorded.
func (u *Update) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (u *Update) Record() reconcile.Record { return u.NewRecord() }
