package filesync

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// engineOf returns an engine over hosts and a function that plans rs
// with it.
func engineOf(t *testing.T, hosts reconciletest.Hosts) (*reconcile.Engine, func(rs ...reconcile.Resource) (*reconcile.Plan, error)) {
	e := &reconcile.Engine{Hosts: hosts, Inventory: reconciletest.NewMemInventory()}
	return e, func(rs ...reconcile.Resource) (*reconcile.Plan, error) {
		return e.Plan(context.Background(), &reconcile.Desired{Env: "test", Revision: "r", MaxDeletions: 5, Resources: rs,
			Service: func(string, string) (reconcile.Service, error) { return reconcile.Service{}, nil }}, reconcile.PlanOptions{})
	}
}

func write(t *testing.T, p, content string, mtime time.Time) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes every entry under dir: path, type, content or link
// target, permissions.
func snapshot(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			out = append(out, rel+" -> "+target)
		case d.IsDir():
			out = append(out, rel+"/ "+info.Mode().Perm().String())
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+" "+info.Mode().Perm().String()+" "+string(b)+" "+info.ModTime().UTC().Format(time.RFC3339))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSyncTimeline: a copy plans what it copies and deletes (counts and
// bytes), makes the server's directory the primary's (links as links,
// never followed; a link the server had where the primary has a
// directory is replaced, not written through), then plans nothing; an
// upload and a deletion on the primary are the next run's change.
func TestSyncTimeline(t *testing.T) {
	for _, rsync := range []bool{false, true} {
		t.Run(map[bool]string{false: "tar", true: "rsync"}[rsync], func(t *testing.T) { syncTimeline(t, rsync) })
	}
}

func syncTimeline(t *testing.T, rsync bool) {
	root := t.TempDir()
	primary, server, outside := filepath.Join(root, "web1", "files"), filepath.Join(root, "web2", "files"), filepath.Join(root, "outside")
	for _, d := range []string{primary, server, outside} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	then := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	write(t, filepath.Join(primary, "a.txt"), "upload a", then)
	write(t, filepath.Join(primary, "sub dir", "b.bin"), "upload b\n", then)
	write(t, filepath.Join(primary, "evil", "x"), "inside", then)
	if err := os.Symlink("/etc/passwd", filepath.Join(primary, "passwd")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(server, "stale.txt"), "gone on the primary", then)
	// The server has a link where the primary has a directory: the copy
	// must replace it, never write through it.
	if err := os.Symlink(outside, filepath.Join(server, "evil")); err != nil {
		t.Fatal(err)
	}

	hosts := reconciletest.Hosts{"web1": local.New(), "web2": local.New()}
	e, plan := engineOf(t, hosts)
	s := NewSync(SyncSpec{ID: "site/a.example.com/files-sync@web2", Site: "a.example.com", Server: "web2", Dir: server,
		Primary: "web1", PrimaryDir: primary, Hosts: hosts, Rsync: rsync})

	p, err := plan(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := reconciletest.Actions(p); got != "~site/a.example.com/files-sync@web2" {
		t.Fatalf("first plan: %s", got)
	}
	if r := p.Changes[0].Reason; !strings.Contains(r, "copy 6 entries (3 files, 23 B)") || !strings.Contains(r, "delete 2 entries") || strings.Contains(r, "upload") {
		t.Errorf("the plan says %q; want counts and bytes, no contents", r)
	}
	if _, err := e.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got, want := snapshot(t, server), snapshot(t, primary); !slices.Equal(got, want) {
		t.Errorf("after the copy web2 has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if left, _ := os.ReadDir(outside); len(left) != 0 {
		t.Errorf("the copy wrote through the server's link: %v", left)
	}

	p, err = plan(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := reconciletest.Actions(p); got != "" {
		t.Fatalf("converged, the plan is %s", got)
	}

	write(t, filepath.Join(primary, "new.jpg"), "new upload", then.Add(time.Hour))
	if err := os.Remove(filepath.Join(primary, "a.txt")); err != nil {
		t.Fatal(err)
	}
	p, err = plan(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := reconciletest.Actions(p); got != "~site/a.example.com/files-sync@web2" || !strings.Contains(p.Changes[0].Reason, "copy 1 entry (1 file, 10 B) and delete 1 entry") {
		t.Fatalf("after an upload and a deletion: %s %q", got, p.Changes[0].Reason)
	}
	if _, err := e.Apply(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if got, want := snapshot(t, server), snapshot(t, primary); !slices.Equal(got, want) {
		t.Errorf("after the second copy web2 has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	p, err = plan(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := reconciletest.Actions(p); got != "" {
		t.Fatalf("converged again, the plan is %s", got)
	}

	// Resync does the same outside a plan.
	write(t, filepath.Join(primary, "restored.txt"), "from a backup", then)
	lines, err := Resync(context.Background(), hosts, []*Sync{s})
	if err != nil {
		t.Fatal(err)
	}
	via := map[bool]string{false: "tar", true: "rsync"}[rsync]
	if want := []string{"web2: files of a.example.com from web1: copy 1 entry (1 file, 13 B) over " + via}; !slices.Equal(lines, want) {
		t.Errorf("Resync: %q, want %q", lines, want)
	}
	if got, want := snapshot(t, server), snapshot(t, primary); !slices.Equal(got, want) {
		t.Errorf("after Resync web2 has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A primary whose files directory is a symbolic link is not synced from:
// its target is outside what berth manages.
func TestSyncRefusesALinkedPrimary(t *testing.T) {
	root := t.TempDir()
	target, server := filepath.Join(root, "elsewhere"), filepath.Join(root, "web2", "files")
	for _, d := range []string{target, server} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	primary := filepath.Join(root, "web1-files")
	if err := os.Symlink(target, primary); err != nil {
		t.Fatal(err)
	}
	hosts := reconciletest.Hosts{"web1": local.New(), "web2": local.New()}
	e, plan := engineOf(t, hosts)
	p, err := plan(NewSync(SyncSpec{ID: "s@web2", Site: "a.example.com", Server: "web2", Dir: server, Primary: "web1", PrimaryDir: primary, Hosts: hosts}))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 1 || !strings.Contains(p.Changes[0].Reason, "is a symbolic link: berth syncs only a directory") {
		t.Fatalf("plan: %+v; want the link refused", p.Changes)
	}
	res, err := e.Apply(context.Background(), p)
	if err == nil || res.Failed != 1 {
		t.Fatalf("apply: %v %+v; want the change failed", err, res)
	}
}

// TestSyncWhileWritten: a file of the primary being written while the
// sync reads it (a log appended without pause: GNU tar exits 1, "file
// changed as we read it") is copied as read, not a failed sync; the next
// run compares it again.
func TestSyncWhileWritten(t *testing.T) {
	root := t.TempDir()
	primary, server := filepath.Join(root, "web1", "files"), filepath.Join(root, "web2", "files")
	for _, d := range []string{primary, server} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	stop := testenv.GrowingLog(t, filepath.Join(primary, "app.log"))
	hosts := reconciletest.Hosts{"web1": local.New(), "web2": local.New()}
	e, plan := engineOf(t, hosts)
	p, err := plan(NewSync(SyncSpec{ID: "s@web2", Site: "a.example.com", Server: "web2", Dir: server, Primary: "web1", PrimaryDir: primary, Hosts: hosts}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Apply(context.Background(), p)
	stop()
	if err != nil || res.Failed != 0 {
		t.Fatalf("sync of a file being written: %v %+v", err, res)
	}
	if st, err := os.Stat(filepath.Join(server, "app.log")); err != nil || st.Size() < 28<<20 {
		t.Errorf("web2's app.log: %v %v, want the primary's as read", st, err)
	}
}

// TestRsyncVanished: rsync exits 24 when files of the primary vanished
// while it ran (deleted meanwhile); the rest was copied, so the sync
// succeeds and the next run compares again. The rsync on PATH here runs
// the real one and, as the client (on the primary), exits 24 after it.
func TestRsyncVanished(t *testing.T) {
	real, err := exec.LookPath("rsync")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	wrapper := "#!/bin/sh\n" + real + ` "$@"; rc=$?
case "$1" in --server|--version) exit $rc ;; esac
[ $rc -eq 0 ] && exit 24
exit $rc
`
	if err := os.WriteFile(filepath.Join(bin, "rsync"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	root := t.TempDir()
	primary, server := filepath.Join(root, "web1", "files"), filepath.Join(root, "web2", "files")
	for _, d := range []string{primary, server} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(primary, "a.txt"), "upload a", time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	hosts := reconciletest.Hosts{"web1": local.New(), "web2": local.New()}
	e, plan := engineOf(t, hosts)
	p, err := plan(NewSync(SyncSpec{ID: "s@web2", Site: "a.example.com", Server: "web2", Dir: server, Primary: "web1", PrimaryDir: primary, Hosts: hosts, Rsync: true}))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := e.Apply(context.Background(), p); err != nil || res.Failed != 0 {
		t.Fatalf("sync when rsync says files vanished: %v %+v", err, res)
	}
	if got, want := snapshot(t, server), snapshot(t, primary); !slices.Equal(got, want) {
		t.Errorf("web2 has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
