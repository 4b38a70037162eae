package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// fixedSource is a directory at one revision: Head costs nothing, so a
// benchmark times the daemon, not the test's source.
type fixedSource struct{ dir string }

func (s fixedSource) Fetch(context.Context) error { return nil }
func (s fixedSource) Head(string) (string, error) { return "bench-rev", nil }
func (s fixedSource) FS(string) (fs.FS, error)    { return os.DirFS(s.dir), nil }

func (s fixedSource) write(name, data string) error {
	p := filepath.Join(s.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, []byte(data), 0o644)
}

// BenchmarkDriftCheck times one drift check of an environment whose
// revision is unchanged, on one local host, with nothing to repair —
// "warm": the kept desired state reused (the daemon's drift tick and
// poll); "cold": built from the repo again (a manual run; what every drift
// tick did before) — against "floor": find + sha256sum of the paths
// berth manages, as make bench measures it (bench/floors.sh FLOOR_NOOP),
// on the same files in the same run. BERTH_BENCH_SITES sets the number of
// sites (those of berth bench-gen: a static platform, a vhost and a
// directory each; default 1,000). Besides the wall time it reports the
// CPU time per check (cpu-ms/op: berth's own, or the floor's tools') and,
// for warm, the heap the process holds with the kept state (heap-MB).
//
//	BERTH_BENCH_SITES=10000 go test ./daemon -run '^$' -bench DriftCheck -benchtime 5x
func BenchmarkDriftCheck(b *testing.B) {
	n := 1000
	if v := os.Getenv("BERTH_BENCH_SITES"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatal(err)
		}
	}
	base := b.TempDir()
	src := fixedSource{dir: filepath.Join(base, "repo")}
	files := map[string]string{
		"berth.yaml": "environments:\n  production: { branch: main }\n",
		"servers/local.yaml": "kind: Server\nname: local\naddress: local\nservices:\n  http:\n    type: nginx\n    conf_dir: nginx/sites\n" +
			"    web_root: www\n    user: root\n    test: [\"true\"]\n    reload: [\"true\"]\n",
		"platforms/static.yaml": "kind: Platform\nname: static\ntype: static\nsource: { path: code }\nservers: [local]\n",
		"code/index.html":       "<h1>bench</h1>\n",
	}
	for i := range n {
		files[fmt.Sprintf("sites/site%05d.yaml", i)] = fmt.Sprintf(
			"kind: Site\nname: site%05d.bench.example.com\nplatform: static\naliases: [www.site%05d.bench.example.com]\nweb: { client_max_body_size: 16m }\n", i, i)
	}
	for name, data := range files {
		if err := src.write(name, data); err != nil {
			b.Fatal(err)
		}
	}
	stateDir := filepath.Join(base, "state")
	store, err := state.Open(context.Background(), stateDir, state.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	runs := make(chan EnvStatus, 1)
	h := local.New()
	d, err := New(Config{Source: src, Store: store, StateDir: stateDir, SelfHeal: true,
		Hosts:    func(*spec.Resolved) (reconcile.Hosts, func()) { return localHosts{h}, func() {} },
		Logger:   zerolog.New(io.Discard),
		AfterRun: func(s EnvStatus) { runs <- s },
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if s := <-runs; s.Phase != PhaseSynced {
		b.Fatalf("first converge: %+v %+v", s, s.LastRun)
	}

	for _, mode := range []struct{ name, reason string }{{"warm", ReasonDrift}, {"cold", ReasonManual}} {
		b.Run(fmt.Sprintf("%s/%d-sites", mode.name, n), func(b *testing.B) {
			cpu := cpuTime(syscall.RUSAGE_SELF)
			for b.Loop() {
				d.TriggerAll(mode.reason)
				if s := <-runs; s.Phase != PhaseSynced || s.LastRun == nil || s.LastRun.Result != state.ResultNoOp {
					b.Fatalf("drift check: %+v", s)
				}
			}
			b.ReportMetric(float64((cpuTime(syscall.RUSAGE_SELF)-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
			if mode.name == "warm" {
				runtime.GC()
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MB")
			}
		})
	}

	b.Run(fmt.Sprintf("floor/%d-sites", n), func(b *testing.B) {
		list := filepath.Join(base, "managed")
		if err := managedPaths(store, list); err != nil {
			b.Fatal(err)
		}
		const floor = `find -files0-from "$1" -maxdepth 0 -printf "%y %m %U %G %s %p\n" >/dev/null && find -files0-from "$1" -maxdepth 0 -type f -print0 | xargs -0 -r sha256sum -- >/dev/null`
		cpu := cpuTime(syscall.RUSAGE_CHILDREN)
		for b.Loop() {
			if out, err := exec.Command("sh", "-c", floor, "floor", list).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
		b.ReportMetric(float64((cpuTime(syscall.RUSAGE_CHILDREN)-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
	})
}

// managedPaths writes to list, NUL-separated, every path the inventory
// holds that exists: what berth observes, as bench/floors.sh lists it.
func managedPaths(store *state.Store, list string) error {
	rs, err := store.Inventory(context.Background(), "production")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	seen := map[string]bool{}
	for _, r := range rs {
		if _, err := os.Lstat(r.Path); r.Path == "" || seen[r.Path] || err != nil {
			continue
		}
		seen[r.Path] = true
		buf.WriteString(r.Path + "\x00")
	}
	return os.WriteFile(list, buf.Bytes(), 0o644)
}

// cpuTime is the user and system CPU time of who (this process, or its
// children that ended).
func cpuTime(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
