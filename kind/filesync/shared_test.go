package filesync

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// TestSharedTimeline: the first check writes the marker on the first
// server and reads it back; then nothing is planned; a server that does
// not see the first server's file system refuses the plan, naming itself
// and what to do.
func TestSharedTimeline(t *testing.T) {
	shared := t.TempDir()
	elsewhere := hosttest.New("web3") // another file system at the same path
	if err := elsewhere.MkdirAll(context.Background(), shared, 0o755); err != nil {
		t.Fatal(err)
	}
	hosts := reconciletest.Hosts{"web1": local.New(), "web2": local.New(), "web3": elsewhere}
	e, plan := engineOf(t, hosts)
	check := func(server string) *Shared {
		return NewShared(SharedSpec{ID: "platform/app/files-shared@" + server, Server: server, First: "web1", Path: shared, Platform: "app", Hosts: hosts})
	}
	p, err := plan(check("web2"))
	if err != nil {
		t.Fatal(err)
	}
	if got := reconciletest.Actions(p); got != "+platform/app/files-shared@web2" {
		t.Fatalf("first plan: %s", got)
	}
	if _, err := e.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(shared, MarkerName)); err != nil || len(strings.TrimSpace(string(b))) != 32 {
		t.Fatalf("marker: %q, %v", b, err)
	}
	p, err = plan(check("web2"))
	if err != nil {
		t.Fatal(err)
	}
	if got := reconciletest.Actions(p); got != "" {
		t.Fatalf("converged, the plan is %s", got)
	}

	_, err = plan(check("web2"), check("web3"))
	if !errors.Is(err, ErrNotShared) || !errors.Is(err, reconcile.ErrPolicy) ||
		!strings.Contains(err.Error(), "files path "+shared+" on server web3 is not the file system server web1 has there") ||
		!strings.Contains(err.Error(), "mount the shared file system at "+shared+" on web3") {
		t.Fatalf("plan with web3: %v; want a refusal naming web3", err)
	}

	// Before any marker, the first check on web3 fails its change.
	if err := os.Remove(filepath.Join(shared, MarkerName)); err != nil {
		t.Fatal(err)
	}
	p, err = plan(check("web2"), check("web3"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Apply(context.Background(), p)
	if err == nil || res.Failed != 1 || res.Applied != 1 || !strings.Contains(strings.Join(res.Errors, "\n"), "on server web3 is not the file system server web1 has there") {
		t.Fatalf("apply on web3: %v %+v; want its check failed, naming web3", err, res)
	}
}
