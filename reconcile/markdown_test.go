package reconcile

import (
	"fmt"
	"strings"
	"testing"
)

// bigPlan is a first converge of n sites over 5 servers: per site a
// directory, a vhost with its diff and a pool.
func bigPlan(n int) *Plan {
	p := &Plan{Env: "production", Revision: "0123456789abcdef0123456789abcdef01234567",
		Warnings:    []string{"site x: not installed until platform y's code is deployed"},
		Unreachable: []ServerError{{Server: "web9", Error: "dial tcp: i/o timeout"}}}
	for i := range n {
		site := fmt.Sprintf("site%05d.example.com", i)
		server := fmt.Sprintf("web%d", i%5)
		diff := "--- /dev/null\n+++ b/etc/nginx/sites/" + site + ".conf\n@@ -0,0 +1,6 @@\n+server {\n+    listen 80;\n+    server_name \"" + site + "\";\n+    root /var/www/x;\n+}\n"
		p.Changes = append(p.Changes,
			Change{ID: "site/" + site + "/dir@" + server, Server: server, Site: site, Action: Create, Reason: "missing"},
			Change{ID: "site/" + site + "/vhost@" + server, Server: server, Site: site, Action: Create, Reason: "missing", Diff: diff},
			Change{ID: "site/" + site + "/php-pool@" + server, Server: server, Site: site, Action: Create, Reason: "missing | new"})
	}
	return p
}

// TestMarkdownFitsAComment: a plan of 10,000 sites fits in MarkdownLimit
// with the summary, every server's counts, the problems and a note of
// what was left out; the full form holds every change and diff; a small
// plan is written whole, without a note.
func TestMarkdownFitsAComment(t *testing.T) {
	for _, tc := range []struct {
		sites     int
		shortened bool
	}{{3, false}, {150, true}, {10000, true}} {
		t.Run(fmt.Sprint(tc.sites), func(t *testing.T) {
			p := bigPlan(tc.sites)
			var md strings.Builder
			p.WriteMarkdown(&md)
			out := md.String()
			if len(out) > MarkdownLimit {
				t.Errorf("%d characters, more than %d", len(out), MarkdownLimit)
			}
			for _, want := range []string{
				fmt.Sprintf("Plan: %d to add, 0 to change, 0 to destroy.", 3*tc.sites),
				"> **Error:** server `web9` could not be observed",
				"> **Warning:** site x: not installed",
				"| server | add | change | destroy | conflict |",
				"#### Sites (",
				"| `site/site00000.example.com/vhost@web0` | missing |",
				"```diff\n--- /dev/null\n+++ b/etc/nginx/sites/site00000.example.com.conf",
				"missing \\| new",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("the comment lacks %q", want)
				}
			}
			for s := range min(tc.sites, 5) {
				if want := fmt.Sprintf("| `web%d` | %d | 0 | 0 | 0 |", s, 3*((tc.sites-s+4)/5)); !strings.Contains(out, want) {
					t.Errorf("the comment lacks server web%d's counts %q", s, want)
				}
			}
			if got := strings.Contains(out, "**Shortened**"); got != tc.shortened {
				t.Errorf("shortened note: %v, want %v", got, tc.shortened)
			}
			var full strings.Builder
			p.WriteMarkdownFull(&full)
			last := fmt.Sprintf("site%05d.example.com", tc.sites-1)
			if !strings.Contains(full.String(), "`site/"+last+"/php-pool@") || !strings.Contains(full.String(), "+++ b/etc/nginx/sites/"+last+".conf") || strings.Contains(full.String(), "**Shortened**") {
				t.Errorf("the full Markdown lacks the last site's changes or diff, or says it is shortened")
			}
		})
	}
}
