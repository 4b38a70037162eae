package reconcile

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/redact"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// KindInstall is a site's one-time install: the platform type's install
// command, run once, remembered by a marker file in the site's directory.
const KindInstall = "install"

// InstallMarker is the name of the marker file, in the site's directory,
// that says the site was installed. Remove it to run the install again
// (an install must then be safe to repeat: wordpress's is).
const InstallMarker = ".berth-installed"

func init() {
	RegisterPruner(KindInstall, func(rec Record) Resource {
		return &Install{id: rec.ID, server: rec.Server, site: rec.Site, marker: rec.Path, absent: true}
	})
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
	id, server, site string
	marker           string
	owner, group     string
	argv             []string
	dir, user        string
	env              []string
	shown            string
	input            func(ctx context.Context) ([]byte, []string, error)
	success          string
	deps             []string
	absent           bool // a pruned record: forget the install (remove the marker)
}

// NewInstall returns the resource for a site's install.
func NewInstall(s InstallSpec) *Install {
	return &Install{id: s.ID, server: s.Server, site: s.Site, marker: s.Marker, owner: s.Owner, group: s.Group,
		argv: s.Argv, dir: s.Dir, user: s.User, env: s.Env, shown: s.Shown, input: s.Input, success: s.Success,
		deps: s.Deps}
}

func (i *Install) ID() string     { return i.id }
func (i *Install) Server() string { return i.server }
func (i *Install) Kind() string   { return KindInstall }
func (i *Install) Site() string   { return i.site }
func (i *Install) Path() string   { return i.marker }
func (i *Install) Deps() []string { return i.deps }

// AfterCheck: an install runs after its server's configuration checks
// passed and before the reloads, so a refused run installs nothing and a
// new site is installed before it is served.
func (i *Install) AfterCheck() bool  { return true }
func (i *Install) Observe() []string { return []string{i.marker} }

func (i *Install) change(a Action, reason string) Change {
	return Change{ID: i.id, Server: i.server, Kind: KindInstall, Site: i.site, Path: i.marker, Action: a, Reason: reason}
}

func (i *Install) Check(_ context.Context, in CheckInput) (Change, error) {
	obs := in.Obs[i.marker]
	if i.absent {
		if in.Record != nil && in.Record.Adopted {
			return i.change(None, ""), nil
		}
		if !obs.Exists {
			return i.change(Delete, "marker already gone; forgotten"), nil
		}
		return i.change(Delete, "no longer declared: forget the install (its marker)"), nil
	}
	if obs.Exists {
		return i.change(None, ""), nil
	}
	shown := i.shown
	if shown == "" {
		shown = strings.Join(i.argv, " ")
	}
	return i.change(Create, fmt.Sprintf("not installed (no %s): run %s", InstallMarker, shown)), nil
}

// command is the argv Apply runs: the install as the site's user, with
// its environment, through runuser and env (no shell).
func (i *Install) command() []string {
	var argv []string
	if i.user != "" {
		argv = append(argv, "runuser", "-u", i.user, "--")
	}
	if len(i.env) > 0 {
		argv = append(append(argv, "env"), i.env...)
	}
	return append(argv, i.argv...)
}

func (i *Install) Apply(ctx context.Context, h host.Host, c *Change) error {
	switch c.Action {
	case Delete:
		return h.Remove(ctx, i.marker)
	case Create:
	default:
		return nil
	}
	var stdin []byte
	var secrets []string
	if i.input != nil {
		var err error
		if stdin, secrets, err = i.input(ctx); err != nil {
			return fmt.Errorf("prepare the install of %s: %w", i.site, err)
		}
	}
	opts := host.RunOptions{Dir: i.dir}
	if stdin != nil {
		opts.Stdin = bytes.NewReader(stdin)
	}
	redact.Add(secrets...)
	r, err := h.Run(ctx, i.command(), opts)
	out := redact.String(strings.TrimSpace(string(r.Stdout) + "\n" + string(r.Stderr)))
	c.Output = out
	if err == nil && i.success != "" && !hasLine(r.Stdout, i.success) {
		err = errors.New("it did not report success")
	}
	if err != nil {
		return fmt.Errorf("install of %s failed, so it is not marked installed and the next run tries again; fix the cause shown in its output: %s\n%s",
			i.site, redact.String(err.Error()), out)
	}
	marker := fmt.Sprintf("berth installed %s on %s at %s\n", i.site, i.server, time.Now().UTC().Format(time.RFC3339))
	if err := h.WriteFile(ctx, i.marker, []byte(marker), host.WriteOptions{Mode: 0o640, Owner: i.owner, Group: i.group}); err != nil {
		return fmt.Errorf("the install of %s succeeded but its marker %s could not be written (the next run installs again): %w", i.site, i.marker, err)
	}
	return nil
}

// Undo removes the marker: an install has no service whose check could
// fail, so the engine calls it only for completeness.
func (i *Install) Undo(ctx context.Context, h host.Host, c *Change) error {
	if c.Action == Create {
		return h.Remove(ctx, i.marker)
	}
	return nil
}

func (i *Install) Record() Record {
	return Record{ID: i.id, Server: i.server, Kind: KindInstall, Site: i.site, Path: i.marker}
}

func hasLine(out []byte, line string) bool {
	for l := range strings.Lines(string(out)) {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}

// adminSecretKey is the key of a site's generated admin password.
func adminSecretKey(env, site string) string { return "admin/" + env + "/" + site }

//go:embed install_wordpress.php
var wordpressInstallPHP string

// wpInstallOK is the line berth's wordpress install prints when it is done.
const wpInstallOK = "berth-install: ok"

// addInstalls adds to d, which buildDesired and addDatabases made from res, the
// install of every site whose platform has one (see spec.Platform.Install;
// wordpress: wp_install() through berth's own script, which needs no
// wp-cli). A site is installed once, on its first web server, after its
// directory, settings file, database and platform release; a site whose
// platform's code is not deployed by this revision gets no install.
//
// The admin password of a wordpress site is generated on first install
// and kept in secrets under admin/<env>/<site>; it reaches only the
// install's standard input, never a Change, a log line or an error.
func addInstalls(d *Desired, res *spec.Resolved, base string, secrets Secrets) {
	servers := map[string]spec.ResolvedServer{}
	for _, s := range res.Servers {
		if s.Local() {
			s = s.WithBase(base)
		}
		servers[s.Name] = s
	}
	platforms := map[string]spec.ResolvedPlatform{}
	for _, p := range res.Platforms {
		platforms[p.Name] = p
	}
	ids := make(map[string]bool, len(d.Resources))
	for _, r := range d.Resources {
		ids[r.ID()] = true
	}
	for i := range res.Sites {
		site := &res.Sites[i]
		pl, ok := platforms[site.Platform]
		if !ok || len(site.Servers) == 0 || len(pl.Install) == 0 && pl.Type != "wordpress" {
			continue
		}
		sn := site.Servers[0]
		srv := servers[sn]
		if srv.HTTP == nil {
			continue
		}
		release := ReleaseID(pl.Name, sn)
		if !ids[release] {
			d.Warnings = append(d.Warnings, fmt.Sprintf("site %s: not installed until platform %s's code is deployed to %s", site.Name, pl.Name, sn))
			continue
		}
		paths := render.Paths(site, &srv)
		deps := []string{release}
		candidates := []string{fmt.Sprintf("site/%s/dir@%s", site.Domain, sn), fmt.Sprintf("site/%s/settings@%s", site.Domain, sn)}
		if db := site.DB; db != nil {
			dbServer := db.Server
			if db.Type == "sqlite" {
				dbServer = sn
			}
			candidates = append(candidates, dbID(site.Domain, db.Name, dbServer))
		}
		for _, id := range candidates {
			if ids[id] {
				deps = append(deps, id)
			}
		}
		var env []string
		if p := render.SettingsPath(site, &srv); p != "" {
			env = append(env, "BERTH_SETTINGS="+p)
		}
		env = append(env, "BERTH_SITE="+site.Domain, "BERTH_SITE_DIR="+paths.SiteDir)
		s := InstallSpec{ID: fmt.Sprintf("site/%s/install@%s", site.Domain, sn), Server: sn, Site: site.Domain,
			Marker: path.Join(paths.SiteDir, InstallMarker), Owner: srv.HTTP.User, Group: srv.HTTP.Group,
			Argv: pl.Install, Dir: paths.Docroot, User: srv.HTTP.User, Env: env, Deps: deps}
		if len(pl.Install) == 0 { // wordpress
			s.Argv = []string{"php", "-r", wordpressInstallPHP}
			s.Shown = "wp_install() through " + path.Join(paths.Docroot, "wp-load.php")
			s.Success = wpInstallOK
			s.Input = wordpressInput(site, paths.Docroot, res.Environment, secrets)
		}
		d.Resources = append(d.Resources, NewInstall(s))
	}
}

// wordpressInput returns the JSON berth's wordpress install reads on its
// standard input.
func wordpressInput(site *spec.ResolvedSite, docroot, env string, secrets Secrets) func(ctx context.Context) ([]byte, []string, error) {
	return func(ctx context.Context) ([]byte, []string, error) {
		pw, err := secrets.Secret(ctx, adminSecretKey(env, site.Name), func() (string, error) { return state.GeneratePassword(24) })
		if err != nil {
			return nil, nil, fmt.Errorf("the admin password: %w; berth keeps it in its state store: check --state-dir", err)
		}
		in, err := json.Marshal(map[string]string{"root": docroot, "host": site.Domain, "title": site.Name,
			"user": "admin", "email": "admin@" + site.Domain, "password": pw})
		return in, []string{pw}, err
	}
}
