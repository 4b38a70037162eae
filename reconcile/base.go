package reconcile

import "slices"

// Base is what every kind's resource has and would otherwise spell out
// again: its kind, ID, server, site, main path and dependencies, and
// whether it stands for a pruned inventory record (Absent: delete it).
// A kind embeds it and adds Observe, Check, Apply, Undo and Record:
//
//	type File struct {
//		reconcile.Base
//		content []byte
//	}
//
// Base's zero value is a resource without identity; make one with
// NewBase, or PrunedBase for a record the revision no longer declares.
type Base struct {
	kind, id, server, site, path string
	deps                         []string
	absent                       bool
}

// BaseSpec names a resource: what NewBase needs.
type BaseSpec struct {
	Kind, ID, Server, Site, Path string
	Deps                         []string
}

// NewBase returns the Base of a resource the revision declares.
func NewBase(s BaseSpec) Base {
	return Base{kind: s.Kind, id: s.ID, server: s.Server, site: s.Site, path: s.Path, deps: slices.Clone(s.Deps)}
}

// PrunedBase returns the Base of the resource that deletes what rec, an
// inventory record of kind, describes: Absent is set.
func PrunedBase(kind string, rec Record) Base {
	return Base{kind: kind, id: rec.ID, server: rec.Server, site: rec.Site, path: rec.Path, absent: true}
}

func (b *Base) ID() string     { return b.id }
func (b *Base) Server() string { return b.server }
func (b *Base) Kind() string   { return b.kind }
func (b *Base) Site() string   { return b.site }
func (b *Base) Path() string   { return b.path }
func (b *Base) Deps() []string { return b.deps }

// Absent reports whether the resource stands for a pruned record: its
// Check plans a deletion.
func (b *Base) Absent() bool { return b.absent }

// AddDeps adds dependencies. Builders call it while they assemble the
// desired state (a resource depends on its parent directory's), never
// once the engine has the resource.
func (b *Base) AddDeps(ids ...string) { b.deps = append(b.deps, ids...) }

// NewChange returns a Change of the resource with its identity filled in.
func (b *Base) NewChange(a Action, reason string) Change {
	return Change{ID: b.id, Server: b.server, Kind: b.kind, Site: b.site, Path: b.path, Action: a, Reason: reason}
}

// NewRecord returns the resource's inventory record with its identity
// filled in; the kind adds Hash and Service.
func (b *Base) NewRecord() Record {
	return Record{ID: b.id, Server: b.server, Kind: b.kind, Site: b.site, Path: b.path}
}
