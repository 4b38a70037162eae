package dns

import (
	"context"
	"slices"
	"time"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// ServiceBIND is the service of berth's include file on a DNS server:
// checked with named-checkconf and reloaded with `rndc reconfig`, which
// loads the zones the file adds and drops those it no longer lists,
// without reloading any other zone.
const ServiceBIND = "bind"

// Options are what Desired needs besides the resolved revision.
type Options struct {
	// Base is berth's state directory: a local server's relative paths
	// live under it and its commands run in it.
	Base string
	// Safety is the threshold of every zone of the run.
	Safety Safety
	// Now is the clock of the serials' dates (default time.Now).
	Now func() time.Time
}

// IDs of the resources Desired makes.
func ZoneID(zone, server string) string { return "zone/" + zone + "@" + server }
func includeID(server string) string    { return "dns/include@" + server }
func zoneDirID(server string) string    { return "dns/zone-dir@" + server }
func serverBIND(s spec.ResolvedServer, base string) BIND {
	dir := ""
	if s.Local() {
		s = s.WithBase(base)
		dir = base
	}
	return BIND{ResolvedBIND: *s.BIND, Dir: dir}
}

// Desired returns the DNS resources of a resolved revision: on every
// server with a bind service, its zone directory, one Zone per zone it is
// the primary of, and the include file listing them (which depends on the
// zones, so that a zone refused by named-checkzone is not configured).
// The notes are res.DNSNotes: the site names in no declared zone, once per
// site, for the plan's warnings.
func Desired(res *spec.Resolved, opts Options) ([]reconcile.Resource, []string, error) {
	var out []reconcile.Resource
	for _, s := range res.Servers {
		if s.BIND == nil {
			continue
		}
		b := serverBIND(s, opts.Base)
		dir := reconcile.NewDir(reconcile.DirSpec{ID: zoneDirID(s.Name), Server: s.Name, Path: b.ZoneDir})
		out = append(out, dir)
		var names, ids []string
		for i := range res.Zones {
			z := &res.Zones[i]
			if z.Primary != s.Name {
				continue
			}
			id := ZoneID(z.Name, s.Name)
			out = append(out, NewZone(ZoneSpec{ID: id, Server: s.Name, Zone: z, BIND: b, Safety: opts.Safety, Deps: []string{dir.ID()}, Now: opts.Now}))
			names = append(names, z.Name)
			ids = append(ids, id)
		}
		content, err := render.ZoneInclude(b.ZoneDir, names)
		if err != nil {
			return nil, nil, err
		}
		f := reconcile.NewFile(reconcile.FileSpec{ID: includeID(s.Name), Server: s.Name, Path: b.IncludeFile, Content: content, Service: ServiceBIND})
		out = append(out, &includeFile{File: f, deps: ids})
	}
	return out, slices.Clone(res.DNSNotes), nil
}

// Service returns the bind service of a server for the engine's
// Desired.Service: named-checkconf, then rndc reconfig; false when the
// server has no bind service.
func Service(s spec.ResolvedServer, base string) (reconcile.Service, bool) {
	if s.BIND == nil {
		return reconcile.Service{}, false
	}
	b := serverBIND(s, base)
	return reconcile.Service{Name: ServiceBIND, Test: slices.Clone(b.CheckConf), Reload: append(slices.Clone(b.RNDC), "reconfig"), Dir: b.Dir}, true
}

// includeFile is berth's include file: a file like any other, which berth
// may take over without --adopt (the repo names it as berth's, and
// named.conf needs it to exist, usually empty, before berth first runs),
// written after the zones it lists.
type includeFile struct {
	*reconcile.File
	deps []string
}

func (f *includeFile) Deps() []string { return f.deps }

func (f *includeFile) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	in.Adopt = true
	return f.File.Check(ctx, in)
}
