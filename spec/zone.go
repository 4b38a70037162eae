package spec

import (
	"cmp"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// DefaultZoneTTL is a zone's default TTL when its document sets none.
const DefaultZoneTTL = 3600

// ResolvedZone is a zone in one environment: its name with the
// environment's suffix applied, its SOA and NS set, and every record it
// holds, static and of sites, sorted (SortRecords).
type ResolvedZone struct {
	Name string `json:"name"` // ASCII, without the final dot
	// Contact is the SOA RNAME as a DNS name: hostmaster.example.com for
	// hostmaster@example.com.
	Contact     string           `json:"contact"`
	NS          []string         `json:"ns"`
	TTL         int              `json:"ttl"`
	Primary     string           `json:"primary"`
	Secondaries []string         `json:"secondaries,omitempty"`
	Records     []ResolvedRecord `json:"records"`
}

// ResolvedRecord is one resource record of a zone, in the presentation
// form of a zone file: domain names in Data are absolute, with the final
// dot; Name is not.
type ResolvedRecord struct {
	Name string `json:"name"` // owner, ASCII, without the final dot
	Type string `json:"type"`
	TTL  int    `json:"ttl"`
	Data string `json:"data"`
	Site string `json:"site,omitempty"` // the site that publishes it, "" for a static record
}

// String is the record as a zone file line: "www.example.com. 300 IN A 203.0.113.10".
func (r ResolvedRecord) String() string {
	return fmt.Sprintf("%s. %d IN %s %s", r.Name, r.TTL, r.Type, r.Data)
}

var typeOrder = map[string]int{"SOA": 0, "NS": 1, "A": 2, "AAAA": 3, "CNAME": 4, "MX": 5, "TXT": 6, "CAA": 7, "SRV": 8}

// SortRecords sorts records in zone file order: by owner name compared
// label by label from the right (the apex first, each name followed by the
// names below it), then type, then data.
func SortRecords(rs []ResolvedRecord) {
	slices.SortStableFunc(rs, func(a, b ResolvedRecord) int {
		return cmp.Or(compareNames(a.Name, b.Name), cmp.Compare(typeOrder[a.Type], typeOrder[b.Type]),
			cmp.Compare(a.Type, b.Type), cmp.Compare(a.Data, b.Data), cmp.Compare(a.TTL, b.TTL))
	})
}

func compareNames(a, b string) int {
	la, lb := strings.Split(a, "."), strings.Split(b, ".")
	slices.Reverse(la)
	slices.Reverse(lb)
	return slices.Compare(la, lb)
}

// InZone reports whether name is zone or a name below it.
func InZone(name, zone string) bool {
	return name == zone || strings.HasSuffix(name, "."+zone)
}

// origin is where a record was written, for problems about it.
type origin struct {
	m       *Meta
	path    string
	subject string
}

// reportFunc receives a problem at a document's field.
type reportFunc func(m *Meta, path, subject, format string, args ...any)

// zoneName is a zone document's name in an environment: suffixed like a
// site's, unless it already is the suffix's domain or ends with it.
func zoneName(ascii, suffix string) string {
	sd := strings.TrimPrefix(suffix, ".")
	if suffix == "" || InZone(ascii, sd) {
		return ascii
	}
	return ascii + suffix
}

// zoneSet computes the zones of environment env with their records, and
// notes naming the sites with names in no zone. Every conflict goes to
// report, at the file:line:column of what causes it. Sites must have been
// validated (their Domain and ASCIIAliases set).
func (r *Repo) zoneSet(env string, report reportFunc) ([]ResolvedZone, []string) {
	e := r.Config.Environments[env]
	if e == nil {
		return nil, nil
	}
	suffix := e.DomainSuffix
	if RuleDomainSuffix.Check(suffix) != nil {
		suffix = ""
	}
	type zoneAt struct {
		z       *ResolvedZone
		doc     *Zone
		origins []origin // one per record
	}
	var zones []*zoneAt
	byName := map[string]*zoneAt{}
	for _, doc := range sortedBy(r.Zones, func(z *Zone) string { return z.Name }) {
		if !inEnv(doc.Environments, env) {
			continue
		}
		ascii, err := ASCIIDomain(doc.Name, false)
		if err != nil {
			continue // refused by its rule
		}
		subject := subjectOf("zone", doc.Name)
		m := &doc.Meta
		name := zoneName(ascii, suffix)
		if first := byName[name]; first != nil {
			report(m, "name", subject, "zone %s is already declared at %s (environment %q)", name, first.doc.At("name"), env)
			continue
		}
		z := &ResolvedZone{Name: name, TTL: cmp.Or(doc.TTL, DefaultZoneTTL), Primary: doc.Primary}
		za := &zoneAt{z: z, doc: doc}
		byName[name] = za
		zones = append(zones, za)
		if local, domain, ok := strings.Cut(doc.Contact, "@"); ok {
			if d, err := ASCIIDomain(domain, false); err == nil {
				z.Contact = strings.ToLower(local) + "." + d
			}
		}
		r.zoneServer(m, "primary", subject, doc.Primary, env, report)
		seen := map[string]bool{doc.Primary: true}
		for i, sn := range doc.Secondaries {
			p := fmt.Sprintf("secondaries[%d]", i)
			if seen[sn] {
				report(m, p, subject, "server %q is already the primary or a secondary of this zone", sn)
				continue
			}
			seen[sn] = true
			if r.zoneServer(m, p, subject, sn, env, report) {
				z.Secondaries = append(z.Secondaries, sn)
				r.transferAddress(m, p, subject, sn, report)
			}
		}
		if len(z.Secondaries) > 0 {
			r.transferAddress(m, "primary", subject, doc.Primary, report)
		}
		add := func(rec ResolvedRecord, o origin) {
			z.Records = append(z.Records, rec)
			za.origins = append(za.origins, o)
		}
		for i, ns := range doc.NS {
			if a, err := ASCIIDomain(ns, false); err == nil {
				add(ResolvedRecord{Name: name, Type: "NS", TTL: z.TTL, Data: a + "."}, origin{m, fmt.Sprintf("ns[%d]", i), subject})
			}
		}
		for i, rec := range doc.Records {
			p := fmt.Sprintf("records[%d]", i)
			if RuleRecordName.Check(rec.Name) != nil || rec.Type == "" || RuleRecordValue.Check(rec.Value) != nil {
				continue // refused by its rule
			}
			owner := name
			if rec.Name != "@" {
				owner = rec.Name + "." + name
			}
			if len(owner) > 253 {
				report(m, p+".name", subject, "%s is %d characters long in environment %q, more than the 253 of a domain name", owner, len(owner), env)
				continue
			}
			if rec.Type == "NS" && owner == name {
				report(m, p+".type", subject, "the apex NS set of a zone is its ns: list, not a record")
				continue
			}
			data, ok := recordData(m, p, subject, &rec, report)
			if !ok {
				continue
			}
			add(ResolvedRecord{Name: owner, Type: rec.Type, TTL: cmp.Or(rec.TTL, z.TTL), Data: data}, origin{m, p, subject})
		}
	}

	// The sites' records, in the zone with the longest name holding each.
	var notes []string
	for _, s := range sortedBy(r.Sites, func(s *Site) string { return s.Name }) {
		if s.DNS == nil || !inEnv(s.Environments, env) || s.Domain == "" {
			continue
		}
		subject := subjectOf("site", s.Name)
		m := &s.Meta
		var data []ResolvedRecord // owner filled per name
		var bare []string         // web servers without a public address
		if s.DNS.CNAME != "" {
			if c, err := ASCIIDomain(s.DNS.CNAME, false); err == nil {
				data = append(data, ResolvedRecord{Type: "CNAME", Data: c + "."})
			}
		} else {
			var addrs []netip.Addr
			addrs, bare = r.siteAddresses(s, env)
			for _, a := range addrs {
				t := "A"
				if a.Is6() {
					t = "AAAA"
				}
				data = append(data, ResolvedRecord{Type: t, Data: a.String()})
			}
		}
		var want *zoneAt
		if s.DNS.Zone != "" {
			if a, err := ASCIIDomain(s.DNS.Zone, false); err == nil {
				if want = byName[zoneName(a, suffix)]; want == nil {
					report(m, "dns.zone", subject, "zone %s is not declared in environment %q: add a Zone document for it", zoneName(a, suffix), env)
					continue
				}
			}
		}
		names := append([]string{s.Domain + suffix}, nil...)
		for _, a := range s.ASCIIAliases {
			names = append(names, a+suffix)
		}
		if s.ASCIIRenamedFrom != "" {
			names = append(names, s.ASCIIRenamedFrom+suffix) // it redirects to the new name
		}
		var outside []string
		for _, n := range names {
			var za *zoneAt
			for _, cand := range zones {
				if InZone(n, cand.z.Name) && (za == nil || len(cand.z.Name) > len(za.z.Name)) {
					za = cand
				}
			}
			if want != nil && za != want {
				report(m, "dns.zone", subject, "%s is not in zone %s in environment %q", n, want.z.Name, env)
				continue
			}
			if za == nil {
				outside = append(outside, n)
				continue
			}
			if s.DNS.Server != "" && s.DNS.Server != za.z.Primary {
				report(m, "dns.server", subject, "zone %s, which holds %s, is served by %q (its primary), not %q: remove dns.server or make it the zone's primary", za.z.Name, n, za.z.Primary, s.DNS.Server)
			}
			if n == za.z.Name && s.DNS.CNAME != "" {
				report(m, "dns.cname", subject, "%s is the apex of zone %s, where a CNAME cannot be (the zone's SOA and NS are there): publish addresses instead", n, za.z.Name)
				continue
			}
			if len(bare) > 0 {
				report(m, "dns", subject, "web server %s has no public address to publish %s in zone %s (environment %q): give it public_addresses, or set dns.cname", strings.Join(bare, ", "), n, za.z.Name, env)
				bare = nil
			}
			for _, d := range data {
				d.Name, d.TTL, d.Site = n, za.z.TTL, s.Name
				za.z.Records = append(za.z.Records, d)
				za.origins = append(za.origins, origin{m, "dns", subject})
			}
		}
		if len(outside) > 0 {
			notes = append(notes, fmt.Sprintf("site %s: %s in no zone declared in environment %s: no DNS record is published for %s", s.Name, strings.Join(outside, ", "), env, map[bool]string{true: "it", false: "them"}[len(outside) == 1]))
		}
	}

	out := make([]ResolvedZone, 0, len(zones))
	for _, za := range zones {
		conflicts(za.z, za.origins, env, report)
		SortRecords(za.z.Records)
		out = append(out, *za.z)
	}
	return out, notes
}

// zoneServer checks a zone's primary or secondary in env.
func (r *Repo) zoneServer(m *Meta, path, subject, name, env string, report reportFunc) bool {
	srv := r.servers[name]
	switch {
	case name == "":
		return false
	case srv == nil:
		report(m, path, subject, "server %q does not exist%s", name, didYouMean(name, slices.Sorted(maps.Keys(r.servers))))
	case srv.Services.DNS == nil:
		report(m, path, subject, "server %q has no dns service (%s)", name, srv.At("services"))
	case !inEnv(srv.Environments, env):
		report(m, path, subject, "server %q is not in environment %q, where the zone is; limit the zone's environments or add the server there", name, env)
	default:
		return true
	}
	return false
}

// transferAddress reports a server of a zone with secondaries whose DNS
// address other servers cannot know: address local without an address
// in services.dns.listen.
func (r *Repo) transferAddress(m *Meta, path, subject, name string, report reportFunc) {
	srv := r.servers[name]
	if srv == nil || srv.Services.DNS == nil || srv.Address != "local" {
		return
	}
	if addr, _, err := SplitListen(srv.Services.DNS.Listen); err == nil && addr != "" {
		return
	}
	report(m, path, subject, "server %q has address local: give it services.dns.listen with an IP address, where the zone's primary and secondaries reach its named for transfers and notifies", name)
}

// siteAddresses returns the public addresses of a site's web servers in
// env, sorted, and the web servers that have none.
func (r *Repo) siteAddresses(s *Site, env string) (addrs []netip.Addr, bare []string) {
	pl := r.platforms[s.Platform]
	if pl == nil {
		return nil, nil
	}
	seen := map[netip.Addr]bool{}
	servers := pl.Servers
	if lb := r.siteLB(pl, env); lb != nil {
		servers = []string{lb.Name} // the site is published at its load balancer
	}
	for _, sn := range servers {
		srv := r.servers[sn]
		if srv == nil || (srv.Services.HTTP == nil && srv.Services.LB == nil) || !inEnv(srv.Environments, env) {
			continue
		}
		found := false
		for _, a := range PublicAddresses(srv) {
			found = true
			if !seen[a] {
				seen[a] = true
				addrs = append(addrs, a)
			}
		}
		if !found {
			bare = append(bare, sn)
		}
	}
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	return addrs, bare
}

// PublicAddresses returns the addresses a server's sites are published
// at: its public_addresses, else its address when that is an IP address.
func PublicAddresses(s *Server) []netip.Addr {
	var out []netip.Addr
	for _, p := range s.PublicAddresses {
		if a, err := netip.ParseAddr(p); err == nil {
			out = append(out, a)
		}
	}
	if len(s.PublicAddresses) == 0 {
		if a, err := netip.ParseAddr(s.Address); err == nil && a.Zone() == "" {
			out = append(out, a)
		}
	}
	return out
}

// recordData checks a static record's value and fields against its type
// and returns its data in presentation form.
func recordData(m *Meta, p, subject string, rec *ZoneRecord, report reportFunc) (string, bool) {
	bad := func(path, format string, args ...any) (string, bool) {
		report(m, p+"."+path, subject, format, args...)
		return "", false
	}
	if rec.Priority != nil && rec.Type != "MX" && rec.Type != "SRV" {
		return bad("priority", "priority is for MX and SRV records, not %s", rec.Type)
	}
	if (rec.Weight != nil || rec.Port != nil) && rec.Type != "SRV" {
		return bad("type", "weight and port are for SRV records, not %s", rec.Type)
	}
	if rec.Tag != "" && rec.Type != "CAA" {
		return bad("tag", "tag is for CAA records, not %s", rec.Type)
	}
	domain := func() (string, bool) {
		a, err := ASCIIDomain(rec.Value, false)
		if err != nil {
			return bad("value", "a %s record's value is a domain name: %s is not (%v)", rec.Type, shown(rec.Value), err)
		}
		return a + ".", true
	}
	switch rec.Type {
	case "A", "AAAA":
		a, err := netip.ParseAddr(rec.Value)
		if err != nil || a.Zone() != "" || (rec.Type == "A") != a.Is4() {
			return bad("value", "an %s record's value is an %s address: %s is not", rec.Type, map[string]string{"A": "IPv4", "AAAA": "IPv6"}[rec.Type], shown(rec.Value))
		}
		return a.String(), true
	case "CNAME", "NS":
		return domain()
	case "MX":
		if rec.Priority == nil {
			return bad("type", "an MX record needs priority")
		}
		d, ok := domain()
		return strconv.Itoa(*rec.Priority) + " " + d, ok
	case "SRV":
		if rec.Priority == nil || rec.Weight == nil || rec.Port == nil {
			return bad("type", "an SRV record needs priority, weight and port")
		}
		d, ok := domain()
		return fmt.Sprintf("%d %d %d %s", *rec.Priority, *rec.Weight, *rec.Port, d), ok
	case "TXT":
		return QuoteTXT(rec.Value), true
	case "CAA":
		if rec.Tag == "" {
			return bad("type", "a CAA record needs tag (issue, issuewild or iodef)")
		}
		if strings.ContainsAny(rec.Value, " ") && rec.Tag != "iodef" {
			return bad("value", "a CAA %s value is a domain name with optional parameters after a ';', without spaces", rec.Tag)
		}
		return fmt.Sprintf("0 %s %s", rec.Tag, strconv.Quote(rec.Value)), true
	}
	return "", false
}

// QuoteTXT writes a TXT value as quoted character strings of at most 255
// bytes each. The value is printable ASCII without " and \ (RuleRecordValue).
func QuoteTXT(v string) string {
	var parts []string
	for len(v) > 255 {
		parts = append(parts, `"`+v[:255]+`"`)
		v = v[255:]
	}
	return strings.Join(append(parts, `"`+v+`"`), " ")
}

// conflicts reports the records of a zone that cannot be together: a
// CNAME next to other data, a site's address record where a static one of
// the same type is, and records below a delegation (other than glue).
func conflicts(z *ResolvedZone, origins []origin, env string, report reportFunc) {
	byName := map[string][]int{}
	var delegations []int
	for i, rec := range z.Records {
		byName[rec.Name] = append(byName[rec.Name], i)
		if rec.Type == "NS" && rec.Name != z.Name {
			delegations = append(delegations, i)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		idx := byName[name]
		if len(idx) < 2 {
			continue
		}
		if c := slices.IndexFunc(idx, func(i int) bool { return z.Records[i].Type == "CNAME" }); c >= 0 {
			i := idx[c]
			j := idx[0]
			if j == i {
				j = idx[1]
			}
			o, other, b := origins[i], origins[j], z.Records[j]
			report(o.m, o.path, o.subject, "%s has a CNAME record and also %s %s record (%s, %s): a CNAME cannot be next to other data (environment %q)", name, article(b.Type), b.Type, other.subject, other.m.At(other.path), env)
			continue
		}
		for _, i := range idx {
			for _, j := range idx {
				a, b := z.Records[i], z.Records[j]
				if a.Site != "" && b.Site == "" && a.Type == b.Type {
					o, other := origins[i], origins[j]
					report(o.m, o.path, o.subject, "%s is published for the site and also written as a static %s record of zone %s (%s): remove one of them (environment %q)", name, b.Type, z.Name, other.m.At(other.path), env)
				}
			}
		}
	}
	for _, d := range delegations {
		sub := z.Records[d].Name
		for i, rec := range z.Records {
			if !InZone(rec.Name, sub) || rec.Type == "A" && rec.Name != sub || rec.Type == "AAAA" && rec.Name != sub || rec.Type == "NS" && rec.Name == sub {
				continue
			}
			o := origins[i]
			report(o.m, o.path, o.subject, "%s %s is inside %s, which zone %s delegates (NS at %s): it would not be served; put it in the delegated zone", rec.Name, rec.Type, sub, z.Name, origins[d].m.At(origins[d].path))
		}
	}
}

// article is the indefinite article of a record type's name as spoken.
func article(t string) string {
	switch t {
	case "A", "AAAA", "MX", "NS", "SRV":
		return "an"
	}
	return "a"
}
