package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"sync"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/internal/testenv"
)

// TestMultiHost writes files to three hosts (network namespaces, each with
// its own sshd) in parallel and reads them back; one host dies mid-run.
// That host must report an error, and the other two must complete.
func TestMultiHost(t *testing.T) {
	const files = 30
	const victim, killAfter = 1, 10
	hosts := testenv.Hosts(t, 3)
	ctx := context.Background()

	killNow := make(chan struct{}) // the victim has written killAfter files
	killed := make(chan struct{})  // the victim's host is gone
	go func() {
		<-killNow
		hosts[victim].Kill(t)
		close(killed)
	}()

	errs := make([]error, len(hosts))
	written := make([]int, len(hosts))
	var wg sync.WaitGroup
	for i, nh := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := newHost(t, config(nh.SSH, false))
			errs[i] = func() error {
				for n := range files {
					if i == victim && n == killAfter {
						close(killNow)
						<-killed
					}
					f := path.Join(nh.SSH.UserDir, fmt.Sprintf("file-%02d", n))
					want := []byte(fmt.Sprintf("host %s file %d\n", nh.IP, n))
					if err := h.WriteFile(ctx, f, want, host.WriteOptions{}); err != nil {
						return err
					}
					got, err := h.ReadFile(ctx, f)
					if err != nil {
						return err
					}
					if !bytes.Equal(got, want) {
						return fmt.Errorf("%s: read back %q, want %q", f, got, want)
					}
					written[i]++
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case i == victim:
			if !errors.Is(err, host.ErrUnreachable) {
				t.Errorf("host %d (killed after %d files): %v, want host.ErrUnreachable", i, killAfter, err)
			}
			if written[i] != killAfter {
				t.Errorf("host %d wrote %d files, want %d before it died", i, written[i], killAfter)
			}
			t.Logf("host %d (%s) after its sshd was killed: %v", i, hosts[i].IP, err)
		case err != nil:
			t.Errorf("host %d (%s): %v", i, hosts[i].IP, err)
		case written[i] != files:
			t.Errorf("host %d wrote %d files, want %d", i, written[i], files)
		}
	}
}
