package backup

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
)

type oneHost struct{ h host.Host }

func (o oneHost) Host(context.Context, string) (host.Host, error) { return o.h, nil }

// TestBackupRetention: on this machine, backups within one second get
// distinct sortable IDs; Prune keeps the newest N scheduled backups and
// never removes another kind; a changed piece is reported by List.
func TestBackupRetention(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	siteDir := filepath.Join(dir, "www", "sites", "a.example.com")
	if err := os.MkdirAll(filepath.Join(siteDir, "files"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(siteDir, "files", "x.txt"), []byte("upload"), 0o640); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	b := &Backups{Hosts: oneHost{local.New()}, Version: "test", Now: func() time.Time { return now }}
	data := SiteData{Env: "prod", Site: "a.example.com", Web: "web", SiteDir: siteDir}
	store := Store{Server: "web", Dir: filepath.Join(dir, "backups")}

	var ids []string
	for i, reason := range []string{ReasonScheduled, ReasonManual, ReasonScheduled, ReasonScheduled, ReasonScheduled} {
		if i == 2 {
			now = now.Add(24 * time.Hour)
		}
		m, err := b.Take(ctx, data, store, Options{Revision: "r1", Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if want := []string{"20261125T120000Z", "20261125T120000Z-1", "20261126T120000Z", "20261126T120000Z-1", "20261126T120000Z-2"}; !slices.Equal(ids, want) {
		t.Fatalf("IDs %v, want %v", ids, want)
	}
	gone, err := b.Prune(ctx, "prod", "a.example.com", store, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"20261125T120000Z", "20261126T120000Z"}; !slices.Equal(gone, want) {
		t.Errorf("pruned %v, want %v", gone, want)
	}
	list, err := b.List(ctx, "prod", "a.example.com", store)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, l := range list {
		left = append(left, l.ID+" "+l.Reason)
		if !l.Verified {
			t.Errorf("%s is not verified: %s", l.ID, l.Problem)
		}
	}
	if want := []string{"20261125T120000Z-1 manual", "20261126T120000Z-1 scheduled", "20261126T120000Z-2 scheduled"}; !slices.Equal(left, want) {
		t.Errorf("left %v, want %v", left, want)
	}
	if gone, err := b.Prune(ctx, "prod", "a.example.com", store, 2); err != nil || len(gone) > 0 {
		t.Errorf("second prune: %v %v", gone, err)
	}

	// A piece one byte longer: List says so, Restore refuses.
	piece := filepath.Join(store.Dir, "prod", "a.example.com", "20261125T120000Z-1", "files.tar.gz")
	f, err := os.OpenFile(piece, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0})
	f.Close()
	list, err = b.List(ctx, "prod", "a.example.com", store)
	if err != nil || list[0].Verified || !strings.Contains(list[0].Problem, "files.tar.gz has") {
		t.Errorf("list after a change: %+v %v", list, err)
	}
	if _, err := b.Restore(ctx, data, store, "20261125T120000Z-1", "r1"); err == nil || !strings.Contains(err.Error(), "does not match its manifest") {
		t.Errorf("restore of a changed backup: %v", err)
	}
	// Nothing else was written by the refused restore.
	if list, _ := b.List(ctx, "prod", "a.example.com", store); len(list) != 3 {
		t.Errorf("the refused restore took a backup: %d backups", len(list))
	}
}

// TestBackupPermissions: every directory a backup creates is 0700 and
// every file 0600, and backup directories that exist with a wider mode
// (0755, as older berths made them) are tightened.
func TestBackupPermissions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing []string // directories under the backups dir made 0755 first ("." is the backups dir)
	}{
		{"fresh", nil},
		{"backups dir 0755", []string{"."}},
		{"backups and env dirs 0755", []string{".", "prod"}},
		{"every level 0755", []string{".", "prod", "prod/a.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			siteDir := filepath.Join(dir, "www", "sites", "a.example.com")
			if err := os.MkdirAll(filepath.Join(siteDir, "files", "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(siteDir, "files", "sub", "x.txt"), []byte("upload"), 0o644); err != nil {
				t.Fatal(err)
			}
			backups := filepath.Join(dir, "backups")
			for _, e := range tc.existing {
				p := filepath.Join(backups, e)
				if err := os.MkdirAll(p, 0o755); err != nil {
					t.Fatal(err)
				}
				os.Chmod(p, 0o755)
			}
			b := &Backups{Hosts: oneHost{local.New()}, Version: "test"}
			m, err := b.Take(ctx, SiteData{Env: "prod", Site: "a.example.com", Web: "web", SiteDir: siteDir},
				Store{Server: "web", Dir: backups}, Options{Revision: "r1"})
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			err = filepath.WalkDir(backups, func(p string, d os.DirEntry, err error) error {
				if err != nil {
					return err
				}
				st, err := os.Lstat(p)
				if err != nil {
					return err
				}
				want := os.FileMode(0o600)
				if d.IsDir() {
					want = 0o700
				}
				if st.Mode().Perm() != want {
					t.Errorf("%s: mode %o, want %o", p, st.Mode().Perm(), want)
				}
				n++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// backups, prod, the site, the backup, its files and manifest.
			if want := 4 + len(m.Pieces) + 1; n != want {
				t.Errorf("%d paths under %s, want %d", n, backups, want)
			}
		})
	}
}
