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
	reconcile.RegisterPruner(KindZone, func(rec reconcile.Record) reconcile.Resource {
		return &Zone{id: rec.ID, server: rec.Server, path: rec.Path, absent: true}
	})
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
// serial is computed at Check from the zone on the server (NextSerial).
type Zone struct {
	id, server, path string
	zone             *spec.ResolvedZone
	bind             BIND
	safety           Safety
	now              func() time.Time
	deps             []string
	absent           bool // delete it (a pruned inventory record)

	// Set by Check for Apply, Undo, Record and the secondaries' Sync.
	action      reconcile.Action
	serial      uint32
	content     []byte
	hash        string
	prior       []byte
	priorExists bool
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
	return &Zone{id: s.ID, server: s.Server, path: render.ZoneFile(s.BIND.ZoneDir, s.Zone.Name), zone: s.Zone,
		bind: s.BIND, safety: s.Safety, now: now, deps: s.Deps}
}

func (z *Zone) ID() string        { return z.id }
func (z *Zone) Server() string    { return z.server }
func (z *Zone) Kind() string      { return KindZone }
func (z *Zone) Site() string      { return "" }
func (z *Zone) Path() string      { return z.path }
func (z *Zone) Deps() []string    { return z.deps }
func (z *Zone) Observe() []string { return []string{z.path} }

// BatchKey groups the zones of one server: their files are read in one
// round trip.
func (z *Zone) BatchKey() string { return KindZone }

// readScript prints, for each path given as an argument that is a regular
// file, its path, its size in bytes and its content. It is constant: the
// paths reach it as arguments, never as shell text.
const readScript = `for f do if [ -f "$f" ] && [ ! -L "$f" ]; then printf '%s\n' "$f"; wc -c < "$f"; cat -- "$f"; fi; done`

// ObserveBatch reads every zone file of the batch in one command.
func (z *Zone) ObserveBatch(ctx context.Context, h host.Host, batch []reconcile.Resource) (any, error) {
	var paths []string
	for _, r := range batch {
		if zr, ok := r.(*Zone); ok && !slices.Contains(paths, zr.path) {
			paths = append(paths, zr.path)
		}
	}
	files := map[string][]byte{}
	if len(paths) == 0 {
		return files, nil
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
		files[string(name)] = rest[:n]
		out = rest[n:]
	}
	return files, nil
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

func (z *Zone) change(a reconcile.Action, reason string) reconcile.Change {
	return reconcile.Change{ID: z.id, Server: z.server, Kind: KindZone, Path: z.path, Action: a, Reason: reason}
}

func (z *Zone) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	c, err := z.check(in)
	z.action = c.Action
	return c, err
}

func (z *Zone) check(in reconcile.CheckInput) (reconcile.Change, error) {
	files, _ := in.Batch.(map[string][]byte)
	data, exists := files[z.path]
	z.prior, z.priorExists = data, exists
	if z.absent {
		if !exists {
			return z.change(reconcile.Delete, "already gone; forgotten"), nil
		}
		if in.Record != nil && in.Record.Adopted {
			return z.change(reconcile.None, "kept: it existed before berth managed it"), nil
		}
		c := z.change(reconcile.Delete, "no longer declared; named stopped serving it when berth's include file dropped it")
		if old, err := parseZone(data, zoneOf(z.path)); err == nil {
			c.Diff = recordDiff(old.records, nil)
		}
		return c, nil
	}

	var old *parsedZone
	var parseErr error
	if exists {
		old, parseErr = parseZone(data, z.zone.Name)
	}
	// The content without the serial decides whether the zone changed.
	probe, err := render.Zone(z.zone, 0)
	if err != nil {
		return reconcile.Change{}, err
	}
	want, err := parseZone(probe, z.zone.Name)
	if err != nil {
		return reconcile.Change{}, fmt.Errorf("zone %s as berth renders it does not parse: %w", z.zone.Name, err)
	}
	var observed uint32
	changed := true
	if old != nil {
		observed = old.serial
		changed = old.soa != want.soa || !slices.Equal(old.records, want.records)
	}
	serial, err := NextSerial(observed, changed, z.now())
	if err != nil {
		return reconcile.Change{}, fmt.Errorf("zone %s: %w", z.zone.Name, err)
	}
	z.serial = serial
	if !changed {
		z.content = data
		z.hash = hashOf(data)
		return z.change(reconcile.None, ""), nil
	}
	if z.content, err = render.Zone(z.zone, serial); err != nil {
		return reconcile.Change{}, err
	}
	z.hash = hashOf(z.content)
	if !exists {
		c := z.change(reconcile.Create, fmt.Sprintf("new zone, %d records, serial %d", len(want.records), serial))
		c.Diff = recordDiff(nil, want.records)
		return c, nil
	}
	if in.Record == nil && !in.Adopt {
		return z.change(reconcile.Conflict, "a zone file exists there and was not written by berth; run with --adopt to let berth take it over"), nil
	}
	if parseErr != nil {
		c := z.change(reconcile.Update, fmt.Sprintf("the zone file on the server does not parse (%v): rewritten, serial %d", parseErr, serial))
		c.Diff = recordDiff(nil, want.records)
		return c, nil
	}
	c := z.change(reconcile.Update, "")
	c.Diff = recordDiff(old.records, want.records)
	if old.soa != want.soa {
		c.Diff = "~ SOA " + old.soa + " → " + want.soa + "\n" + c.Diff
	}
	added, removed, modified := diffCounts(old.records, want.records)
	c.Reason = fmt.Sprintf("%d added, %d changed, %d removed of %d records; serial %d → %d", added, modified, removed, len(old.records), observed, serial)
	if err := z.safety.check(z.zone.Name, old.records, want.records); err != nil {
		return c, err
	}
	return c, nil
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
		return h.Remove(ctx, z.path)
	case reconcile.Create, reconcile.Update:
	default:
		return nil
	}
	if err := z.install(ctx, h, z.content); err != nil {
		return err
	}
	return z.reload(ctx, h, c.Action == reconcile.Create)
}

func (z *Zone) install(ctx context.Context, h host.Host, content []byte) error {
	tmp := path.Join(path.Dir(z.path), host.TempPrefix+path.Base(z.path))
	if err := h.WriteFile(ctx, tmp, content, host.WriteOptions{Mode: 0o644}); err != nil {
		return fmt.Errorf("write zone %s for its check: %w", z.zone.Name, err)
	}
	defer h.Remove(context.WithoutCancel(ctx), tmp)
	if err := z.run(ctx, h, []string{z.bind.CheckZone, z.zone.Name, tmp}); err != nil {
		return fmt.Errorf("zone %s is refused by named-checkzone, so the zone named serves is left as it was; fix the zone's records in the sites repo: %w", z.zone.Name, err)
	}
	if err := h.WriteFile(ctx, z.path, content, host.WriteOptions{Mode: 0o644}); err != nil {
		return fmt.Errorf("install zone %s: %w", z.zone.Name, err)
	}
	return nil
}

// reload runs `rndc reload ZONE`. A zone named does not know yet (new) is
// not an error when missingOK: the include file's reconfig loads it.
func (z *Zone) reload(ctx context.Context, h host.Host, missingOK bool) error {
	name := zoneOf(z.path)
	err := z.run(ctx, h, append(slices.Clone(z.bind.RNDC), "reload", name))
	if err != nil && missingOK && strings.Contains(err.Error(), "not found") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("zone %s is installed but named did not reload it: %w", name, err)
	}
	return nil
}

// Undo puts back the zone file Check observed and reloads the zone.
func (z *Zone) Undo(ctx context.Context, h host.Host, c *reconcile.Change) error {
	if !z.priorExists {
		if err := h.Remove(ctx, z.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	if err := h.WriteFile(ctx, z.path, z.prior, host.WriteOptions{Mode: 0o644}); err != nil {
		return err
	}
	return z.reload(ctx, h, true)
}

func (z *Zone) Record() reconcile.Record {
	return reconcile.Record{ID: z.id, Server: z.server, Kind: KindZone, Path: z.path, Hash: z.hash}
}
