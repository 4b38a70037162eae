package reconcile

import (
	"context"
	"fmt"
	"sync"

	"github.com/berthhq/berth/host"
)

// Resource is one thing berth manages on one server. Implementations live
// one kind per file. All methods must be safe to call from several
// goroutines for different resources; the engine never calls two methods of
// one resource at once.
type Resource interface {
	// ID is stable across runs and unique in an environment, e.g.
	// "site/example.com/vhost@web1".
	ID() string
	// Server is the name of the server the resource lives on.
	Server() string
	// Kind names the resource kind ("file", "dir"); it selects the pruner
	// that can delete the resource when only its inventory record is left.
	Kind() string
	// Site is the site the resource belongs to, "" for none.
	Site() string
	// Path is the resource's main path on the server, "" if it has none.
	// The engine orders deletions by it: children before parents.
	Path() string
	// Deps lists IDs of resources that must be applied first.
	Deps() []string
	// Observe lists the paths whose state Check needs; the engine reads all
	// paths of all resources of a server in one round trip.
	Observe() []string
	// Check compares the desired state with what was observed and returns
	// the change needed; Action None when converged. An error wrapping
	// ErrPolicy (a kind's safety rule) refuses the whole plan; any other
	// makes the server unobservable for this plan. The contents it needs
	// (to build a diff) it names as a ContentReader, and finds in
	// CheckInput.Files: one read per server, never per file.
	// in.Record is the inventory record, nil when berth has none.
	Check(ctx context.Context, in CheckInput) (Change, error)
	// Apply makes the change. It must be idempotent: applying a change that
	// is already in effect succeeds and changes nothing.
	Apply(ctx context.Context, h host.Host, c *Change) error
	// Undo reverses a successful Apply of c, from the prior state Check
	// recorded. The engine calls it when a service's config check fails.
	Undo(ctx context.Context, h host.Host, c *Change) error
	// Record returns the inventory entry to keep after a successful apply.
	Record() Record
}

// CheckInput is what Check may look at.
type CheckInput struct {
	Host    host.Host
	Obs     map[string]host.Observation
	Record  *Record // inventory record, nil when berth did not create it
	Adopt   bool    // take over things berth did not create
	Service string
	// Batch is what ObserveBatch returned for the resource's batch, when
	// the resource is a BatchChecker; nil otherwise.
	Batch any
	// Files holds the contents the resource asked for as a ContentReader
	// (read for every resource of the server in one round trip); nil
	// otherwise.
	Files map[string]host.FileData
	// Guarded is set for a resource whose site the plan removes entirely
	// and that the site's Desired.BeforeDelete step (a backup) precedes:
	// deleting the site's data is then allowed, since Apply runs it only
	// after that step succeeded.
	Guarded bool
	// Allow names the safety rules of kinds this plan overrides
	// (PlanOptions.Allow).
	Allow []string
}

// BatchChecker is implemented by resource kinds whose state is not paths
// but rows of a catalogue, such as the databases and users of a database
// server. Observation stays one round trip per kind and server, however
// many resources there are:
//
//  1. the engine groups a server's BatchCheckers by BatchKey;
//  2. for each group it calls ObserveBatch once, on the group's first
//     member (by ID), with every member sorted by ID, after the server's
//     paths were observed and before any Check;
//  3. each member's Check finds the result in CheckInput.Batch.
//
// An ObserveBatch error makes the server unobservable for this plan, like
// a failed path observation: nothing is planned on it. ObserveBatch must
// only read.
type BatchChecker interface {
	Resource
	// BatchKey names the group, e.g. "mysql": resources of one server with
	// the same key are observed together.
	BatchKey() string
	// ObserveBatch reads the state of every resource of batch in one
	// round trip to h.
	ObserveBatch(ctx context.Context, h host.Host, batch []Resource) (any, error)
}

// Record is an inventory entry: a resource berth created.
type Record struct {
	ID     string `json:"id"`
	Server string `json:"server"`
	Kind   string `json:"kind"`
	Site   string `json:"site,omitempty"`
	Path   string `json:"path,omitempty"`
	// Hash is the SHA-256 of what berth wrote, when that is content.
	Hash string `json:"hash,omitempty"`
	// Service is checked and reloaded when the resource is deleted.
	Service string `json:"service,omitempty"`
	// Adopted is set when the thing existed before berth recorded it: berth
	// then never deletes it.
	Adopted bool `json:"adopted,omitempty"`
	// Imported is set, with Adopted, by berth import: what it adopted
	// stays Adopted (never deleted) after berth changed it too.
	Imported bool `json:"imported,omitempty"`
	// AsFound is set by berth import on a hand-made file that differs
	// from berth's rendering: Hash is then the hash of the rendering of
	// the repo import wrote, and the file keeps its bytes while the
	// desired content stays that rendering (the kind says "kept as
	// found"). The repo's first change to it rewrites it and clears this.
	AsFound bool `json:"as_found,omitempty"`
	// Pending is set on the record Apply saves before it writes (an
	// intent), and cleared once the write stuck: berth's own files are
	// berth's even when a crash cuts the run between the write and the
	// record, and never taken for someone else's on the rerun.
	Pending bool `json:"pending,omitempty"`
}

// Kind is what a resource kind registers with the engine (RegisterKind),
// as caddy's modules do: the engine then knows how to delete a resource
// of it that only the inventory remembers, without knowing the kind.
type Kind struct {
	// Name is the kind's name, as Resource.Kind and Record.Kind give it.
	Name string
	// Prune makes the resource that deletes what rec describes.
	Prune Pruner
}

// Pruner makes a resource that deletes what an inventory record describes.
type Pruner func(rec Record) Resource

var (
	kindsMu sync.RWMutex
	kinds   = map[string]Kind{}
)

// RegisterKind registers a resource kind. Kinds call it from init; a name
// registered twice panics.
func RegisterKind(k Kind) {
	kindsMu.Lock()
	defer kindsMu.Unlock()
	if _, dup := kinds[k.Name]; dup {
		panic("reconcile: kind " + k.Name + " registered twice")
	}
	kinds[k.Name] = k
}

func prunerFor(kind string) (Pruner, error) {
	kindsMu.RLock()
	defer kindsMu.RUnlock()
	k, ok := kinds[kind]
	if !ok || k.Prune == nil {
		return nil, fmt.Errorf("inventory holds a resource of kind %q that this berth cannot delete; upgrade berth", kind)
	}
	return k.Prune, nil
}

// KeptError reports a deletion that was skipped to protect data. It is a
// warning, not a failure: the inventory keeps the record and the next plan
// shows the deletion again.
type KeptError struct {
	Path, Reason string
	// Degraded marks a change that ran but left what it converges short
	// of the desired state (a DNS secondary that lags): the result lists
	// it in Result.Degraded too, and the environment's health is Degraded.
	Degraded bool
	// Message, when set, is the whole warning instead of "kept PATH:
	// REASON": for a change that is not a kept deletion (a lagging
	// secondary says what lags).
	Message string
}

func (e *KeptError) Error() string {
	if e.Message != "" {
		return e.Message
	}
	return fmt.Sprintf("kept %s: %s", e.Path, e.Reason)
}
