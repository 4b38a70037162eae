package notify

import (
	"strings"
	"testing"

	"github.com/berthhq/berth/redact"
)

func TestParseTargets(t *testing.T) {
	for _, tc := range []struct {
		in, err string
		n       int
	}{
		{"# none\n\n", "", 0},
		{"ops generic https://hooks.example.com/a\nchat slack https://hooks.slack.com/services/T/B/tok\n", "", 2},
		{"ops generic\n", "want NAME KIND URL", 0},
		{"ops teams https://x.example.com/\n", `kind "teams"`, 0},
		{"ops generic ftp://x.example.com/\n", "not an http(s) URL", 0},
	} {
		got, err := ParseTargets(strings.NewReader(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != tc.n {
			t.Errorf("%q: %d targets, %v; want %d", tc.in, len(got), err, tc.n)
		}
	}
	// A URL is a credential: it is redacted wherever berth prints it.
	if s := redact.String("posting to https://hooks.slack.com/services/T/B/tok failed"); strings.Contains(s, "services/T/B/tok") {
		t.Errorf("the URL is not redacted: %q", s)
	}
}
