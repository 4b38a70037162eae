package render

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/berthhq/berth/spec"
)

// SOA timers of every zone berth renders, in seconds: refresh, retry,
// expire and the negative-caching TTL (the SOA minimum).
const (
	SOARefresh = 3600
	SOARetry   = 900
	SOAExpire  = 1209600
	SOAMinimum = 300
)

// ZoneHeader starts every zone file berth writes.
const ZoneHeader = "; Written by berth from the sites repo: edits here are overwritten.\n"

// Zone renders the zone file of z with the given SOA serial: the SOA, then
// every record in z.Records' order (spec.SortRecords), one per line, every
// name absolute and every TTL explicit. The same zone and serial always
// give the same bytes. The first name server of z.NS is the SOA MNAME.
//
// Every name and datum is checked again here (spec's rules were applied at
// load): nothing reaches the file that could start a directive, a comment
// or a second line.
func Zone(z *spec.ResolvedZone, serial uint32) ([]byte, error) {
	if err := spec.RuleHostname.Check(z.Name); err != nil {
		return nil, fmt.Errorf("zone name: %w", err)
	}
	if err := spec.RuleHostname.Check(z.Contact); err != nil {
		return nil, fmt.Errorf("zone %s: contact: %w", z.Name, err)
	}
	if len(z.NS) == 0 && !slices.ContainsFunc(z.Records, func(r spec.ResolvedRecord) bool { return r.Type == "NS" && r.Name == z.Name }) {
		return nil, fmt.Errorf("zone %s has no name server", z.Name)
	}
	mname := ""
	for _, r := range z.Records {
		if r.Type == "NS" && r.Name == z.Name {
			mname = r.Data
			break
		}
	}
	if len(z.NS) > 0 {
		mname = z.NS[0] + "."
	}
	if err := checkTTL(z.TTL); err != nil {
		return nil, fmt.Errorf("zone %s: %w", z.Name, err)
	}
	var b bytes.Buffer
	b.WriteString(ZoneHeader)
	fmt.Fprintf(&b, "%s. %d IN SOA %s %s. %d %d %d %d %d\n", z.Name, z.TTL, mname, z.Contact, serial, SOARefresh, SOARetry, SOAExpire, SOAMinimum)
	for _, r := range z.Records {
		if err := checkRecord(z.Name, r); err != nil {
			return nil, fmt.Errorf("zone %s: %w", z.Name, err)
		}
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

func checkTTL(ttl int) error {
	if ttl < 1 || ttl > 2147483647 {
		return fmt.Errorf("TTL %d is out of range", ttl)
	}
	return nil
}

// checkRecord is render's own check of one record.
func checkRecord(zone string, r spec.ResolvedRecord) error {
	if err := spec.RuleDNSName.Check(r.Name); err != nil {
		return fmt.Errorf("record name: %w", err)
	}
	if !spec.InZone(r.Name, zone) {
		return fmt.Errorf("record %s is outside the zone", r.Name)
	}
	if err := checkTTL(r.TTL); err != nil {
		return fmt.Errorf("record %s: %w", r.Name, err)
	}
	quotes := 0
	for _, c := range r.Data {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return fmt.Errorf("record %s %s: data holds %q", r.Name, r.Type, c)
		}
		if c == '"' {
			quotes++
		}
	}
	switch r.Type {
	case "TXT", "CAA":
		// Quoted character strings; RuleRecordValue refuses " inside them.
		if quotes == 0 || quotes%2 != 0 || !strings.HasSuffix(r.Data, `"`) {
			return fmt.Errorf("record %s %s: data is not quoted", r.Name, r.Type)
		}
	case "A", "AAAA", "CNAME", "NS", "MX", "SRV":
		if quotes > 0 || strings.ContainsAny(r.Data, ";()$") || r.Data == "" {
			return fmt.Errorf("record %s %s: data %q is not plain", r.Name, r.Type, r.Data)
		}
	default:
		return fmt.Errorf("record %s: type %q is not one berth writes", r.Name, r.Type)
	}
	return nil
}

// ZoneFile is where a zone's file lives on its primary: <zone_dir>/<zone>.zone.
func ZoneFile(zoneDir, zone string) string {
	return path.Join(zoneDir, zone+".zone")
}

// IncludeZone is one zone statement of berth's include file.
type IncludeZone struct {
	Name string
	// Challenge marks a dynamic challenge zone (_acme-challenge.<name>,
	// see ChallengeZone). On its primary, its file is in the challenge
	// directory (ChallengeZoneFile) and its update-policy lets the TSIG
	// key UpdateKey, and only it, change the TXT records of its apex.
	Challenge bool
	UpdateKey string
	// Secondary is set on a secondary: the zone is transferred from
	// Primary, an address:port, with the TSIG key. On a primary,
	// Secondaries (address:port) may transfer it with the key and are
	// notified of each change.
	Secondary   bool
	Primary     string
	Secondaries []string
}

// TSIGKey is the key primaries and secondaries authenticate transfers
// with. Its secret lives in berth's state store, never in the repo.
type TSIGKey struct {
	Name   string
	Secret string // base64
}

// ZoneInclude renders the file named.conf includes for berth's zones of
// one environment: one zone statement per zone, sorted by name, its file
// in zoneDir; when a zone has secondaries or is one, keyFile (holding
// key, see ZoneKey) is included first and transfers use the key.
func ZoneInclude(zoneDir string, zones []IncludeZone, keyFile, key string) ([]byte, error) {
	if err := spec.RuleServerPath.Check(zoneDir); err != nil || !path.IsAbs(zoneDir) {
		return nil, fmt.Errorf("zone directory %q is not an absolute server path", zoneDir)
	}
	zones = slices.Clone(zones)
	slices.SortFunc(zones, func(a, b IncludeZone) int { return strings.Compare(a.Name, b.Name) })
	var b bytes.Buffer
	b.WriteString("// Written by berth: the zones it serves. Edits here are overwritten.\n")
	needKey := slices.ContainsFunc(zones, func(z IncludeZone) bool { return z.Secondary || len(z.Secondaries) > 0 || z.UpdateKey != "" })
	if needKey {
		if err := spec.RuleServerPath.Check(keyFile); err != nil || !path.IsAbs(keyFile) {
			return nil, fmt.Errorf("key file %q is not an absolute server path", keyFile)
		}
		if err := spec.RuleName.Check(key); err != nil {
			return nil, fmt.Errorf("key name: %w", err)
		}
		fmt.Fprintf(&b, "include %q;\n", keyFile)
	}
	for _, z := range zones {
		if err := checkZoneName(z.Name, z.Challenge); err != nil {
			return nil, err
		}
		file := ZoneFile(zoneDir, z.Name)
		update := ""
		if z.Challenge && !z.Secondary {
			if err := spec.RuleName.Check(z.UpdateKey); err != nil {
				return nil, fmt.Errorf("zone %s: update key name: %w", z.Name, err)
			}
			file = ChallengeZoneFile(zoneDir, z.Name)
			update = fmt.Sprintf(" update-policy { grant %q name %q TXT; };", z.UpdateKey, z.Name+".")
		}
		if z.Secondary {
			p, err := bindAddress(z.Primary)
			if err != nil {
				return nil, fmt.Errorf("zone %s: primary: %w", z.Name, err)
			}
			fmt.Fprintf(&b, "zone %q { type secondary; file %q; primaries { %s key %q; }; };\n", z.Name, file, p, key)
			continue
		}
		if len(z.Secondaries) == 0 {
			fmt.Fprintf(&b, "zone %q { type primary; file %q;%s };\n", z.Name, file, update)
			continue
		}
		var notify []string
		for _, s := range z.Secondaries {
			a, err := bindAddress(s)
			if err != nil {
				return nil, fmt.Errorf("zone %s: secondary: %w", z.Name, err)
			}
			notify = append(notify, a+";")
		}
		fmt.Fprintf(&b, "zone %q { type primary; file %q;%s allow-transfer { key %q; }; notify explicit; also-notify { %s }; };\n",
			z.Name, file, update, key, strings.Join(notify, " "))
	}
	return b.Bytes(), nil
}

// ZoneKey renders the TSIG key file the include file includes: the key
// of the zone transfers and, when challenge zones are served, the key of
// their dynamic updates.
func ZoneKey(keys ...TSIGKey) ([]byte, error) {
	b := []byte("// Written by berth: the keys of its zone transfers and ACME challenge updates. Keep it private.\n")
	for _, k := range keys {
		if err := spec.RuleName.Check(k.Name); err != nil {
			return nil, fmt.Errorf("key name: %w", err)
		}
		if _, err := base64.StdEncoding.DecodeString(k.Secret); err != nil || k.Secret == "" {
			return nil, errors.New("the TSIG secret is not base64")
		}
		b = fmt.Appendf(b, "key %q { algorithm hmac-sha256; secret %q; };\n", k.Name, k.Secret)
	}
	return b, nil
}

// ChallengeZoneDir is the directory of the challenge zones' files on their
// primary, inside the zone directory: named writes their journals (.jnl)
// and dumps the zones there, so it is writable by named's group.
func ChallengeZoneDir(zoneDir string) string { return path.Join(zoneDir, "acme") }

// ChallengeZoneFile is where a challenge zone's file lives on its
// primary.
func ChallengeZoneFile(zoneDir, zone string) string {
	return path.Join(ChallengeZoneDir(zoneDir), zone+".zone")
}

// ChallengeTTL is the TTL of a challenge zone's records and its negative
// TTL: a resolver forgets an old answer within a minute.
const ChallengeTTL = 60

// ChallengeZone renders the first content of a dynamic challenge zone
// (_acme-challenge.<name>, spec.ChallengeName): its SOA and NS set, the
// name servers and contact of the zone that delegates it. berth writes it
// once; from then on named owns the zone (its journal, its dumps) and the
// ACME client changes its TXT records by dynamic update.
func ChallengeZone(zone string, ns []string, contact string) ([]byte, error) {
	if err := checkZoneName(zone, true); err != nil {
		return nil, err
	}
	if err := spec.RuleHostname.Check(contact); err != nil {
		return nil, fmt.Errorf("zone %s: contact: %w", zone, err)
	}
	if len(ns) == 0 {
		return nil, fmt.Errorf("zone %s has no name server", zone)
	}
	var b bytes.Buffer
	b.WriteString("; Written once by berth: named keeps this zone up to date by dynamic update (ACME DNS-01).\n")
	fmt.Fprintf(&b, "%s. %d IN SOA %s. %s. 1 %d %d %d %d\n", zone, ChallengeTTL, ns[0], contact, SOARefresh, SOARetry, SOAExpire, ChallengeTTL)
	for _, n := range ns {
		if err := spec.RuleHostname.Check(n); err != nil {
			return nil, fmt.Errorf("zone %s: name server: %w", zone, err)
		}
		fmt.Fprintf(&b, "%s. %d IN NS %s.\n", zone, ChallengeTTL, n)
	}
	return b.Bytes(), nil
}

// checkZoneName checks a zone's name: a host name, or for a challenge
// zone a DNS name starting with _acme-challenge. and holding no "*", so
// that it is a safe file name.
func checkZoneName(name string, challenge bool) error {
	if !challenge {
		if err := spec.RuleHostname.Check(name); err != nil {
			return fmt.Errorf("zone name: %w", err)
		}
		return nil
	}
	if err := spec.RuleDNSName.Check(name); err != nil || strings.Contains(name, "*") || !strings.HasPrefix(name, spec.ChallengeLabel+".") {
		return fmt.Errorf("challenge zone name %q is not _acme-challenge.<a host name>", name)
	}
	return nil
}

// bindAddress writes address:port as named.conf does: "addr port N".
func bindAddress(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return "", fmt.Errorf("%q is not an IP address: named transfers from and notifies addresses", host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q", port)
	}
	return fmt.Sprintf("%s port %d", a, n), nil
}
