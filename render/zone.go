package render

import (
	"bytes"
	"fmt"
	"path"
	"slices"
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

// ZoneInclude renders the file named.conf includes for berth's zones: one
// primary zone statement per zone, sorted by name, its file in zoneDir.
func ZoneInclude(zoneDir string, zones []string) ([]byte, error) {
	if err := spec.RuleServerPath.Check(zoneDir); err != nil || !path.IsAbs(zoneDir) {
		return nil, fmt.Errorf("zone directory %q is not an absolute server path", zoneDir)
	}
	names := slices.Sorted(slices.Values(zones))
	var b bytes.Buffer
	b.WriteString("// Written by berth: the zones it serves. Edits here are overwritten.\n")
	for _, z := range names {
		if err := spec.RuleHostname.Check(z); err != nil {
			return nil, fmt.Errorf("zone name: %w", err)
		}
		fmt.Fprintf(&b, "zone %q { type primary; file %q; };\n", z, ZoneFile(zoneDir, z))
	}
	return b.Bytes(), nil
}
