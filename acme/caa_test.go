package acme

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/berthhq/berth/internal/testenv"
)

// TestCheckCAA asks a real named for the CAA records of names, climbing
// from each name to its zone's apex, as the CA does.
func TestCheckCAA(t *testing.T) {
	bind := testenv.BIND(t, map[string]string{"caa.test": `$TTL 60
@ IN SOA ns1.caa.test. hostmaster.caa.test. 1 60 60 600 60
@ IN NS ns1.caa.test.
ns1 IN A 127.0.0.1
@ IN CAA 0 issue "letsencrypt.org"
@ IN CAA 0 issuewild ";"
www IN A 127.0.0.1
free IN CAA 0 iodef "mailto:hostmaster@caa.test"
other IN CAA 0 issue "sectigo.com; accounturi=https://example.net/1"
crit IN CAA 128 tbs "unknown"
`})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		want string // "" allows
	}{
		{"caa.test", ""},
		{"www.caa.test", ""},  // the apex's set applies
		{"free.caa.test", ""}, // a set without issue allows every CA
		{"*.caa.test", `*.caa.test: the CAA records at caa.test let only "" (no CA) issue (issuewild), not letsencrypt.org`},
		{"*.free.caa.test", ""},
		{"other.caa.test", "other.caa.test: the CAA records at other.caa.test let only sectigo.com issue (issue), not letsencrypt.org"},
		{"a.b.other.caa.test", "a.b.other.caa.test: the CAA records at other.caa.test let only sectigo.com issue (issue)"},
		{"crit.caa.test", `the CAA records at crit.caa.test hold the critical property "tbs"`},
		{"elsewhere.example", ""}, // the server refuses a zone it does not serve: the climb ends
	} {
		err := CheckCAA(ctx, bind.Addr, "letsencrypt.org", []string{tc.name})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	// No answer at all is an error: the CA does not issue either.
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	if err := CheckCAA(ctx, "127.0.0.1:"+strconv.Itoa(port), "letsencrypt.org", []string{"caa.test"}); err == nil || !strings.Contains(err.Error(), "CAA lookup of caa.test") {
		t.Errorf("no resolver: got %v", err)
	}
}
