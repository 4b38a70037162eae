package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/state"
)

// TestTLSPlanSpreadsOrders: a revision adding 400 sites with tls.acme to
// an account that sent 250 orders an hour ago plans the 50 orders Let's
// Encrypt's 300 per 3 hours leave now, and shows the other 350 waiting
// until the budget has room again; nothing reaches the CA while planning.
func TestTLSPlanSpreadsOrders(t *testing.T) {
	base := t.TempDir()
	repo, stateDir := filepath.Join(base, "repo"), filepath.Join(base, "state")
	const dir = "https://127.0.0.1:9/dir" // nothing listens: a plan asks the CA nothing
	files := map[string]string{
		"berth.yaml": "environments:\n  production:\n    branch: main\n    acme: { directory: \"" + dir + "\", email: ops@example.net }\ndefaults:\n  tls: { acme: true }\n",
		"servers/local.yaml": fmt.Sprintf("kind: Server\nname: local\naddress: local\npublic_addresses: [127.0.0.1]\nservices:\n  http:\n    type: nginx\n    listen: 127.0.0.1:18080\n    conf_dir: %s\n    web_root: %s\n    cert_dir: %s\n",
			filepath.Join(base, "conf"), filepath.Join(base, "www"), filepath.Join(base, "certs")),
		"platforms/static.yaml": "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [local]\n",
		"code/index.html":       "hello\n",
	}
	var sites strings.Builder
	for i := range 400 {
		fmt.Fprintf(&sites, "---\nkind: Site\nname: site%03d.org\nplatform: static\n", i)
	}
	files["sites/all.yaml"] = sites.String()
	for name, data := range files {
		p := filepath.Join(repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	st, err := state.Open(ctx, stateDir, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 250 {
		if err := st.AddACMEOrder(ctx, state.ACMEOrder{Directory: dir, Email: "ops@example.net", Names: []string{fmt.Sprintf("old%03d.org", i)}, At: sent, Issued: true}); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	var stdout, stderr bytes.Buffer
	code := run([]string{"plan", "--env", "production", "--repo", repo, "--state-dir", stateDir, "--no-color"}, &stdout, &stderr)
	out := stdout.String()
	if code != exitChanges {
		t.Fatalf("plan: exit %d\n%s\n%s", code, out, stderr.String())
	}
	orders := regexp.MustCompile(`(?m)^  \+ site/site\d{3}\.org/certificate@local  \(order for site\d{3}\.org: no certificate yet\)$`).FindAllString(out, -1)
	until := sent.Add(3 * time.Hour).UTC().Format(time.RFC3339)
	waiting := regexp.MustCompile(`(?m)^  ~ site/site\d{3}\.org/certificate@local  \(waiting until `+regexp.QuoteMeta(until)+
		`: 300 orders of account ops@example\.net in the last 3 hours reach the CA's limit of 300\)$`).FindAllString(out, -1)
	if len(orders) != 50 || len(waiting) != 350 {
		t.Fatalf("%d orders now and %d waiting until %s, want 50 and 350:\n%s", len(orders), len(waiting), until, out)
	}
	if !strings.Contains(orders[0], "site000.org") || !strings.Contains(waiting[0], "site050.org") {
		t.Errorf("the first sites are not the ones ordered: %s ... %s", orders[0], waiting[0])
	}
}
