package account

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// passwd is the user database of a fake host: getent, useradd and userdel
// answer from it with shadow-utils' exit statuses.
type passwd struct {
	mu    sync.Mutex
	users map[string]bool
	busy  map[string]bool // userdel exits 8: a process runs as the user
}

func newPasswd(h *reconciletest.Harness, users ...string) *passwd {
	pw := &passwd{users: map[string]bool{}, busy: map[string]bool{}}
	for _, u := range users {
		pw.users[u] = true
	}
	fail := func(code int, argv []string) (host.RunResult, error) {
		return host.RunResult{ExitCode: code}, &host.ExitError{Host: "web", Argv: argv, Code: code}
	}
	h.Fake.Handle("getent", func(_ context.Context, argv []string, _ []byte) (host.RunResult, error) {
		pw.mu.Lock()
		defer pw.mu.Unlock()
		var out strings.Builder
		missing := false
		for _, u := range argv[2:] {
			if pw.users[u] {
				fmt.Fprintf(&out, "%s:x:999:999::/nonexistent:/usr/sbin/nologin\n", u)
			} else {
				missing = true
			}
		}
		if missing {
			r, err := fail(2, argv)
			r.Stdout = []byte(out.String())
			return r, err
		}
		return host.RunResult{Stdout: []byte(out.String())}, nil
	})
	h.Fake.Handle("useradd", func(_ context.Context, argv []string, _ []byte) (host.RunResult, error) {
		pw.mu.Lock()
		defer pw.mu.Unlock()
		u := argv[len(argv)-1]
		if pw.users[u] {
			return fail(9, argv)
		}
		pw.users[u] = true
		return host.RunResult{}, nil
	})
	h.Fake.Handle("userdel", func(_ context.Context, argv []string, _ []byte) (host.RunResult, error) {
		pw.mu.Lock()
		defer pw.mu.Unlock()
		u := argv[len(argv)-1]
		switch {
		case !pw.users[u]:
			return fail(6, argv)
		case pw.busy[u]:
			return fail(8, argv)
		}
		delete(pw.users, u)
		return host.RunResult{}, nil
	})
	return pw
}

func (pw *passwd) has(u string) bool {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.users[u]
}

func TestNameOfID(t *testing.T) {
	tests := []struct{ id, want string }{
		{ID("a.example.com", "berth-0123456789abcdef", "web1"), "berth-0123456789abcdef"},
		{"site/a.example.com/dir@web1", ""},
		{"site/a.example.com/user:x", ""},
	}
	for _, tt := range tests {
		if got := NameOfID(tt.id); got != tt.want {
			t.Errorf("NameOfID(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

// TestUserTimeline: the idempotency timeline of a site's user on the fake
// host: created once, a converged run changes nothing, deleted when the
// revision drops it (the record proves berth made it), then forgotten.
func TestUserTimeline(t *testing.T) {
	h := reconciletest.New(t)
	pw := newPasswd(h)
	const name = "berth-0123456789abcdef"
	id := ID("a.example.com", name, "web")
	u := New(UserSpec{ID: id, Server: "web", Site: "a.example.com", Name: name})

	steps := []struct {
		name      string
		resources []reconcile.Resource
		want      string // the plan's actions
		exists    bool   // after the apply
		useradds  int    // useradd runs so far
		userdels  int
	}{
		{"create", []reconcile.Resource{u}, "+" + id, true, 1, 0},
		{"converged", []reconcile.Resource{u}, "", true, 1, 0},
		{"pruned", nil, "-" + id, false, 1, 1},
		{"forgotten", nil, "", false, 1, 1},
	}
	for _, st := range steps {
		p := h.Plan(h.Desired(10, st.resources...), reconcile.PlanOptions{})
		if got := reconciletest.Actions(p); got != st.want {
			t.Fatalf("%s: plan %q, want %q", st.name, got, st.want)
		}
		if r := h.Apply(p); len(r.Errors) > 0 {
			t.Fatalf("%s: apply: %v", st.name, r.Errors)
		}
		if pw.has(name) != st.exists {
			t.Errorf("%s: user exists %v, want %v", st.name, pw.has(name), st.exists)
		}
		if n := h.Count("run", "useradd"); n != st.useradds {
			t.Errorf("%s: %d useradd, want %d", st.name, n, st.useradds)
		}
		if n := h.Count("run", "userdel"); n != st.userdels {
			t.Errorf("%s: %d userdel, want %d", st.name, n, st.userdels)
		}
	}
	// One per plan with a user to look at: the last one has none.
	if n := h.Count("run", "getent"); n != 3 {
		t.Errorf("%d getent runs for 3 plans with a user, want one per plan", n)
	}
}

// A user that existed before berth declared it is used and recorded as
// adopted, and never deleted.
func TestUserAdoptedIsKept(t *testing.T) {
	h := reconciletest.New(t)
	const name = "berth-fedcba9876543210"
	pw := newPasswd(h, name)
	id := ID("a.example.com", name, "web")
	u := New(UserSpec{ID: id, Server: "web", Site: "a.example.com", Name: name})
	for _, rs := range [][]reconcile.Resource{{u}, nil} {
		p := h.Plan(h.Desired(10, rs...), reconcile.PlanOptions{})
		if got := reconciletest.Actions(p); got != "" {
			t.Fatalf("plan: %q, want nothing", got)
		}
		h.Apply(p)
	}
	if !pw.has(name) || h.Count("run", "useradd")+h.Count("run", "userdel") != 0 {
		t.Fatalf("an adopted user was changed: exists %v, calls %v", pw.has(name), h.Fake.Commands())
	}
}

// A user a process still runs as is kept with a warning, and deleted by
// the next run.
func TestUserBusyIsKept(t *testing.T) {
	waits := busyWaits
	busyWaits = make([]time.Duration, len(waits))
	t.Cleanup(func() { busyWaits = waits })
	h := reconciletest.New(t)
	pw := newPasswd(h)
	const name = "berth-00000000000000aa"
	id := ID("a.example.com", name, "web")
	h.Apply(h.Plan(h.Desired(10, New(UserSpec{ID: id, Server: "web", Site: "a.example.com", Name: name})), reconcile.PlanOptions{}))
	pw.busy[name] = true
	r := h.Apply(h.Plan(h.Desired(10), reconcile.PlanOptions{}))
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "still runs as it") || !pw.has(name) {
		t.Fatalf("busy user: warnings %v, exists %v", r.Warnings, pw.has(name))
	}
	if n, want := h.Count("run", "userdel"), 1+len(busyWaits); n != want {
		t.Errorf("%d userdel, want %d (the first and every retry)", n, want)
	}
	if h.Count("run", "pkill") != 1 {
		t.Errorf("the busy user's processes were not sent SIGTERM once: %v", h.Fake.Commands())
	}
	pw.busy[name] = false
	p := h.Plan(h.Desired(10), reconcile.PlanOptions{})
	if got := reconciletest.Actions(p); got != "-"+id {
		t.Fatalf("plan after the busy run: %q", got)
	}
	h.Apply(p)
	if pw.has(name) {
		t.Fatal("user not deleted by the next run")
	}
}

// TestUserLocal creates and deletes a real user on this machine (as root,
// as CI runs).
func TestUserLocal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test creates a Unix user: run it as root (CI does)")
	}
	name := fmt.Sprintf("berth-test%d", os.Getpid())
	u := New(UserSpec{ID: ID("a.example.com", name, "web"), Server: "web", Site: "a.example.com", Name: name})
	h := local.New()
	ctx := context.Background()
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	check := func(absent bool) reconcile.Change {
		t.Helper()
		r := reconcile.Resource(u)
		if absent {
			r = &User{Base: reconcile.PrunedBase(KindUser, u.Record()), name: NameOfID(u.ID())}
		}
		b, err := u.ObserveBatch(ctx, h, []reconcile.Resource{u})
		if err != nil {
			t.Fatal(err)
		}
		rec := u.Record()
		c, err := r.Check(ctx, reconcile.CheckInput{Batch: b, Record: &rec})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := check(false)
	if c.Action != reconcile.Create {
		t.Fatalf("first check: %v", c.Action)
	}
	if err := u.Apply(ctx, h, &c); err != nil {
		t.Fatal(err)
	}
	if err := u.Apply(ctx, h, &c); err != nil { // idempotent
		t.Fatalf("second useradd: %v", err)
	}
	if out, err := exec.Command("getent", "group", name).Output(); err != nil || !strings.HasPrefix(string(out), name+":") {
		t.Fatalf("group %s: %q %v", name, out, err)
	}
	if c := check(false); c.Action != reconcile.None {
		t.Fatalf("check after create: %v", c.Action)
	}
	c = check(true)
	if c.Action != reconcile.Delete {
		t.Fatalf("prune check: %v", c.Action)
	}
	if err := u.Apply(ctx, h, &c); err != nil {
		t.Fatal(err)
	}
	if err := u.Apply(ctx, h, &c); err != nil { // idempotent
		t.Fatalf("second userdel: %v", err)
	}
	if err := exec.Command("getent", "passwd", name).Run(); err == nil {
		t.Fatalf("user %s still exists", name)
	}
}
