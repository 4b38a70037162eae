package dns

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// Kinds of the configuration files berth writes for named.
const (
	// KindInclude is berth's include file, which named.conf includes: a
	// pruned one is written empty, never deleted (named.conf would then
	// include a file that is not there, and named refuse to start).
	KindInclude = "zone-include"
	// KindKey is the TSIG key file the include file includes: a pruned
	// one is deleted.
	KindKey = "zone-key"
)

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindInclude, Prune: func(rec reconcile.Record) reconcile.Resource {
		return PrunedConf(rec, rec.Service)
	}})
	reconcile.RegisterKind(reconcile.Kind{Name: KindKey, Prune: func(rec reconcile.Record) reconcile.Resource {
		return PrunedConf(rec, rec.Service)
	}})
}

// Conf is a configuration file of named that berth renders: its include
// file (KindInclude) or its TSIG key file (KindKey). Both are files of the
// service "bind" (checked with named-checkconf, loaded with rndc
// reconfig). Berth takes the include file over without --adopt: the repo
// names it as berth's, and named.conf needs it to exist, usually empty,
// before berth's first run. The key file is not readable by others: its
// content never reaches a plan.
type Conf struct {
	reconcile.Base
	content []byte
	hash    string
	mode    fs.FileMode
	group   string
	service string
}

// ConfSpec describes a configuration file of named.
type ConfSpec struct {
	Kind       string // KindInclude or KindKey
	ID, Server string
	Path       string
	Content    []byte
	Group      string // the key file's group (named's), "" for the host's default
	Service    string // ServiceBIND
	Deps       []string
}

// NewConf returns the resource of a configuration file of named. The
// include file is mode 0644, the key file 0640.
func NewConf(s ConfSpec) *Conf {
	mode := fs.FileMode(0o644)
	if s.Kind == KindKey {
		mode = 0o640
	}
	return &Conf{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: s.Kind, ID: s.ID, Server: s.Server, Path: s.Path, Deps: s.Deps}),
		content: s.Content, hash: hashOf(s.Content), mode: mode, group: s.Group, service: s.Service}
}

// PrunedConf returns the resource that removes what rec, a record of a
// configuration file of named the revision no longer declares, describes:
// an include file is written empty, a key file deleted. service is
// checked and reloaded after it: "" when the server no longer has a bind
// service berth can reload (the change then runs with the data, after
// every check of the run passed, and named keeps serving the zones it
// loaded until it is reconfigured).
func PrunedConf(rec reconcile.Record, service string) *Conf {
	return &Conf{Base: reconcile.PrunedBase(rec.Kind, rec), service: service}
}

// confPrior is a configuration file as its Check found it (Change.Found).
type confPrior struct {
	exists bool
	data   []byte
	obs    host.Observation
}

func (f *Conf) Observe() []string { return []string{f.Path()} }

func (f *Conf) sensitive() bool { return f.Kind() == KindKey }

func (f *Conf) change(a reconcile.Action, reason string) reconcile.Change {
	c := f.NewChange(a, reason)
	c.Service = f.service
	if f.sensitive() {
		c.Sensitive, c.Hidden = true, "content hidden: it holds TSIG keys (zone transfers, ACME challenge updates)"
	}
	return c
}

func (f *Conf) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	obs := in.Obs[f.Path()]
	if f.Absent() {
		switch {
		case !obs.Exists:
			c := f.change(reconcile.Delete, "already gone; forgotten")
			c.Found = &confPrior{}
			return c, nil
		case !obs.IsRegular():
			return f.change(reconcile.None, "kept: no longer a regular file"), nil
		case f.Kind() == KindInclude && obs.Size == 0:
			c := f.change(reconcile.Delete, "already empty; forgotten")
			c.Service = ""
			c.Found = &confPrior{exists: true, obs: obs}
			return c, nil
		}
		reason := "no longer declared"
		if f.Kind() == KindInclude {
			reason = "no longer declared: written empty, not deleted, since named.conf includes it"
			if f.service == "" {
				reason += "; the server has no bind service berth reloads any more: run rndc reconfig on it"
			}
		}
		c := f.change(reconcile.Delete, reason)
		data, err := in.Host.ReadFile(ctx, f.Path())
		if err != nil {
			return c, fmt.Errorf("read %s before removing it: %w", f.Path(), err)
		}
		c.Found = &confPrior{exists: true, data: data, obs: obs}
		if !c.Sensitive {
			c.Diff = confDiff(f.Path(), data, nil)
		}
		return c, nil
	}
	if !obs.Exists {
		c := f.change(reconcile.Create, "missing")
		c.Found = &confPrior{}
		if !c.Sensitive {
			c.Diff = confDiff(f.Path(), nil, f.content)
		}
		return c, nil
	}
	if !obs.IsRegular() {
		return f.change(reconcile.Conflict, fmt.Sprintf("exists and is not a regular file (%s); remove it by hand", obs.Mode.Type())), nil
	}
	var reasons []string
	if obs.SHA256 != f.hash {
		reasons = append(reasons, "content differs")
	}
	if obs.Mode.Perm() != f.mode.Perm() {
		reasons = append(reasons, fmt.Sprintf("mode %04o -> %04o", obs.Mode.Perm(), f.mode.Perm()))
	}
	if f.group != "" && obs.Group != f.group && fmt.Sprint(obs.GID) != f.group {
		reasons = append(reasons, fmt.Sprintf("group %s -> %s", obs.Group, f.group))
	}
	if len(reasons) == 0 {
		return f.change(reconcile.None, ""), nil
	}
	if f.Kind() == KindKey && in.Record == nil && !in.Adopt {
		return f.change(reconcile.Conflict, "exists and was not created by berth ("+strings.Join(reasons, ", ")+"); run with --adopt to let berth take it over"), nil
	}
	c := f.change(reconcile.Update, strings.Join(reasons, ", "))
	data, err := in.Host.ReadFile(ctx, f.Path())
	if err != nil {
		return c, fmt.Errorf("read %s to compare it: %w", f.Path(), err)
	}
	c.Found = &confPrior{exists: true, data: data, obs: obs}
	if !c.Sensitive && obs.SHA256 != f.hash {
		c.Diff = confDiff(f.Path(), data, f.content)
	}
	return c, nil
}

func (f *Conf) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	switch c.Action {
	case reconcile.Delete:
		p, _ := c.Found.(*confPrior)
		switch {
		case p == nil || !p.exists:
			return nil
		case f.Kind() == KindInclude:
			if p.obs.Size == 0 {
				return nil
			}
			return h.WriteFile(ctx, f.Path(), nil, host.WriteOptions{Mode: p.obs.Mode.Perm()})
		}
		err := h.Remove(ctx, f.Path())
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	case reconcile.Create, reconcile.Update:
		return h.WriteFile(ctx, f.Path(), f.content, host.WriteOptions{Mode: f.mode, Group: f.group})
	}
	return nil
}

// Undo puts back the file Check found.
func (f *Conf) Undo(ctx context.Context, h host.Host, c *reconcile.Change) error {
	p, _ := c.Found.(*confPrior)
	switch {
	case p == nil:
		return fmt.Errorf("cannot restore %s: its prior state was not recorded", f.Path())
	case !p.exists:
		if err := h.Remove(ctx, f.Path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	return h.WriteFile(ctx, f.Path(), p.data, host.WriteOptions{Mode: p.obs.Mode.Perm(), Owner: p.obs.Owner, Group: p.obs.Group})
}

func (f *Conf) Record() reconcile.Record {
	rec := f.NewRecord()
	rec.Hash, rec.Service = f.hash, f.service
	return rec
}

// confDiff is a unified diff of a configuration file.
func confDiff(p string, before, after []byte) string {
	from, to := "a"+p, "b"+p
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
