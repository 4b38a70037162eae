package dns

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// KindZone is a DNS zone served by BIND on its primary.
const KindZone = "zone"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindZone, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Zone{Base: reconcile.PrunedBase(KindZone, rec)}
	}})
}

// Safety is the threshold that refuses a plan changing too much of a zone
// at once, as octoDNS does: a change that deletes or modifies more than
// Share of the records of a zone holding at least MinRecords, or that
// touches the apex NS set of an existing zone, is refused unless Allow is
// set for the run.
type Safety struct {
	Share      float64 // default 0.30
	MinRecords int     // default 10
	Allow      bool
}

// Defaults of Safety.
const (
	DefaultShare      = 0.30
	DefaultMinRecords = 10
)

// ErrThreshold is wrapped, with reconcile.ErrPolicy, by the error of a
// zone change the safety threshold refuses.
var ErrThreshold = errors.New("DNS safety threshold")

// BIND is how berth reaches the BIND of one server: spec.ResolvedBIND with
// its paths absolute, and the directory its commands run in ("" for the
// host's default; berth's state directory on a local server).
type BIND struct {
	spec.ResolvedBIND
	Dir string
}

// Zone is one zone file on its primary, checked with named-checkzone,
// installed atomically and reloaded with `rndc reload ZONE`. Its SOA
// serial is computed at Check from the zone on the server (NextSerial)
// and travels to Apply in Change.Found.
type Zone struct {
	reconcile.Base
	zone   *spec.ResolvedZone
	bind   BIND
	safety Safety
	now    func() time.Time
}

// ZoneSpec describes a zone to converge.
type ZoneSpec struct {
	ID, Server string
	Zone       *spec.ResolvedZone
	BIND       BIND
	Safety     Safety
	Deps       []string
	// Now is the clock of the serial's date (default time.Now).
	Now func() time.Time
}

// NewZone returns the resource of a zone on its primary.
func NewZone(s ZoneSpec) *Zone {
	now := s.Now
	if now == nil {
		now = time.Now
	}
	return &Zone{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindZone, ID: s.ID, Server: s.Server, Path: render.ZoneFile(s.BIND.ZoneDir, s.Zone.Name), Deps: s.Deps}),
		zone: s.Zone, bind: s.BIND, safety: s.Safety, now: now}
}

func (z *Zone) Observe() []string { return []string{z.Path()} }

// found is what a zone's Check learned for Apply, Undo and its
// secondaries' Sync (Change.Found).
type found struct {
	serial      uint32 // the serial the zone has once converged
	content     []byte // what Apply installs
	prior       []byte // the zone file on the server, put back by Undo
	priorExists bool
}

// BatchKey groups the zones of one server: their files are read in one
// round trip.
func (z *Zone) BatchKey() string { return KindZone }

// readScript prints, for each path given as an argument that is a regular
// file, its path, its size in bytes and its content. It is constant: the
// paths reach it as arguments, never as shell text.
const readScript = `for f do if [ -f "$f" ] && [ ! -L "$f" ]; then printf '%s\n' "$f"; wc -c < "$f"; cat -- "$f"; fi; done`

// ObserveBatch reads every zone file of the batch in one command.
func (z *Zone) ObserveBatch(ctx context.Context, h host.Host, batch []reconcile.Resource) (any, error) {
	return readZones(ctx, h, batch)
}

// observed is a server's zone files as ObserveBatch read them, and the
// time of the reading: every Check of the batch dates serials with it, so
// that a zone's Check and its secondaries' Sync agree on the serial.
type observed struct {
	files map[string][]byte
	at    time.Time
}

func readZones(ctx context.Context, h host.Host, batch []reconcile.Resource) (*observed, error) {
	var paths []string
	o := &observed{files: map[string][]byte{}, at: time.Now()}
	for _, r := range batch {
		if zr, ok := r.(*Zone); ok {
			if zr.now != nil {
				o.at = zr.now()
			}
			if !slices.Contains(paths, zr.Path()) {
				paths = append(paths, zr.Path())
			}
		}
	}
	if len(paths) == 0 {
		return o, nil
	}
	res, err := h.Run(ctx, append([]string{"sh", "-c", readScript, "sh"}, paths...), host.RunOptions{})
	if err != nil {
		return nil, fmt.Errorf("read the zone files: %w: %s", err, strings.TrimSpace(string(res.Stderr)))
	}
	out := res.Stdout
	for len(out) > 0 {
		name, rest, ok1 := bytes.Cut(out, []byte("\n"))
		size, rest, ok2 := bytes.Cut(rest, []byte("\n"))
		n, err := strconv.Atoi(strings.TrimSpace(string(size)))
		if !ok1 || !ok2 || err != nil || n > len(rest) {
			return nil, errors.New("read the zone files: the output is cut short; run again")
		}
		o.files[string(name)] = rest[:n]
		out = rest[n:]
	}
	return o, nil
}

// parsedZone is a zone file as the zone parser reads it: the SOA serial,
// the SOA without it, and every other record in presentation form.
type parsedZone struct {
	serial  uint32
	soa     string // without the serial
	records []string
}

// parseZone parses a zone file with github.com/miekg/dns, $INCLUDE refused.
func parseZone(data []byte, origin string) (*parsedZone, error) {
	p := &parsedZone{}
	zp := mdns.NewZoneParser(bytes.NewReader(data), mdns.Fqdn(origin), "")
	zp.SetIncludeAllowed(false)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if soa, isSOA := rr.(*mdns.SOA); isSOA && p.soa == "" {
			p.serial = soa.Serial
			c := *soa
			c.Serial = 0
			p.soa = presentation(&c)
			continue
		}
		p.records = append(p.records, presentation(rr))
	}
	if err := zp.Err(); err != nil {
		return nil, err
	}
	if p.soa == "" {
		return nil, errors.New("it has no SOA record")
	}
	slices.Sort(p.records)
	p.records = slices.Compact(p.records)
	return p, nil
}

// presentation is a record as one line, fields separated by spaces:
// "www.example.com. 300 IN A 203.0.113.10".
func presentation(rr mdns.RR) string {
	return strings.Replace(rr.String(), "\t", " ", 4)
}

func (z *Zone) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	c, f, err := z.plan(in)
	c.Found = f
	return c, err
}

// plan compares the zone with the one on the server (in.Batch). It
// changes nothing: Check and the secondaries' Sync both call it.
func (z *Zone) plan(in reconcile.CheckInput) (reconcile.Change, *found, error) {
	o, _ := in.Batch.(*observed)
	if o == nil {
		o = &observed{at: time.Now()}
	}
	data, exists := o.files[z.Path()]
	f := &found{prior: data, priorExists: exists}
	if z.Absent() {
		if !exists {
			return z.NewChange(reconcile.Delete, "already gone; forgotten"), f, nil
		}
		if in.Record != nil && in.Record.Adopted {
			return z.NewChange(reconcile.None, "kept: it existed before berth managed it"), f, nil
		}
		c := z.NewChange(reconcile.Delete, "no longer declared; named stopped serving it when berth's include file dropped it")
		if old, err := parseZone(data, zoneOf(z.Path())); err == nil {
			c.Diff = recordDiff(old.records, nil)
		}
		return c, f, nil
	}

	var old *parsedZone
	var parseErr error
	if exists {
		old, parseErr = parseZone(data, z.zone.Name)
	}
	// The content without the serial decides whether the zone changed.
	probe, err := render.Zone(z.zone, 0)
	if err != nil {
		return reconcile.Change{}, nil, err
	}
	want, err := parseZone(probe, z.zone.Name)
	if err != nil {
		return reconcile.Change{}, nil, fmt.Errorf("zone %s as berth renders it does not parse: %w", z.zone.Name, err)
	}
	var observedSerial uint32
	changed := true
	if old != nil {
		observedSerial = old.serial
		changed = old.soa != want.soa || !slices.Equal(old.records, want.records)
	}
	serial, err := NextSerial(observedSerial, changed, o.at)
	if err != nil {
		return reconcile.Change{}, nil, fmt.Errorf("zone %s: %w", z.zone.Name, err)
	}
	f.serial = serial
	if !changed {
		return z.NewChange(reconcile.None, ""), f, nil
	}
	if f.content, err = render.Zone(z.zone, serial); err != nil {
		return reconcile.Change{}, nil, err
	}
	if !exists {
		c := z.NewChange(reconcile.Create, fmt.Sprintf("new zone, %d records, serial %d", len(want.records), serial))
		c.Diff = recordDiff(nil, want.records)
		return c, f, nil
	}
	if in.Record == nil && !in.Adopt {
		return z.NewChange(reconcile.Conflict, "a zone file exists there and was not written by berth; run with --adopt to let berth take it over"), f, nil
	}
	if parseErr != nil {
		c := z.NewChange(reconcile.Update, fmt.Sprintf("the zone file on the server does not parse (%v): rewritten, serial %d", parseErr, serial))
		c.Diff = recordDiff(nil, want.records)
		return c, f, nil
	}
	c := z.NewChange(reconcile.Update, "")
	c.Diff = recordDiff(old.records, want.records)
	if old.soa != want.soa {
		c.Diff = "~ SOA " + old.soa + " → " + want.soa + "\n" + c.Diff
	}
	added, removed, modified := diffCounts(old.records, want.records)
	c.Reason = fmt.Sprintf("%d added, %d changed, %d removed of %d records; serial %d → %d", added, modified, removed, len(old.records), observedSerial, serial)
	safety := z.safety
	safety.Allow = safety.Allow || slices.Contains(in.Allow, AllowChanges)
	if err := safety.check(z.zone.Name, old.records, want.records); err != nil {
		return c, f, err
	}
	return c, f, nil
}

func hashOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// zoneOf is the zone name of a zone file path, <dir>/<zone>.zone.
func zoneOf(p string) string {
	return strings.TrimSuffix(path.Base(p), ".zone")
}

// check refuses a change of old to new the threshold does not allow.
func (s Safety) check(zone string, old, new []string) error {
	if s.Allow {
		return nil
	}
	share := s.Share
	if share <= 0 {
		share = DefaultShare
	}
	least := s.MinRecords
	if least <= 0 {
		least = DefaultMinRecords
	}
	apex := mdns.Fqdn(zone) + " "
	isApexNS := func(r string) bool {
		f := strings.Fields(r)
		return strings.HasPrefix(r, apex) && len(f) > 3 && f[3] == "NS"
	}
	gone := without(old, new)
	if slices.ContainsFunc(gone, isApexNS) || slices.ContainsFunc(without(new, old), isApexNS) {
		return fmt.Errorf("zone %s: the plan changes the apex NS set, which can take the zone off the internet: %w (%w); if that is intended, run again with --allow-dns-changes", zone, ErrThreshold, reconcile.ErrPolicy)
	}
	if len(old) >= least && float64(len(gone)) > share*float64(len(old)) {
		return fmt.Errorf("zone %s: the plan deletes or changes %d of its %d records (%.0f %%), more than the %.0f %% the DNS safety threshold allows for a zone of %d records or more: %w (%w); if that is intended, run again with --allow-dns-changes",
			zone, len(gone), len(old), 100*float64(len(gone))/float64(len(old)), 100*share, least, ErrThreshold, reconcile.ErrPolicy)
	}
	return nil
}

// without returns the records of a that are not in b (both sorted).
func without(a, b []string) []string {
	var out []string
	for _, r := range a {
		if _, found := slices.BinarySearch(b, r); !found {
			out = append(out, r)
		}
	}
	return out
}

// rrKey is a record's owner, class and type: "www.example.com. IN A".
func rrKey(r string) (key, ttl, data string) {
	f := strings.SplitN(r, " ", 5)
	if len(f) < 5 {
		return r, "", ""
	}
	return f[0] + " " + f[2] + " " + f[3], f[1], f[4]
}

// diffCounts counts added, removed and modified records: a record removed
// and one added with the same owner and type count as one modification.
func diffCounts(old, new []string) (added, removed, modified int) {
	gone, came := without(old, new), without(new, old)
	pairs := pair(gone, came)
	return len(came) - len(pairs), len(gone) - len(pairs), len(pairs)
}

// pair matches removed and added records of the same owner and type, in
// order: each pair is a modification.
func pair(gone, came []string) map[int]int {
	pairs := map[int]int{}
	used := map[int]bool{}
	for i, g := range gone {
		kg, _, _ := rrKey(g)
		for j, c := range came {
			if kc, _, _ := rrKey(c); kc == kg && !used[j] {
				pairs[i], used[j] = j, true
				break
			}
		}
	}
	return pairs
}

// recordDiff is the plan's record-level diff, as DNSControl previews it:
// "+ record" added, "- record" removed, "~ record → new data" changed.
func recordDiff(old, new []string) string {
	gone, came := without(old, new), without(new, old)
	pairs := pair(gone, came)
	paired := map[int]bool{}
	type line struct{ key, text string }
	var lines []line
	for i, g := range gone {
		if j, ok := pairs[i]; ok {
			paired[j] = true
			_, ottl, _ := rrKey(g)
			_, nttl, ndata := rrKey(came[j])
			to := ndata
			if ottl != nttl {
				to = came[j]
			}
			lines = append(lines, line{g, "~ " + g + " → " + to})
			continue
		}
		lines = append(lines, line{g, "- " + g})
	}
	for j, c := range came {
		if !paired[j] {
			lines = append(lines, line{c, "+ " + c})
		}
	}
	slices.SortStableFunc(lines, func(a, b line) int { return strings.Compare(a.key, b.key) })
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

func (z *Zone) run(ctx context.Context, h host.Host, argv []string) error {
	res, err := h.Run(ctx, argv, host.RunOptions{Dir: z.bind.Dir})
	if err != nil {
		msg := strings.TrimSpace(string(res.Stdout) + "\n" + string(res.Stderr))
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, msg)
	}
	return nil
}

// Apply checks the new zone file with named-checkzone beside the live one,
// installs it atomically and reloads that zone only. A zone named does not
// serve yet (a new one) is loaded by the rndc reconfig of berth's include
// file instead. A refused check leaves the served zone as it was.
func (z *Zone) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	switch c.Action {
	case reconcile.Delete:
		err := h.Remove(ctx, z.Path())
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	case reconcile.Create, reconcile.Update:
	default:
		return nil
	}
	f, _ := c.Found.(*found)
	if f == nil || f.content == nil {
		return fmt.Errorf("zone %s: the change carries no zone to install; plan again", z.zone.Name)
	}
	if err := z.install(ctx, h, f.content); err != nil {
		return err
	}
	reloaded, err := z.reload(ctx, h, c.Action == reconcile.Create)
	if reloaded {
		c.Reloaded = append(c.Reloaded, ServiceBIND+" zone "+z.zone.Name)
	}
	return err
}

func (z *Zone) install(ctx context.Context, h host.Host, content []byte) error {
	tmp := path.Join(path.Dir(z.Path()), host.TempPrefix+path.Base(z.Path()))
	if err := h.WriteFile(ctx, tmp, content, host.WriteOptions{Mode: 0o644}); err != nil {
		return fmt.Errorf("write zone %s for its check: %w", z.zone.Name, err)
	}
	defer h.Remove(context.WithoutCancel(ctx), tmp)
	if err := z.run(ctx, h, []string{z.bind.CheckZone, z.zone.Name, tmp}); err != nil {
		return fmt.Errorf("zone %s is refused by named-checkzone, so the zone named serves is left as it was; fix the zone's records in the sites repo: %w", z.zone.Name, err)
	}
	if err := h.WriteFile(ctx, z.Path(), content, host.WriteOptions{Mode: 0o644}); err != nil {
		return fmt.Errorf("install zone %s: %w", z.zone.Name, err)
	}
	return nil
}

// reload runs `rndc reload ZONE` and reports whether named reloaded it. A
// zone named does not know yet (new) is not an error when missingOK: the
// include file's reconfig loads it.
func (z *Zone) reload(ctx context.Context, h host.Host, missingOK bool) (bool, error) {
	name := zoneOf(z.Path())
	err := z.run(ctx, h, append(slices.Clone(z.bind.RNDC), "reload", name))
	if err != nil && missingOK && strings.Contains(err.Error(), "not found") {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("zone %s is installed but named did not reload it: %w", name, err)
	}
	return true, nil
}

// Undo puts back the zone file Check observed and reloads the zone.
func (z *Zone) Undo(ctx context.Context, h host.Host, c *reconcile.Change) error {
	f, _ := c.Found.(*found)
	switch {
	case f == nil:
		return fmt.Errorf("cannot restore %s: its prior state was not recorded", z.Path())
	case !f.priorExists:
		if err := h.Remove(ctx, z.Path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := h.WriteFile(ctx, z.Path(), f.prior, host.WriteOptions{Mode: 0o644}); err != nil {
		return err
	}
	_, err := z.reload(ctx, h, true)
	return err
}

// Record is the zone's inventory entry. Its Hash is that of the zone as
// berth renders it without its serial (which depends on the server): it
// changes exactly when the zone's content does.
func (z *Zone) Record() reconcile.Record {
	rec := z.NewRecord()
	if z.zone != nil {
		if probe, err := render.Zone(z.zone, 0); err == nil {
			rec.Hash = hashOf(probe)
		}
	}
	return rec
}
