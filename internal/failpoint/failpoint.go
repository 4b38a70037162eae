// Package failpoint makes berth crash on purpose at a named step of a run,
// so that tests can prove a rerun repairs whatever a crash there leaves.
//
// The point is read once, at start, from the environment variable
// BERTH_FAILPOINT: "NAME" crashes at the first Hit(NAME), "NAME#N" at the
// N-th. A crash is SIGKILL sent to the process itself: no deferred code,
// no signal handler and no buffered write runs, as in a power cut or an
// OOM kill. With BERTH_FAILPOINT unset, Hit is one comparison of an empty
// string.
//
// Names used by berth (see reconcile/doc.go for where each one is):
// after-sweep, after-record-pending, after-record-intent,
// after-write:KIND, after-write:SERVICE, after-write:ROLE (the resource
// ID's last segment, e.g. vhost), before-check, before-reload,
// after-reload, before-inventory, before-data, mid-delete, mid-write
// (host/local: a temp file written, not yet renamed), mid-batch
// (host/local WriteBatch: before each rename of a file into place).
package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
)

// Env is the environment variable that arms a failpoint.
const Env = "BERTH_FAILPOINT"

var (
	armed string           // the armed name, "" for none
	nth   int64        = 1 // crash at this hit of armed
	hits  atomic.Int64     // hits of armed so far
)

func init() {
	armed, nth = parse(os.Getenv(Env))
}

// parse splits "NAME#N" into NAME and N (1 without "#N" or with a bad N).
func parse(v string) (string, int64) {
	name, count, ok := strings.Cut(v, "#")
	if !ok {
		return name, 1
	}
	n, err := strconv.ParseInt(count, 10, 64)
	if err != nil || n < 1 {
		return name, 1
	}
	return name, n
}

// Hit crashes the process when one of names is the armed failpoint and
// this is its N-th hit; otherwise it returns at once.
func Hit(names ...string) {
	if armed == "" {
		return
	}
	for _, name := range names {
		if name == armed && hits.Add(1) == nth {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way: run nothing more
		}
	}
}

// Armed reports whether a failpoint is set, for code that would otherwise
// compute names to pass to Hit.
func Armed() bool { return armed != "" }
