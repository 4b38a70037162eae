package files

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/reconcile"
)

func TestInSiteDir(t *testing.T) {
	for p, want := range map[string]bool{
		"/var/www/sites/a.example.com":       true,
		"/var/www/sites/a.example.com/files": true,
		"/var/www/sites":                     false,
		"/var/www/sites/b.example.com":       false,
		"/sites/a.example.com":               false,
		"/var/www/sites/a.example.com/../x":  false,
		"var/www/sites/a.example.com":        false,
		"/var/www/platforms/a.example.com":   false,
	} {
		if got := inSiteDir(p, "a.example.com"); got != want {
			t.Errorf("inSiteDir(%s) = %v, want %v", p, got, want)
		}
	}
}

// TestDirCheckLeavesTheResourceAlone: what a guarded Check found (remove
// the site's directory with its content) travels in its Change, not in
// the resource: a later unguarded Check's change removes the directory
// only if it is empty, whatever was checked before.
func TestDirCheckLeavesTheResourceAlone(t *testing.T) {
	ctx := context.Background()
	fake := hosttest.New("web")
	if err := fake.MkdirAll(ctx, "/srv/www/sites/a/files", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := fake.WriteFile(ctx, "/srv/www/sites/a/files/upload.jpg", []byte("x"), host.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var rmrf int
	fake.Handle("rm", func(context.Context, []string, []byte) (host.RunResult, error) { rmrf++; return host.RunResult{}, nil })
	rec := reconcile.Record{ID: "site/a/dir@web", Server: "web", Kind: KindDir, Site: "a", Path: "/srv/www/sites/a"}
	d := &Dir{Base: reconcile.PrunedBase(KindDir, rec)}
	obs, err := fake.Observe(ctx, d.Observe())
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]host.Observation{}
	for _, o := range obs {
		byPath[o.Path] = o
	}
	guarded, err := d.Check(ctx, reconcile.CheckInput{Host: fake, Obs: byPath, Record: &rec, Guarded: true})
	if err != nil || !strings.Contains(guarded.Reason, "with everything in it") {
		t.Fatalf("guarded check: %+v, %v", guarded, err)
	}
	plain, err := d.Check(ctx, reconcile.CheckInput{Host: fake, Obs: byPath, Record: &rec})
	if err != nil || !strings.Contains(plain.Reason, "removed only if empty") {
		t.Fatalf("unguarded check: %+v, %v", plain, err)
	}
	var kept *reconcile.KeptError
	if err := d.Apply(ctx, fake, &plain); !errors.As(err, &kept) || rmrf != 0 {
		t.Fatalf("unguarded apply: %v (rm -rf ran %d times), want the directory kept", err, rmrf)
	}
	if _, ok := fake.Files()["/srv/www/sites/a/files/upload.jpg"]; !ok {
		t.Fatal("the site's upload went with an unguarded change")
	}
	if err := d.Apply(ctx, fake, &guarded); err != nil || rmrf != 1 {
		t.Fatalf("guarded apply: %v (rm -rf ran %d times), want it removed with its content", err, rmrf)
	}
}
