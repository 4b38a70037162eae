package backup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
)

// countingHost is this machine, counting the commands that hash files.
type countingHost struct {
	host.Host
	mu     sync.Mutex
	hashes int
}

func (c *countingHost) Run(ctx context.Context, argv []string, o host.RunOptions) (host.RunResult, error) {
	if strings.Contains(strings.Join(argv, " "), "sha256sum") {
		c.mu.Lock()
		c.hashes++
		c.mu.Unlock()
	}
	return c.Host.Run(ctx, argv, o)
}

// The schedule reads its backups' manifests only: deciding whether a
// backup is due and pruning hash no piece (the daemon asks every few
// minutes; verifying every backup each time would read them all).
func TestDueHashesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	siteDir := filepath.Join(dir, "www", "sites", "a.example.com")
	if err := os.MkdirAll(filepath.Join(siteDir, "files"), 0o750); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	h := &countingHost{Host: local.New()}
	b := &Backups{Hosts: oneHost{h}, Version: "test", Now: func() time.Time { return now }}
	site := Scheduled{Name: "a.example.com", Schedule: "daily", Keep: 2,
		Data: SiteData{Env: "prod", Site: "a.example.com", Web: "web", SiteDir: siteDir}, Store: Store{Server: "web", Dir: filepath.Join(dir, "backups")}}
	var out bytes.Buffer
	for i, want := range []int{1, 0, 1, 2} { // taken; not due; taken; taken and one pruned
		if i >= 2 {
			now = now.Add(25 * time.Hour)
		}
		did, err := b.Due(ctx, []Scheduled{site}, "r1", now, &out)
		if err != nil || did != want {
			t.Fatalf("pass %d: did %d, %v, want %d\n%s", i, did, err, want, out.String())
		}
	}
	if h.hashes != 0 {
		t.Errorf("the schedule hashed backups %d times:\n%s", h.hashes, out.String())
	}
	list, err := b.List(ctx, "prod", "a.example.com", site.Store)
	if err != nil || len(list) != 2 || !list[0].Verified || !list[1].Verified || h.hashes != 1 {
		t.Errorf("List: %d backups, %v, hashed %d times", len(list), err, h.hashes)
	}
}
