package dns

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/berthhq/berth/reconcile"
)

func TestRecordDiff(t *testing.T) {
	tests := []struct {
		name     string
		old, new []string
		want     string
	}{
		{"added", []string{"a.example.com. 300 IN A 192.0.2.1"}, []string{"a.example.com. 300 IN A 192.0.2.1", "b.example.com. 300 IN A 192.0.2.2"},
			"+ b.example.com. 300 IN A 192.0.2.2\n"},
		{"removed", []string{"a.example.com. 300 IN A 192.0.2.1", "b.example.com. 300 IN A 192.0.2.2"}, []string{"a.example.com. 300 IN A 192.0.2.1"},
			"- b.example.com. 300 IN A 192.0.2.2\n"},
		{"changed data", []string{"example.com. 300 IN MX 10 mx1.example.com."}, []string{"example.com. 300 IN MX 10 mx2.example.com."},
			"~ example.com. 300 IN MX 10 mx1.example.com. → 10 mx2.example.com.\n"},
		{"changed TTL", []string{"a.example.com. 300 IN A 192.0.2.1"}, []string{"a.example.com. 60 IN A 192.0.2.1"},
			"~ a.example.com. 300 IN A 192.0.2.1 → a.example.com. 60 IN A 192.0.2.1\n"},
		{"unchanged", []string{"a.example.com. 300 IN A 192.0.2.1"}, []string{"a.example.com. 300 IN A 192.0.2.1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := recordDiff(tt.old, tt.new); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseZone(t *testing.T) {
	p, err := parseZone([]byte("; comment\n$TTL 300\n@ IN SOA ns1.example.net. h.example.com. 2026120105 3600 900 1209600 300\n@ NS ns1.example.net.\nwww A 192.0.2.1\n"), "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if p.serial != 2026120105 || strings.Join(p.records, "|") != "example.com. 300 IN NS ns1.example.net.|www.example.com. 300 IN A 192.0.2.1" {
		t.Errorf("parsed %+v", p)
	}
	for _, bad := range []string{"@ IN A 192.0.2.1\n", "$INCLUDE /etc/passwd\n", "@ 300 IN SOA ns1. h. 1 2 3 4 5\nwww 300 IN A not-an-address\n"} {
		if _, err := parseZone([]byte(bad), "example.com"); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func records(n int) []string {
	out := []string{"example.com. 300 IN NS ns1.example.net."}
	for i := 1; i < n; i++ {
		out = append(out, fmt.Sprintf("t%02d.example.com. 300 IN TXT \"%d\"", i, i))
	}
	return out
}

func TestSafety(t *testing.T) {
	tests := []struct {
		name     string
		s        Safety
		old, new []string
		refused  bool
	}{
		{"40 % of 10 deleted", Safety{}, records(10), records(6), true},
		{"30 % of 10 deleted", Safety{}, records(10), records(7), false},
		{"40 % deleted, allowed", Safety{Allow: true}, records(10), records(6), false},
		{"small zone", Safety{}, records(9), records(2), false},
		{"share set to 50 %", Safety{Share: 0.5}, records(10), records(6), false},
		{"apex NS changed", Safety{}, records(3), append(records(3)[1:], "example.com. 300 IN NS ns2.example.net."), true},
		{"apex NS added", Safety{}, records(3), append(records(3), "example.com. 300 IN NS ns2.example.net."), true},
		{"delegation NS added", Safety{}, records(3), append(records(3), "sub.example.com. 300 IN NS ns2.example.net."), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, new := sorted(tt.old), sorted(tt.new)
			err := tt.s.check("example.com", old, new)
			if refused := err != nil; refused != tt.refused {
				t.Fatalf("refused = %v (%v), want %v", refused, err, tt.refused)
			}
			if err != nil && (!errors.Is(err, ErrThreshold) || !errors.Is(err, reconcile.ErrPolicy) || !strings.Contains(err.Error(), "--allow-dns-changes")) {
				t.Errorf("error %v does not name the threshold and its override", err)
			}
		})
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }
