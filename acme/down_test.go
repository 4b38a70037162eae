package acme

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/state"
)

// TestEnsureCADown: a CA that cannot be reached (nothing listens at its
// directory, like a stopped Pebble) backs the certificate off like a
// failed order, with the time; calls inside the backoff do not try it
// again; Decide shows the wait; no order is recorded, none was sent.
func TestEnsureCADown(t *testing.T) {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	st, err := state.Open(ctx, t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dials := &counter{next: http.DefaultTransport}
	clock := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	c, err := New(Config{DirectoryURL: "https://127.0.0.1:" + strconv.Itoa(port) + "/dir", Email: "ops@example.test", Store: st,
		HTTPClient: &http.Client{Transport: dials, Timeout: 5 * time.Second}, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	req := Request{ID: "production/a.example.test", Names: []string{"a.example.test"},
		HTTP01: &Webroot{Hosts: []host.Host{local.New()}, Dir: t.TempDir()}}

	_, err = c.Ensure(ctx, req)
	var w *WaitError
	if !errors.As(err, &w) || !w.Until.Equal(clock.Add(Backoff(1))) || w.Err == nil {
		t.Fatalf("Ensure with the CA down: %v", err)
	}
	tried := dials.n.Load()
	if tried == 0 {
		t.Fatal("the CA was not even tried")
	}
	clock = clock.Add(30 * time.Second)
	if _, err := c.Ensure(ctx, req); !errors.As(err, &w) || !w.Until.Equal(clock.Add(-30*time.Second).Add(Backoff(1))) {
		t.Fatalf("Ensure inside the backoff: %v", err)
	}
	if n := dials.n.Load(); n != tried {
		t.Errorf("Ensure inside the backoff tried the CA %d more times", n-tried)
	}
	d, err := c.Decide(ctx, req.ID, req.Names, nil)
	if err != nil || d.Order || !d.Until.Equal(w.Until) {
		t.Errorf("Decide inside the backoff: %+v %v", d, err)
	}
	orders, err := st.ACMEOrders(ctx, c.cfg.DirectoryURL, time.Time{})
	if err != nil || len(orders) != 0 {
		t.Errorf("orders recorded: %v %v", orders, err)
	}
}
