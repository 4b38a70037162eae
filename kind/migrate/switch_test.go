package migrate

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/reconcile"
)

// TestStepSwitch: the switch of the DNS records and load balancers runs
// after the health check passed and before the switch is recorded and
// the source disabled; a failure before it reverts without calling it,
// and a failed switch reverts too.
func TestStepSwitch(t *testing.T) {
	for _, tc := range []struct {
		name      string
		health    error
		switchErr error
		want      string // what ran
		wantErr   string
		srcVhost  string
		done      bool
	}{
		{name: "switched", want: "health switch", srcVhost: "503 disabled\n", done: true},
		{name: "unhealthy: not switched", health: errors.New("answered 500"), want: "health", wantErr: "answered 500", srcVhost: "serve a from app\n"},
		{name: "failed switch reverted", switchErr: errors.New("named-checkzone refused"), want: "health switch",
			wantErr: "switch the DNS records and load balancers of a to web2: named-checkzone refused", srcVhost: "serve a from app\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, nil)
			var ran []string
			w.spec.Health = func(context.Context) error { ran = append(ran, "health"); return tc.health }
			w.spec.Switch = func(context.Context) error {
				ran = append(ran, "switch")
				// The source still shows the maintenance page, the move
				// is not recorded as switched.
				if got := read(t, filepath.Join(w.src, "conf/a.conf")); got != "503 Retry-After\n" {
					t.Errorf("source vhost at the switch %q", got)
				}
				if m, _, _ := ReadMarker(context.Background(), local.New(), filepath.Join(w.src, "sites/a")); m.Done {
					t.Error("the move is recorded as switched before the DNS and load balancers are")
				}
				return tc.switchErr
			}
			err := w.apply(t)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("apply: %v, want %q", err, tc.wantErr)
			}
			if got := strings.Join(ran, " "); got != tc.want {
				t.Errorf("ran %q, want %q", got, tc.want)
			}
			if got := read(t, filepath.Join(w.src, "conf/a.conf")); got != tc.srcVhost {
				t.Errorf("source vhost %q, want %q", got, tc.srcVhost)
			}
			if m, _, _ := ReadMarker(context.Background(), local.New(), filepath.Join(w.src, "sites/a")); m.Done != tc.done {
				t.Errorf("marker done %v, want %v", m.Done, tc.done)
			}
		})
	}
}

// TestStepWaitsForDNSCaches: with SwitchWait, the first run copies the
// files and stops with a reconcile.WaitError before the maintenance
// window, the source serving as before and nothing reverted; a run
// before the wait is over waits again (the start kept); one after it
// moves the site.
func TestStepWaitsForDNSCaches(t *testing.T) {
	w := newWorld(t, nil)
	start := w.spec.Now()
	now := start
	w.spec.Now = func() time.Time { return now }
	w.spec.SwitchWait = time.Hour
	switched := false
	w.spec.Switch = func(context.Context) error { switched = true; return nil }
	for _, at := range []time.Duration{0, 30 * time.Minute} {
		now = start.Add(at)
		err := w.apply(t)
		var wait *reconcile.WaitError
		if !errors.As(err, &wait) || !wait.Until.Equal(start.Add(time.Hour)) {
			t.Fatalf("at +%s: %v, want a wait until %v", at, err, start.Add(time.Hour))
		}
		if got := read(t, filepath.Join(w.src, "conf/a.conf")); got != "serve a from app\n" {
			t.Errorf("at +%s: source vhost %q, want its own", at, got)
		}
		if got := read(t, filepath.Join(w.dst, "conf/a.conf")); got != "serve a from app2\n" {
			t.Errorf("at +%s: the target's vhost was removed: %q", at, got)
		}
		if got := read(t, filepath.Join(w.dst, "sites/a/files/d/x.txt")); got != "x\n" {
			t.Errorf("at +%s: first copy missing: %q", at, got)
		}
		if got := read(t, filepath.Join(w.src, "sites/a", savedName)); got != "(none)" {
			t.Errorf("at +%s: kept vhost left: %q", at, got)
		}
		m, ok, _ := ReadMarker(context.Background(), local.New(), filepath.Join(w.src, "sites/a"))
		if !ok || m.Done || !m.At.Equal(start) {
			t.Errorf("at +%s: marker %+v, want the start kept", at, m)
		}
		if switched {
			t.Errorf("at +%s: switched while waiting", at)
		}
	}
	now = start.Add(time.Hour)
	if err := w.apply(t); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	if got := read(t, filepath.Join(w.src, "conf/a.conf")); got != "503 disabled\n" || !switched {
		t.Errorf("after the wait: source vhost %q, switched %v", got, switched)
	}

	// A run cut off in the maintenance window while a wait is not over
	// (the clock went back, the wait grew): the source serves again.
	w = newWorld(t, nil)
	w.spec.SwitchWait = time.Hour
	write(t, filepath.Join(w.src, "sites/a", savedName), "serve a from app\n")
	write(t, filepath.Join(w.src, "conf/a.conf"), "503 Retry-After\n")
	var wait *reconcile.WaitError
	if err := w.apply(t); !errors.As(err, &wait) {
		t.Fatalf("cut in the window: %v, want a wait", err)
	}
	if got := read(t, filepath.Join(w.src, "conf/a.conf")); got != "serve a from app\n" {
		t.Errorf("cut in the window: source vhost %q, want its own", got)
	}
}

// TestStepsListTheSwitch: the plan's steps show the wait and the switch
// of DNS and the load balancer, in the order the step runs them.
func TestStepsListTheSwitch(t *testing.T) {
	steps := strings.Join(Steps(Plan{Source: "web1", Target: "web2", Grace: 24 * time.Hour,
		DNS: "A of a.example in zone example: 192.0.2.1 → 192.0.2.2", LB: "lb1 routes a.example to berth-prod-app2", TTL: 60, Wait: time.Hour}), "\n")
	order := []string{"copy its files", "TTL 60s", "for 1h", "maintenance page", "health check", "switch the load balancer: lb1", "switch DNS: A of a.example", "disable the site"}
	at := 0
	for _, s := range order {
		i := strings.Index(steps[at:], s)
		if i < 0 {
			t.Fatalf("steps lack %q after position %d:\n%s", s, at, steps)
		}
		at += i
	}
	if plain := strings.Join(Steps(Plan{Source: "web1", Target: "web2", Grace: time.Hour}), "\n"); strings.Contains(plain, "DNS") || strings.Contains(plain, "wait") {
		t.Errorf("a move without DNS lists its switch:\n%s", plain)
	}
}
