package migrate

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindStart is the mark, on a migration's source, that the move started.
const KindStart = "migrate-start"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindStart, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Start{Base: reconcile.PrunedBase(KindStart, rec)}
	}})
}

// StartSpec describes the mark that a site's move to To started, in the
// site's directory SiteDir on its source (Server).
type StartSpec struct {
	ID, Site, Server, SiteDir, To string
	// Now is the marker's clock; nil: time.Now.
	Now func() time.Time
	// Deps run first: the zones that publish the site's records at a
	// lowered TTL (the wait for the resolvers' caches counts from the
	// marker).
	Deps []string
}

// Start writes, before anything of the move is written on the target
// (the target's vhost depends on it), the marker that the move started
// (MovingName): from then on a run cut off anywhere, even before the step
// ran, finds the move to finish on the source, and the target's recorded
// configuration is not taken for a cluster's other node.
type Start struct {
	reconcile.Base
	siteDir, to string
	now         func() time.Time
}

// NewStart returns the mark of s.
func NewStart(s StartSpec) *Start {
	return &Start{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindStart, ID: s.ID, Server: s.Server, Site: s.Site, Deps: s.Deps}),
		siteDir: s.SiteDir, to: s.To, now: s.Now}
}

// Observe reads both markers, with the source's other paths.
func (s *Start) Observe() []string {
	if s.Absent() {
		return nil
	}
	return []string{path.Join(s.siteDir, MovingName), path.Join(s.siteDir, MarkerName)}
}

func (s *Start) Check(_ context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	if s.Absent() {
		return s.NewChange(reconcile.Delete, "the migration is over; forgotten"), nil
	}
	for _, p := range s.Observe() {
		if in.Obs[p].Exists {
			return s.NewChange(reconcile.None, ""), nil
		}
	}
	return s.NewChange(reconcile.Update, fmt.Sprintf("mark the move of %s to %s as started, before anything is written there", s.Site(), s.to)), nil
}

func (s *Start) Apply(ctx context.Context, h host.Host, _ *reconcile.Change) error {
	if s.Absent() {
		return nil
	}
	if _, ok, err := ReadMarker(ctx, h, s.siteDir); err != nil || ok {
		return err
	}
	now := time.Now
	if s.now != nil {
		now = s.now
	}
	return writeMarker(ctx, h, s.siteDir, Marker{To: s.to, At: now().UTC()})
}

// Undo leaves the marker: the revision still asks for the move.
func (s *Start) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (s *Start) Record() reconcile.Record { return s.NewRecord() }
