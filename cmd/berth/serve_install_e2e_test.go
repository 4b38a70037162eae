package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/state"
)

// TestServeKeepsWhatApplyInstalled: on nginx + php-fpm, a site whose
// platform has an install command is applied by `berth apply`, which
// installs it once; `berth serve` then runs (its startup run and drift
// runs) and changes nothing: the marker stays, the install does not run
// again, every run of the daemon is a no-op, and the next `berth plan`
// shows no changes. Before the daemon built its desired state through
// desired.Prepare, it left the install out and so planned to forget it
// (removing the marker), and the next apply installed the site again.
func TestServeKeepsWhatApplyInstalled(t *testing.T) {
	w := newPHPWeb(t)
	f := w.webFixture
	// The install appends a line to installs.log, so its runs are counted.
	runs := filepath.Join(w.base, "runs")
	if err := os.MkdirAll(runs, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(runs, 0o777); err != nil {
		t.Fatal(err)
	}
	installs := filepath.Join(runs, "installs.log")
	f.write("berth.yaml", "environments:\n  production: { branch: main }\n")
	f.write("servers/web.yaml", w.webServer("  db: { type: sqlite }\n"))
	f.write("platforms/app.yaml", "kind: Platform\nname: app\ntype: php\nsource: { path: code }\nservers: [web]\n"+
		"install: [sh, -c, 'echo \"installed $BERTH_SITE\" >> "+installs+"']\n")
	f.write("code/index.php", "<?php echo 'app ok';\n")
	f.write("sites/app.yaml", "kind: Site\nname: app.example.com\nplatform: app\ndb: { server: web }\n")

	installed := func() int {
		t.Helper()
		b, err := os.ReadFile(installs)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		return strings.Count(string(b), "installed app.example.com\n")
	}
	out := f.mustApply()
	if !strings.Contains(out, "site/app.example.com/install@web") || installed() != 1 {
		t.Fatalf("berth apply did not install the site once (%d installs):\n%s", installed(), out)
	}
	marker := filepath.Join(f.webRoot, "sites", "app.example.com", ".berth-installed")
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("install marker: %v", err)
	}
	f.get("app.example.com", "/", func(r *http.Response, body string) bool { return r.StatusCode == 200 && body == "app ok" })

	// berth serve on the same repo and state: its startup run, then drift
	// runs every second.
	p := startServe(t, "--repo", f.repo, "--state-dir", f.stateDir, "--poll", "1s", "--drift-interval", "1s")
	testenv.Eventually(t, "two drift runs of the daemon", 60*time.Second, func() bool {
		n := 0
		for _, r := range p.runs("production") {
			if strings.Contains(r.Trigger, daemon.ReasonDrift) {
				n++
			}
		}
		return n >= 2
	})
	st := p.until("production synced", func(st map[string]daemon.EnvStatus) bool {
		return st["production"].Phase == daemon.PhaseSynced
	})
	daemonRuns := p.runs("production")
	p.stop()
	for _, r := range daemonRuns {
		if r.Trigger != "cli" && r.Result != state.ResultNoOp {
			t.Errorf("daemon run %d (%s) was %s, want %s: it changed what berth apply converged", r.ID, r.Trigger, r.Result, state.ResultNoOp)
		}
	}
	if st["production"].Health != daemon.HealthHealthy {
		t.Errorf("status after the daemon's runs: %+v", st["production"])
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the daemon removed the install marker: %v", err)
	}
	if n := installed(); n != 1 {
		t.Errorf("the site was installed %d times, want once", n)
	}
	code, out, errOut := f.berth("plan")
	if code != exitOK || !strings.Contains(out, "No changes") {
		t.Errorf("berth plan after berth serve: exit %d\n%s%s", code, out, errOut)
	}
	f.get("app.example.com", "/", func(r *http.Response, body string) bool { return r.StatusCode == 200 && body == "app ok" })
}
