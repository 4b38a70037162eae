package filesync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindSync is a server's copy of a site's files directory from the
// primary server of its platform.
const KindSync = "files-sync"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindSync, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Sync{Base: reconcile.PrunedBase(KindSync, rec)}
	}})
}

// Hosts connects to the primary servers (reconcile.Hosts).
type Hosts interface {
	Host(ctx context.Context, server string) (host.Host, error)
}

// SyncSpec describes the copy of a site's files directory to a server.
type SyncSpec struct {
	ID, Site string
	// Server receives the copy of Primary's files directory; Dir and
	// PrimaryDir are the directories on each.
	Server, Dir         string
	Primary, PrimaryDir string
	// Hosts reaches Primary.
	Hosts Hosts
	// Rsync copies with rsync (rsync.go) when both servers have it;
	// otherwise, and by default, a tar stream carries the files.
	Rsync bool
	Deps  []string
}

// Sync makes a server's files directory of a site the primary's: what the
// primary has is copied, what it no longer has is deleted.
type Sync struct {
	reconcile.Base
	primary, primaryDir string
	hosts               Hosts
	rsync               bool
}

// NewSync returns the copy of a site's files directory to a server.
func NewSync(s SyncSpec) *Sync {
	return &Sync{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindSync, ID: s.ID, Server: s.Server, Site: s.Site, Path: s.Dir, Deps: s.Deps}),
		primary: s.Primary, primaryDir: s.PrimaryDir, hosts: s.Hosts, rsync: s.Rsync}
}

func (s *Sync) Observe() []string { return nil }

// BatchKey groups a server's copies: their trees are listed together.
func (s *Sync) BatchKey() string { return KindSync }

// errNoHosts is the error of a copy made without a way to its primary.
var errNoHosts = errors.New("berth was given no connection to the primary")

// observed is what ObserveBatch found for one copy.
type observed struct {
	src, dst tree
	srcErr   error // the primary could not be listed
}

// ObserveBatch lists the directories of every copy of the batch on the
// server in one round trip, and on each primary in one more.
func (s *Sync) ObserveBatch(ctx context.Context, h host.Host, batch []reconcile.Resource) (any, error) {
	var mine []*Sync
	for _, r := range batch {
		if c, ok := r.(*Sync); ok && !c.Absent() {
			mine = append(mine, c)
		}
	}
	out := map[string]*observed{}
	dirs := make([]string, len(mine))
	for i, c := range mine {
		dirs[i] = c.Path()
		out[c.ID()] = &observed{}
	}
	dst, err := listTrees(ctx, h, dirs)
	if err != nil {
		return nil, err
	}
	byPrimary := map[string][]*Sync{}
	for i, c := range mine {
		out[c.ID()].dst = dst[i]
		byPrimary[c.primary] = append(byPrimary[c.primary], c)
	}
	for primary, cs := range byPrimary {
		var trees []tree
		var ph host.Host
		err := errNoHosts
		if cs[0].hosts != nil {
			ph, err = cs[0].hosts.Host(ctx, primary)
		}
		if err == nil {
			dirs := make([]string, len(cs))
			for i, c := range cs {
				dirs[i] = c.primaryDir
			}
			trees, err = listTrees(ctx, ph, dirs)
		}
		for i, c := range cs {
			if err != nil {
				out[c.ID()].srcErr = err
			} else {
				out[c.ID()].src = trees[i]
			}
		}
	}
	return out, nil
}

// syncFound is what Check found that Apply needs: why it copies nothing.
type syncFound struct {
	degraded string // the primary is unreachable: a warning
	refused  error  // a directory is not one: the change fails
}

// refused returns the change that fails with err: nothing is copied, and
// the server's other changes still run.
func (s *Sync) refused(err error) reconcile.Change {
	c := s.NewChange(reconcile.Update, "cannot sync: "+err.Error())
	c.Found = &syncFound{refused: err}
	return c
}

func (s *Sync) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	if s.Absent() {
		return s.NewChange(reconcile.Delete, "the site's files are no longer synced to this server; its files stay as they are"), nil
	}
	all, _ := in.Batch.(map[string]*observed)
	o := all[s.ID()]
	if o == nil {
		return reconcile.Change{}, fmt.Errorf("files sync %s: the batch did not list it", s.ID())
	}
	if o.srcErr != nil {
		c := s.NewChange(reconcile.Update, fmt.Sprintf("the primary %s could not be listed (%v): the files are not synced in this run", s.primary, o.srcErr))
		c.Found = &syncFound{degraded: c.Reason}
		return c, nil
	}
	switch o.src.state {
	case treeDir:
	case treeAbsent:
		return s.NewChange(reconcile.Update, fmt.Sprintf("%s on %s is created in this run: then its files are copied here", s.primaryDir, s.primary)), nil
	default:
		return s.refused(fmt.Errorf("the files directory %s on the primary %s is %s: berth syncs only a directory; make it one", s.primaryDir, s.primary, stateWord(o.src.state))), nil
	}
	switch o.dst.state {
	case treeDir:
	case treeAbsent:
		return s.NewChange(reconcile.Update, fmt.Sprintf("%s is created in this run: then %s's files are copied into it (%s)", s.Path(), s.primary, diffTrees(o.src, tree{}).summary())), nil
	default:
		return s.refused(fmt.Errorf("the files directory %s on %s is %s: berth copies %s's files only into a directory; make it one", s.Path(), s.Server(), stateWord(o.dst.state), s.primary)), nil
	}
	d := diffTrees(o.src, o.dst)
	if d.empty() {
		return s.NewChange(reconcile.None, ""), nil
	}
	return s.NewChange(reconcile.Update, fmt.Sprintf("from %s on %s: %s", s.primaryDir, s.primary, d.summary())), nil
}

func stateWord(st treeState) string {
	switch st {
	case treeLink:
		return "a symbolic link"
	case treeNotADir:
		return "not a directory"
	case treeAbsent:
		return "missing"
	}
	return "a directory"
}

// Apply lists both directories again (the site may have written since
// the plan) and copies what differs.
func (s *Sync) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	if s.Absent() {
		return nil
	}
	if f, _ := c.Found.(*syncFound); f != nil && f.refused != nil {
		return f.refused
	} else if f != nil && f.degraded != "" {
		return &reconcile.KeptError{Path: s.Path(), Degraded: true, Message: fmt.Sprintf("%s on %s (Degraded): %s", s.Path(), s.Server(), f.degraded)}
	}
	if s.hosts == nil {
		return errNoHosts
	}
	ph, err := s.hosts.Host(ctx, s.primary)
	if err != nil {
		return fmt.Errorf("connect to the primary %s: %w", s.primary, err)
	}
	_, err = s.sync(ctx, ph, h)
	return err
}

// sync copies the primary's directory to the server's and returns what it
// did.
func (s *Sync) sync(ctx context.Context, ph, h host.Host) (diff, error) {
	src, err := listTrees(ctx, ph, []string{s.primaryDir})
	if err != nil {
		return diff{}, err
	}
	if src[0].state != treeDir {
		return diff{}, fmt.Errorf("the files directory %s on the primary %s is %s: nothing was copied to %s; run berth apply to create it", s.primaryDir, s.primary, stateWord(src[0].state), s.Server())
	}
	dst, err := listTrees(ctx, h, []string{s.Path()})
	if err != nil {
		return diff{}, err
	}
	if dst[0].state != treeDir {
		return diff{}, fmt.Errorf("the files directory %s on %s is %s: nothing was copied from %s; run berth apply to create it", s.Path(), s.Server(), stateWord(dst[0].state), s.primary)
	}
	d := diffTrees(src[0], dst[0])
	if d.empty() {
		return d, nil
	}
	if s.rsync && haveRsync(ctx, ph) && haveRsync(ctx, h) {
		d.via = "rsync"
		if err := rsyncTransfer(ctx, ph, h, s.primaryDir, s.Path()); err != nil {
			return d, fmt.Errorf("sync the files of %s from %s to %s over rsync: %w", s.Site(), s.primary, s.Server(), err)
		}
		return d, nil
	}
	d.via = "tar"
	if err := transfer(ctx, ph, h, s.primaryDir, s.Path(), d); err != nil {
		return d, fmt.Errorf("sync the files of %s from %s to %s: %w", s.Site(), s.primary, s.Server(), err)
	}
	return d, nil
}

// Undo leaves the copy: the files are the site's data, and the primary's
// are what the server should hold.
func (s *Sync) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (s *Sync) Record() reconcile.Record { return s.NewRecord() }

// Resync copies the files directory of each copy's primary to its server
// now, outside a plan (after a backup was restored on the primary), and
// returns one line per copy saying what it did. hosts reaches every
// server. It stops at the first failure.
func Resync(ctx context.Context, hosts Hosts, copies []*Sync) ([]string, error) {
	copies = slices.Clone(copies)
	slices.SortFunc(copies, func(a, b *Sync) int { return strings.Compare(a.ID(), b.ID()) })
	var out []string
	for _, s := range copies {
		ph, err := hosts.Host(ctx, s.primary)
		if err != nil {
			return out, fmt.Errorf("connect to the primary %s: %w", s.primary, err)
		}
		h, err := hosts.Host(ctx, s.Server())
		if err != nil {
			return out, fmt.Errorf("connect to %s: %w", s.Server(), err)
		}
		d, err := s.sync(ctx, ph, h)
		if err != nil {
			return out, err
		}
		what := "already the same"
		if !d.empty() {
			what = d.summary() + " over " + d.via
		}
		out = append(out, fmt.Sprintf("%s: files of %s from %s: %s", s.Server(), s.Site(), s.primary, what))
	}
	return out, nil
}

var _ reconcile.BatchChecker = (*Sync)(nil)
