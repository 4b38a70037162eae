package migrate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/reconcile"
)

// TestCloneTimeline: a clone copies, sanitizes and checks once, then
// plans nothing; a failed copy, sanitize step or table check empties the
// clone's database and writes no marker, so the next run clones again;
// pruning forgets the marker and leaves the data.
func TestCloneTimeline(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		copyErr, sanitizeErr error
		unmentioned          []string
		wantErr, wantRan     string
	}{
		{name: "cloned", wantRan: "copy sanitize check"},
		{name: "failed copy", copyErr: errors.New("pg_restore: error"), wantErr: "pg_restore: error", wantRan: "copy empty"},
		{name: "failed sanitize", sanitizeErr: errors.New("ERROR 1146: Table 'users' doesn't exist"), wantErr: "sanitize step sanitize.sql of clone b.example.com failed",
			wantRan: "copy sanitize empty"},
		{name: "table not mentioned", unmentioned: []string{"api_keys"}, wantErr: "does not mention: [api_keys]", wantRan: "copy sanitize check empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := filepath.Join(t.TempDir(), "sites/b.example.com")
			if err := os.MkdirAll(filepath.Join(dir, "files"), 0o755); err != nil {
				t.Fatal(err)
			}
			var ran []string
			c := NewClone(CloneSpec{ID: "site/b.example.com/clone@web1", Server: "web1", Site: "b.example.com",
				SiteDir: dir, FilesDir: filepath.Join(dir, "files"), Owner: "root", Group: "root", From: "production/a.example.com",
				Copy:          func(context.Context) error { ran = append(ran, "copy"); return tc.copyErr },
				Sanitize:      func(context.Context) error { ran = append(ran, "sanitize"); return tc.sanitizeErr },
				SanitizeShown: "sanitize.sql",
				Unmentioned:   func(context.Context) ([]string, error) { ran = append(ran, "check"); return tc.unmentioned, nil },
				Empty:         func(context.Context) error { ran = append(ran, "empty"); return nil },
			})
			h := local.New()
			check := func(r *Clone) reconcile.Change {
				t.Helper()
				obs, err := h.Observe(ctx, r.Observe())
				if err != nil {
					t.Fatal(err)
				}
				c, err := r.Check(ctx, reconcile.CheckInput{Obs: map[string]host.Observation{obs[0].Path: obs[0]}})
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			ch := check(c)
			if ch.Action != reconcile.Create || !strings.Contains(ch.Reason, "clone b.example.com from production/a.example.com") || !strings.Contains(ch.Reason, "sanitized with sanitize.sql") {
				t.Fatalf("first check: %+v", ch)
			}
			err := c.Apply(ctx, h, &ch)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("apply: %v, want %q", err, tc.wantErr)
			}
			if tc.wantErr != "" && !strings.Contains(err.Error(), "emptied again") {
				t.Errorf("the error does not say the database was emptied: %v", err)
			}
			if got := strings.Join(ran, " "); got != tc.wantRan {
				t.Errorf("ran %q, want %q", got, tc.wantRan)
			}
			_, statErr := os.Stat(filepath.Join(dir, ClonedMarker))
			if (statErr == nil) != (tc.wantErr == "") {
				t.Fatalf("marker after the apply: %v", statErr)
			}
			if tc.wantErr != "" {
				if ch := check(c); ch.Action != reconcile.Create {
					t.Errorf("check after a failure: %+v, want the clone again", ch)
				}
				return
			}
			if ch := check(c); ch.Action != reconcile.None {
				t.Errorf("second check: %+v", ch)
			}
			pruned := &Clone{Base: reconcile.PrunedBase(KindClone, c.Record())}
			ch = check(pruned)
			if ch.Action != reconcile.Delete {
				t.Fatalf("pruned check: %+v", ch)
			}
			if err := pruned.Apply(ctx, h, &ch); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, ClonedMarker)); !os.IsNotExist(err) {
				t.Errorf("marker after the prune: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "files")); err != nil {
				t.Errorf("the prune removed the data: %v", err)
			}
		})
	}
}
