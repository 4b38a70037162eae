package backup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
)

// scripted is the local host whose every command is script (sh -c): what
// a command printed and how it exited, for tarFiles' reading of them.
type scripted struct {
	host.Host
	script string
}

func (s scripted) Run(ctx context.Context, _ []string, o host.RunOptions) (host.RunResult, error) {
	return s.Host.Run(ctx, []string{"sh", "-c", s.script}, o)
}

// TestTarFilesWarnings: tar's exit status 1 with nothing but warnings that
// files changed, shrank or went away while read is a backup, with those
// warnings; any other message, status or silence fails it.
func TestTarFilesWarnings(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		want         []string // nil: an error
	}{
		{"whole", "printf tar", []string{}},
		{"changed", "echo 'tar: files/a.log: file changed as we read it' >&2; exit 1", []string{"files/a.log: file changed as we read it"}},
		{"removed and shrank", "echo 'tar: files/b: File removed before we read it' >&2; echo 'tar: files/c d.log: File shrank by 12 bytes; padding with zeros' >&2; exit 1",
			[]string{"files/b: File removed before we read it", "files/c d.log: File shrank by 12 bytes; padding with zeros"}},
		{"changed and unreadable", "echo 'tar: files/a.log: file changed as we read it' >&2; echo 'tar: files/x: Cannot open: Permission denied' >&2; exit 1", nil},
		{"status 1, silent", "exit 1", nil},
		{"status 2", "echo 'tar: files/a.log: file changed as we read it' >&2; exit 2", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			got, err := tarFiles(context.Background(), scripted{local.New(), tc.script}, "/nonexistent", &out)
			switch {
			case tc.want == nil && err == nil:
				t.Errorf("tarFiles succeeded with %q, want an error", got)
			case tc.want != nil && err != nil:
				t.Errorf("tarFiles: %v", err)
			case tc.want != nil && !slices.Equal(got, tc.want):
				t.Errorf("warnings %q, want %q", got, tc.want)
			}
		})
	}
}

// TestBackupWhileWritten: a site whose files are being written while the
// backup reads them (a log appended without pause) is backed up, not
// refused: GNU tar exits 1 when it sees the file change, and the
// manifest says which files were kept as read.
func TestBackupWhileWritten(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	siteDir := filepath.Join(dir, "www", "sites", "a.example.com")
	if err := os.MkdirAll(filepath.Join(siteDir, "files"), 0o750); err != nil {
		t.Fatal(err)
	}
	stop := testenv.GrowingLog(t, filepath.Join(siteDir, "files", "app.log"))
	now := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	b := &Backups{Hosts: oneHost{local.New()}, Version: "test", Now: func() time.Time { return now }}
	data := SiteData{Env: "prod", Site: "a.example.com", Web: "web", SiteDir: siteDir}
	store := Store{Server: "web", Dir: filepath.Join(dir, "backups")}
	m, err := b.Take(ctx, data, store, Options{Reason: ReasonScheduled})
	stop()
	if err != nil {
		t.Fatalf("backup of files being written: %v", err)
	}
	if len(m.Warnings) == 0 {
		t.Logf("tar did not see app.log change while it read it this time")
	} else if !strings.Contains(m.Warnings[0], "files/app.log: file changed as we read it") {
		t.Errorf("warnings %q", m.Warnings)
	}
	list, err := b.List(ctx, data.Env, data.Site, store)
	if err != nil || len(list) != 1 || !list[0].Verified {
		t.Errorf("the backup is not listed as whole: %+v, %v", list, err)
	}
}
