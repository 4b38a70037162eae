package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/internal/testenv"
)

// TestTLSRenewalByTheDaemon: berth serve orders the example's
// certificates from Pebble at its first run; when Pebble's renewal
// information (ARI) suggests a window for example.com's certificate and
// the daemon's clock (the seam: 8 hours on, past the ARI poll interval)
// has passed berth's pick in it, a drift check renews that certificate, replacing it
// with one order, and serves the new one while a request loop over
// HTTPS sees no failed handshake; the run history holds the drift run
// that renewed it.
func TestTLSRenewalByTheDaemon(t *testing.T) {
	w := newTLSWorld(t)
	clock := filepath.Join(t.TempDir(), "clock")
	t.Setenv(clockFileEnv, clock)
	p := startServe(t, append([]string{"--repo", w.repo, "--env", "production", "--state-dir", w.stateDir,
		"--poll", "0", "--drift-interval", "1s"}, w.flags...)...)

	// The first run orders five certificates (elsewhere's pre-check fails).
	testenv.EventuallyWith(t, "berth serve issued the certificates", 5*time.Minute, func() (bool, string) {
		st := p.status()["production"]
		issued := 0
		for _, c := range st.Certificates {
			if !c.NotAfter.IsZero() {
				issued++
			}
		}
		return st.LastRun != nil && issued == 5, fmt.Sprintf("%s, %d issued: %s", st.Phase, issued, st.Message)
	})
	first := w.served(t)
	if n := w.pebble.Orders(t); n != 5 {
		t.Fatalf("%d orders reached Pebble at the first run, want 5", n)
	}

	var failed, loops atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, _, _, err := w.https("example.com"); err != nil {
				failed.Add(1)
				t.Logf("handshake during the renewal: %v", err)
			}
			loops.Add(1)
		}
	})
	defer func() { // stops the loop on a failure below too
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	// Pebble's renewal information: example.com's window is 6½ to 7½
	// hours from now, after the next ARI poll. The daemon's clock moves 8
	// hours on: the random time berth picks in the window has passed
	// (at 7 hours it would be a coin toss, and the daemon would wait for
	// its pick, up to half an hour).
	w.setRenewalWindow(t, "example.com", time.Now().Add(6*time.Hour+30*time.Minute))
	if err := os.WriteFile(clock, []byte("8h"), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.EventuallyWith(t, "example.com serves its renewed certificate", 5*time.Minute, func() (bool, string) {
		_, _, serial, err := w.https("example.com")
		return err == nil && serial != first["example.com"], fmt.Sprint(serial, err)
	})
	close(stop)
	wg.Wait()
	if failed.Load() > 0 || loops.Load() == 0 {
		t.Errorf("%d of %d requests failed during the renewal", failed.Load(), loops.Load())
	}
	t.Logf("%d requests over HTTPS during the renewal, %d failed", loops.Load(), failed.Load())

	// The run history has the drift run that renewed it; by the time it
	// is recorded as finished, one order was sent, and only one.
	var renewal *runDetail
	testenv.EventuallyWith(t, "a finished drift run renewed example.com", time.Minute, func() (bool, string) {
		for _, r := range p.runs("production") {
			if r.Trigger != daemon.ReasonDrift {
				continue
			}
			full := p.run(r.ID)
			if strings.Contains(string(full.Plan), "renew for example.com, www.example.com: the CA's renewal window has begun") && full.Finished != nil {
				renewal = &full
				return true, ""
			}
		}
		return false, fmt.Sprint(p.runs("production"))
	})
	if renewal.Result != "succeeded" {
		t.Errorf("the renewing drift run %d: %s %s", renewal.ID, renewal.Result, renewal.Error)
	}
	if n := w.pebble.Orders(t); n != 6 {
		t.Errorf("%d orders after the renewal, want 6", n)
	}
	for name := range tlsNames {
		if name == "example.com" || name == "www.example.com" {
			continue
		}
		if _, _, serial, err := w.https(name); err != nil || serial != first[name] {
			t.Errorf("%s: serial %s (was %s), %v: renewed too", name, serial, first[name], err)
		}
	}
}

// runDetail is one run of the daemon's API with its plan.
type runDetail struct {
	runJSONView
	Error    string
	Finished *time.Time
	Plan     json.RawMessage
	Log      string
}

// run GETs one run of the daemon's history with its plan.
func (p *serveProc) run(id int64) runDetail {
	p.t.Helper()
	resp := p.get(fmt.Sprintf("/api/v1/runs/%d", id))
	defer resp.Body.Close()
	var r runDetail
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		p.t.Fatalf("run %d: %v", id, err)
	}
	return r
}
