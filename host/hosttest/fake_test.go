package hosttest_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hostconformance"
	"github.com/berthhq/berth/host/hosttest"
)

var deploy = hosttest.User{Name: "deploy", UID: 1000, GID: 1000, Group: "deploy"}

func newFake() *hosttest.Fake {
	f := hosttest.New("fake1")
	f.AddUser(deploy)
	ctx := context.Background()
	for _, d := range []string{"/srv/conformance", "/mnt/small"} {
		if err := f.MkdirAll(ctx, d, 0o755); err != nil {
			panic(err)
		}
	}
	f.LimitSpace("/mnt/small", 1<<20)
	return f
}

func TestConformance(t *testing.T) {
	f := newFake()
	hostconformance.Run(t, hostconformance.Target{
		New:       func(*testing.T) host.Host { return f },
		Dir:       "/srv/conformance",
		OtherUser: deploy.Name,
		Denied: func(t *testing.T, locked string) {
			f.SetUser(deploy)
			defer f.SetUser(hosttest.Root)
			hostconformance.CheckDenied(t, f, locked)
		},
		FullDir: "/mnt/small",
		InterruptBatch: func(t *testing.T, ops []host.BatchOp, after int) {
			f.InterruptBatch(after)
			res, err := f.WriteBatch(context.Background(), ops)
			if !errors.Is(err, host.ErrUnreachable) {
				t.Fatalf("interrupted WriteBatch: %v, want host.ErrUnreachable", err)
			}
			if done := countDone(res, host.OpFile); done != after {
				t.Fatalf("interrupted WriteBatch reported %d files done, want %d", done, after)
			}
		},
		Unreachable: func(*testing.T) host.Host {
			u := hosttest.New("down")
			u.SetUnreachable(true)
			return u
		},
	})
}

func countDone(res []host.BatchResult, kind host.OpKind) int {
	n := 0
	for _, r := range res {
		if r.Kind == kind && r.Done {
			n++
		}
	}
	return n
}

func TestRecordsCommands(t *testing.T) {
	f := hosttest.New("web1")
	ctx := context.Background()
	f.Handle("nginx", func(_ context.Context, argv []string, _ []byte) (host.RunResult, error) {
		if slices.Equal(argv, []string{"nginx", "-t"}) {
			return host.RunResult{ExitCode: 1, Stderr: []byte("nginx: [emerg] unknown directive")}, nil
		}
		return host.RunResult{}, nil
	})
	_, err := f.Run(ctx, []string{"nginx", "-t"}, host.RunOptions{})
	var ee *host.ExitError
	if !errors.As(err, &ee) || ee.Code != 1 || string(ee.Stderr) != "nginx: [emerg] unknown directive" {
		t.Fatalf("nginx -t: %v, want the handler's exit 1", err)
	}
	if _, err := f.Run(ctx, []string{"nginx", "-s", "reload"}, host.RunOptions{Dir: "/etc"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Observe(ctx, []string{"/a", "/b", "/c"}); err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"nginx", "-t"}, {"nginx", "-s", "reload"}}
	if got := f.Commands(); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("Commands() = %q, want %q", got, want)
	}
	calls := f.Calls()
	if len(calls) != 3 || calls[1].Dir != "/etc" || calls[2].Op != "observe" || len(calls[2].Paths) != 3 {
		t.Fatalf("Calls() = %+v", calls)
	}
}
