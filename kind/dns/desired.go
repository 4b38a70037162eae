package dns

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
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
	// Secrets keeps the TSIG key of the environment's zone transfers
	// (berth's state store); needed only when a zone has secondaries.
	Secrets reconcile.Secrets
	// SyncWait bounds the wait for a secondary's serial (default
	// DefaultSyncWait).
	SyncWait time.Duration
}

// IDs of the resources Desired makes.

// ZoneID is the ID of a zone on its primary.
func ZoneID(zone, server string) string { return "zone/" + zone + "@" + server }

// SyncID is the ID of the serial check of a zone's secondary, a resource
// of the primary.
func SyncID(zone, secondary, primary string) string {
	return "zonesync/" + zone + "/" + secondary + "@" + primary
}

func includeID(server string) string { return "dns/include@" + server }
func keyID(server string) string     { return "dns/key@" + server }
func zoneDirID(server string) string { return "dns/zone-dir@" + server }

// SecretKey is the state store key of an environment's TSIG secret.
func SecretKey(env string) string { return "dns/tsig/" + env }

// keyFile is where the TSIG key goes: beside the include file.
func keyFile(include string) string { return strings.TrimSuffix(include, ".conf") + ".key" }

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
// the primary of (with a Sync per secondary), the include file listing the
// zones it serves as primary or secondary (which depends on the zones, so
// that a zone refused by named-checkzone is not configured), and, when
// transfers need it, the TSIG key file. The notes are res.DNSNotes: the
// site names in no declared zone, once per site, for the plan's warnings.
func Desired(ctx context.Context, res *spec.Resolved, opts Options) ([]reconcile.Resource, []string, error) {
	binds := map[string]BIND{}
	for _, s := range res.Servers {
		if s.BIND != nil {
			binds[s.Name] = serverBIND(s, opts.Base)
		}
	}
	listen := func(server, zone string) (string, error) {
		b, ok := binds[server]
		switch {
		case !ok:
			return "", fmt.Errorf("zone %s: server %s has no bind service in environment %s", zone, server, res.Environment)
		case b.Listen == "":
			return "", fmt.Errorf("zone %s: berth does not know where named answers on server %s (address local): set services.dns.listen to address:port", zone, server)
		}
		return b.Listen, nil
	}
	keyName := "berth-xfer-" + res.Environment
	var secret string
	for _, z := range res.Zones {
		if len(z.Secondaries) > 0 && secret == "" {
			if opts.Secrets == nil {
				return nil, nil, fmt.Errorf("zone %s has secondaries, whose transfers need a TSIG key from berth's state store; none was given", z.Name)
			}
			var err error
			if secret, err = opts.Secrets.Secret(ctx, SecretKey(res.Environment), newTSIGSecret); err != nil {
				return nil, nil, fmt.Errorf("the TSIG key of environment %s: %w", res.Environment, err)
			}
		}
	}
	var out []reconcile.Resource
	for _, s := range res.Servers {
		b, ok := binds[s.Name]
		if !ok {
			continue
		}
		dir := reconcile.NewDir(reconcile.DirSpec{ID: zoneDirID(s.Name), Server: s.Name, Path: b.ZoneDir})
		out = append(out, dir)
		var inc []render.IncludeZone
		var deps []string
		var syncs []*Sync
		for i := range res.Zones {
			z := &res.Zones[i]
			switch {
			case z.Primary == s.Name:
				id := ZoneID(z.Name, s.Name)
				zr := NewZone(ZoneSpec{ID: id, Server: s.Name, Zone: z, BIND: b, Safety: opts.Safety, Deps: []string{dir.ID()}, Now: opts.Now})
				out = append(out, zr)
				iz := render.IncludeZone{Name: z.Name}
				for _, sec := range z.Secondaries {
					addr, err := listen(sec, z.Name)
					if err != nil {
						return nil, nil, err
					}
					iz.Secondaries = append(iz.Secondaries, addr)
					sy := &Sync{id: SyncID(z.Name, sec, s.Name), server: s.Name, secondary: sec, addr: addr, zone: zr, wait: opts.SyncWait}
					syncs = append(syncs, sy)
					out = append(out, sy)
				}
				inc = append(inc, iz)
				deps = append(deps, id)
			case slices.Contains(z.Secondaries, s.Name):
				addr, err := listen(z.Primary, z.Name)
				if err != nil {
					return nil, nil, err
				}
				inc = append(inc, render.IncludeZone{Name: z.Name, Secondary: true, Primary: addr})
			}
		}
		kf := keyFile(b.IncludeFile)
		if slices.ContainsFunc(inc, func(z render.IncludeZone) bool { return z.Secondary || len(z.Secondaries) > 0 }) {
			key, err := render.ZoneKey(render.TSIGKey{Name: keyName, Secret: secret})
			if err != nil {
				return nil, nil, err
			}
			out = append(out, reconcile.NewFile(reconcile.FileSpec{ID: keyID(s.Name), Server: s.Name, Path: kf, Content: key, Mode: 0o640, Group: b.Group, Service: ServiceBIND}))
			deps = append(deps, keyID(s.Name))
		}
		content, err := render.ZoneInclude(b.ZoneDir, inc, kf, keyName)
		if err != nil {
			return nil, nil, err
		}
		f := reconcile.NewFile(reconcile.FileSpec{ID: includeID(s.Name), Server: s.Name, Path: b.IncludeFile, Content: content, Service: ServiceBIND})
		incf := &includeFile{File: f, deps: deps}
		for _, sy := range syncs {
			sy.include = incf
		}
		out = append(out, incf)
	}
	return out, slices.Clone(res.DNSNotes), nil
}

// newTSIGSecret makes a TSIG secret: 32 random bytes, base64.
func newTSIGSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
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
	deps   []string
	action reconcile.Action // set by Check, for the server's Syncs
}

func (f *includeFile) Deps() []string { return f.deps }

func (f *includeFile) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	in.Adopt = true
	c, err := f.File.Check(ctx, in)
	f.action = c.Action
	return c, err
}
