package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/internal/failpoint"
	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/state"
)

// crashApply runs `berth apply` as a subprocess (this test binary standing
// in for berth, see TestMain) with failpoint armed, and reports whether it
// died of SIGKILL.
func (f *phpFixture) crashApply(point string) (bool, string) {
	f.t.Helper()
	return killedAt(point, "apply", "--auto-approve", "--env", "production", "--repo", f.repo, "--state-dir", f.stateDir, "--no-color")
}

// killedAt runs berth with args as a subprocess (this test binary
// standing in for berth, see TestMain) with failpoint point armed, and
// reports whether it died of SIGKILL.
func killedAt(point string, args ...string) (bool, string) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "BERTH_TEST_MAIN=1", failpoint.Env+"="+point)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, string(out)
		}
	}
	return false, string(out)
}

func (f *phpFixture) sync() string {
	f.t.Helper()
	st, err := status(context.Background(), &envFlags{env: "production", repo: f.repo, stateDir: f.stateDir}, false, io.Discard)
	if err != nil {
		f.t.Fatalf("status: %v", err)
	}
	return st.Sync
}

// converged checks that the hosts are what the repo says: every declared
// site answers with its own content and every removed one does not, no
// temporary file is left, every file berth recorded holds what it wrote
// (none truncated), and the inventory holds no adopted or pending
// record, no record without its resource and no pending reload.
func (f *phpFixture) converged(static, php, removed []string) {
	t := f.t
	t.Helper()
	for _, s := range static {
		f.get(s, "/", func(r *http.Response, body string) bool {
			return r.StatusCode == 200 && r.Header.Get("X-Site") == s && strings.Contains(body, "static platform")
		})
	}
	for _, s := range php {
		f.get(s, "/", phpAnswers(s))
	}
	for _, s := range removed {
		f.get(s, "/", func(r *http.Response, body string) bool {
			return r.Header.Get("X-Site") == "" && !strings.Contains(body, "driver=")
		})
	}
	for p := range f.paths() {
		if strings.HasPrefix(filepath.Base(p), ".berth-tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
	}
	st, err := state.Open(context.Background(), f.stateDir, state.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inv := desired.StoreInventory(st)
	recs, err := inv.Records(context.Background(), "production")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Adopted && !f.before[r.Path] {
			t.Errorf("record %s is marked adopted: berth took its own file for someone else's", r.ID)
		}
		if r.Pending {
			t.Errorf("record %s is still pending after the rerun", r.ID)
		}
		switch r.Kind {
		case files.KindFile, files.KindDir, database.KindSQLite:
			if _, err := os.Lstat(r.Path); err != nil {
				t.Errorf("record %s without its resource: %v", r.ID, err)
			}
		}
		if r.Kind == files.KindFile && r.Hash != "" {
			// Whole: what berth recorded writing, not a part of it.
			data, err := os.ReadFile(r.Path)
			if sum := sha256.Sum256(data); err == nil && hex.EncodeToString(sum[:]) != r.Hash {
				t.Errorf("%s holds %d bytes that are not what berth wrote (truncated or stale)", r.Path, len(data))
			}
		}
	}
	pending, err := inv.PendingReloads(context.Background(), "production")
	if err != nil || len(pending) > 0 {
		t.Errorf("pending reloads after the rerun: %v %v", pending, err)
	}
}

// TestCrashAtEveryStep kills `berth apply` (SIGKILL, through a failpoint)
// at every step boundary of a run on real nginx + php-fpm, each time in a
// run that adds, edits or removes sites, and checks that the crashed run
// leaves the environment OutOfSync and that one rerun converges it
// completely: what nginx serves is what the repo says, status is Synced,
// no temporary file, no adopted record of berth's own files, no record
// without its resource, no pending reload.
func TestCrashAtEveryStep(t *testing.T) {
	f := newPHPFixture(t, 5)
	// What existed before berth: berth adopts these, rightly.
	f.before = f.paths()
	var static, php, removed []string
	n := 0
	addStatic := func(k int) {
		for range k {
			n++
			s := fmt.Sprintf("s%02d.example.com", n)
			f.staticSite(s)
			static = append(static, s)
		}
	}
	addPHP := func() {
		n++
		s := fmt.Sprintf("p%02d.example.com", n)
		f.phpSite(s, "")
		php = append(php, s)
	}
	drop := func(list *[]string) {
		s := (*list)[0]
		*list = (*list)[1:]
		f.remove(s)
		removed = append(removed, s)
	}
	editStatic := func() {
		// Rewrite a site with an extra header: its vhost changes.
		s := static[len(static)-1]
		f.write("sites/"+s+".yaml", fmt.Sprintf("kind: Site\nname: %s\nplatform: static\nweb:\n  headers:\n    X-Site: %s\n    X-Edit: '%d'\n", s, s, n))
	}

	for _, step := range []struct {
		point   string
		change  func()
		pending bool // the crash leaves a service pending check and reload
	}{
		// The first converge, killed in the middle of its one batch of
		// writes: files renamed into place so far are new, the others
		// absent, their temporary files left for the rerun's sweep.
		{"mid-batch#7", func() { addStatic(20); addPHP(); addPHP() }, true},
		{"after-record-pending", func() { addStatic(2); addPHP() }, true},
		{"after-sweep", func() { addStatic(2) }, false},
		{"after-record-intent", func() { addStatic(2); addPHP() }, true},
		{"after-write:vhost#3", func() { addStatic(3); editStatic() }, true},
		{"after-write:php-pool", func() { addPHP() }, true},
		{"after-write:dir#2", func() { addStatic(2) }, true},
		{"mid-batch#2", func() { addStatic(2); editStatic() }, true},
		{"before-check", func() { addStatic(2) }, true},
		{"before-reload", func() { addStatic(1); addPHP() }, true},
		{"after-reload", func() { addPHP(); drop(&static) }, true},
		{"before-inventory", func() { addStatic(2); drop(&static) }, false},
		{"before-data", func() { drop(&php) }, false},
		{"mid-delete", func() { drop(&php); drop(&static) }, false},
		{"mid-delete#3", func() { drop(&php); addStatic(1) }, false},
	} {
		t.Run(step.point, func(t *testing.T) {
			f.t = t
			step.change()
			killed, out := f.crashApply(step.point)
			if !killed {
				t.Fatalf("berth apply with %s=%s was not killed:\n%s", failpoint.Env, step.point, out)
			}
			if strings.HasPrefix(step.point, "mid-batch") {
				left := 0
				for p := range f.paths() {
					if strings.HasPrefix(filepath.Base(p), ".berth-tmp-") {
						left++
					}
				}
				if left == 0 {
					t.Errorf("the crash in the middle of a batch left no temporary file: the sweep is not tested")
				}
			}
			if s := f.sync(); s != "OutOfSync" {
				t.Errorf("status after the crash at %s is %s, want OutOfSync", step.point, s)
			}
			_, planOut, _ := f.berth("plan")
			if got := strings.Contains(planOut, "check and reload pending from an interrupted run"); got != step.pending {
				t.Errorf("after the crash at %s the plan shows a pending reload: %v, want %v\n%s", step.point, got, step.pending, planOut)
			}
			code, out, errOut := f.berth("apply", "--auto-approve")
			if code != 0 {
				t.Fatalf("rerun after the crash at %s: exit %d\n%s\n%s", step.point, code, out, errOut)
			}
			if strings.Contains(out, "reloaded: nothing") && step.point != "before-data" && !strings.HasPrefix(step.point, "mid-delete") {
				t.Errorf("the rerun after a crash at %s reloaded nothing:\n%s", step.point, out)
			}
			f.converged(static, php, removed)
			if s := f.sync(); s != "Synced" {
				t.Errorf("status after the rerun is %s, want Synced", s)
			}
			code, out, _ = f.berth("plan")
			if code != 0 || !strings.Contains(out, "Plan: 0 to add, 0 to change, 0 to destroy.") {
				t.Errorf("plan after the rerun: exit %d\n%s", code, out)
			}
		})
	}
	if len(static) < 20 || len(removed) < 5 {
		t.Fatalf("the test converged %d static sites and removed %d: too few to mean anything", len(static), len(removed))
	}
}
