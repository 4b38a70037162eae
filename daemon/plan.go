package daemon

import (
	"context"
	"fmt"
	"io/fs"
	"slices"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
)

// Plan returns what a run of environment env would change now: it plans
// the head of env's branch exactly as a run does (the same desired state
// through desired.Prepare, the same engine and plan options) but applies
// nothing and records no run. Like a run, it may generate and keep the
// secrets of new databases. It needs no Run: it reads the environments from
// the config branch itself.
func (d *Daemon) Plan(ctx context.Context, env string) (*reconcile.Plan, error) {
	envs, _, err := d.discover(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(envs, func(e envConfig) bool { return e.name == env })
	if i < 0 {
		return nil, fmt.Errorf("environment %q: %w", env, fs.ErrNotExist)
	}
	rev, err := d.cfg.Source.Head(envs[i].branch)
	if err != nil {
		return nil, err
	}
	fsys, res, err := d.resolve(rev, env)
	if err != nil {
		return nil, err
	}
	prepared, closeHosts, err := d.prepare(ctx, rev, fsys, res, nil)
	if err != nil {
		return nil, err
	}
	defer closeHosts()
	return prepared.Plan(ctx, planOptions())
}

// resolve reads, validates and resolves env at rev; a revision that is not
// valid returns its spec.Problems.
func (d *Daemon) resolve(rev, env string) (fs.FS, *spec.Resolved, error) {
	fsys, err := d.cfg.Source.FS(rev)
	if err != nil {
		return nil, nil, err
	}
	repo, err := spec.Load(fsys)
	if err != nil {
		return nil, nil, err
	}
	res, err := spec.Resolve(repo, env)
	if err != nil {
		return nil, nil, err
	}
	return fsys, res, nil
}
