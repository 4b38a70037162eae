package dns

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
)

// KindChallengeZone is a dynamic zone _acme-challenge.<name> on the
// primary of the zone holding name: the ACME client publishes the name's
// DNS-01 answers in it by dynamic update (see the package documentation).
const KindChallengeZone = "zone-challenge"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindChallengeZone, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &ChallengeZone{Base: reconcile.PrunedBase(KindChallengeZone, rec)}
	}})
}

// ChallengeZone is the file of a dynamic challenge zone on its primary,
// in the challenge directory (render.ChallengeZoneDir). berth writes it
// once, when it is missing, checked with named-checkzone; berth's include
// file, which depends on it, loads it with rndc reconfig. From then on
// named owns it: dynamic updates go to its journal (<file>.jnl), which
// named dumps into the file, so Check never compares its content and
// berth never rewrites it. A pruned one is deleted with its journal, with
// the data, once the include file no longer lists it.
type ChallengeZone struct {
	reconcile.Base
	zone    string
	content []byte
	bind    BIND
}

// ChallengeZoneSpec describes a challenge zone: Zone is its name
// (_acme-challenge.<name>), NS and Contact those of the zone delegating
// it (the first name server is the SOA MNAME).
type ChallengeZoneSpec struct {
	ID, Server string
	Zone       string
	NS         []string
	Contact    string
	BIND       BIND
	Deps       []string
}

// NewChallengeZone returns the resource of a challenge zone on its
// primary.
func NewChallengeZone(s ChallengeZoneSpec) (*ChallengeZone, error) {
	content, err := render.ChallengeZone(s.Zone, s.NS, s.Contact)
	if err != nil {
		return nil, err
	}
	return &ChallengeZone{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindChallengeZone, ID: s.ID, Server: s.Server,
		Path: render.ChallengeZoneFile(s.BIND.ZoneDir, s.Zone), Deps: s.Deps}), zone: s.Zone, content: content, bind: s.BIND}, nil
}

func (z *ChallengeZone) Observe() []string { return []string{z.Path()} }

func (z *ChallengeZone) Check(_ context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	obs := in.Obs[z.Path()]
	if z.Absent() {
		if !obs.Exists {
			return z.NewChange(reconcile.Delete, "already gone; forgotten"), nil
		}
		return z.NewChange(reconcile.Delete, "no longer declared; named stopped serving it when berth's include file dropped it: deleted with its journal"), nil
	}
	switch {
	case !obs.Exists:
		c := z.NewChange(reconcile.Create, "new challenge zone, written once: named keeps it by dynamic update from then on")
		c.Diff = "+ " + z.zone + " (dynamic; ACME DNS-01 answers)\n"
		return c, nil
	case !obs.IsRegular():
		return z.NewChange(reconcile.Conflict, fmt.Sprintf("exists and is not a regular file (%s); remove it by hand", obs.Mode.Type())), nil
	case in.Record == nil && !in.Adopt:
		return z.NewChange(reconcile.Conflict, "a zone file exists there and was not written by berth; run with --adopt to let berth take it over"), nil
	}
	// named owns its content now: no comparison, no rewrite.
	return z.NewChange(reconcile.None, ""), nil
}

// Apply writes a new challenge zone after named-checkzone accepted it, or
// deletes a pruned one and its journal. It reloads nothing: the include
// file's rndc reconfig loads a new zone and drops a removed one.
func (z *ChallengeZone) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	switch c.Action {
	case reconcile.Delete:
		var errs []error
		for _, p := range []string{z.Path(), z.Path() + ".jnl"} {
			if err := h.Remove(ctx, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	case reconcile.Create:
	default:
		return nil
	}
	tmp := path.Join(path.Dir(z.Path()), host.TempPrefix+path.Base(z.Path()))
	if err := h.WriteFile(ctx, tmp, z.content, host.WriteOptions{Mode: 0o644}); err != nil {
		return fmt.Errorf("write challenge zone %s for its check: %w", z.zone, err)
	}
	defer h.Remove(context.WithoutCancel(ctx), tmp)
	res, err := h.Run(ctx, []string{z.bind.CheckZone, z.zone, tmp}, host.RunOptions{Dir: z.bind.Dir})
	if err != nil {
		return fmt.Errorf("challenge zone %s is refused by named-checkzone: %w: %s", z.zone, err, string(res.Stdout)+string(res.Stderr))
	}
	if err := h.WriteFile(ctx, z.Path(), z.content, host.WriteOptions{Mode: 0o644}); err != nil {
		return fmt.Errorf("install challenge zone %s: %w", z.zone, err)
	}
	return nil
}

// Undo removes a challenge zone Apply created (named has not loaded it:
// the include file that would list it is restored too).
func (z *ChallengeZone) Undo(ctx context.Context, h host.Host, c *reconcile.Change) error {
	if c.Action != reconcile.Create {
		return nil
	}
	if err := h.Remove(ctx, z.Path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// Record is the challenge zone's inventory entry; its Hash is that of the
// content berth first wrote.
func (z *ChallengeZone) Record() reconcile.Record {
	rec := z.NewRecord()
	if z.content != nil {
		rec.Hash = hashOf(z.content)
	}
	return rec
}
