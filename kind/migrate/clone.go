package migrate

import (
	"context"
	"fmt"
	"path"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindClone is a site created from a fresh backup of another site (its
// clone_from), then sanitized.
const KindClone = "clone"

// ClonedMarker is the file in the clone's site directory that says its
// data was copied and sanitized; remove it to clone again.
const ClonedMarker = ".berth-cloned"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindClone, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Clone{Base: reconcile.PrunedBase(KindClone, rec)}
	}})
}

// CloneSpec describes a site's clone, on its first web server (Server).
type CloneSpec struct {
	ID, Server, Site string
	// SiteDir is the clone's site directory (the marker's, owned by
	// Owner:Group); FilesDir its files directory, given after the copy
	// to the owner and group of SiteDir, which are the files
	// directory's (the source's files belong to the source's user).
	SiteDir, FilesDir string
	Owner, Group      string
	// From names the source for people: production/www.example.com.
	From string
	// Copy takes a fresh backup of the source and restores it into the
	// clone (the clone's own state is backed up first).
	Copy func(ctx context.Context) error
	// Sanitize runs the sanitize step against the clone's database
	// (SanitizeShown names it); nil: none.
	Sanitize      func(ctx context.Context) error
	SanitizeShown string
	// Unmentioned returns the clone's tables the sanitize step does not
	// mention, when its platform asks for the check; nil: no check.
	Unmentioned func(ctx context.Context) ([]string, error)
	// Empty empties the clone's database after a failed sanitize step or
	// check, so that no unsanitized copy is served.
	Empty func(ctx context.Context) error
	// Now is the marker's clock; nil: time.Now.
	Now  func() time.Time
	Deps []string
}

// Clone copies a site's data from its source once (see CloneSpec),
// between its server's configuration checks and reloads (AfterCheck, as
// an install): a new clone is never served before it is sanitized. Its
// marker, observed like any path, is its only memory.
type Clone struct {
	reconcile.Base // Path is the marker
	s              CloneSpec
}

// NewClone returns the resource of a site's clone.
func NewClone(s CloneSpec) *Clone {
	return &Clone{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindClone, ID: s.ID, Server: s.Server, Site: s.Site,
		Path: path.Join(s.SiteDir, ClonedMarker), Deps: s.Deps}), s: s}
}

func (c *Clone) AfterCheck() bool  { return true }
func (c *Clone) Observe() []string { return []string{c.Path()} }

func (c *Clone) Check(_ context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	exists := in.Obs[c.Path()].Exists
	switch {
	case c.Absent() && !exists:
		return c.NewChange(reconcile.Delete, "marker already gone; forgotten"), nil
	case c.Absent():
		return c.NewChange(reconcile.Delete, "no longer declared: forget the clone (its marker); the data stays"), nil
	case exists:
		return c.NewChange(reconcile.None, ""), nil
	}
	reason := fmt.Sprintf("clone %s from %s: a fresh backup of it, restored here", c.Site(), c.s.From)
	if c.s.Sanitize != nil {
		reason += ", then sanitized with " + c.s.SanitizeShown
	}
	return c.NewChange(reconcile.Create, reason+", before it is served"), nil
}

func (c *Clone) Apply(ctx context.Context, h host.Host, ch *reconcile.Change) error {
	switch ch.Action {
	case reconcile.Delete:
		return h.Remove(ctx, c.Path())
	case reconcile.Create:
	default:
		return nil
	}
	if err := c.Run(ctx, h); err != nil {
		return fmt.Errorf("%w; the next run clones again", err)
	}
	now := time.Now
	if c.s.Now != nil {
		now = c.s.Now
	}
	marker := fmt.Sprintf("berth cloned %s from %s at %s\n", c.Site(), c.s.From, now().UTC().Format(time.RFC3339))
	if err := h.WriteFile(ctx, c.Path(), []byte(marker), host.WriteOptions{Mode: 0o640, Owner: c.s.Owner, Group: c.s.Group}); err != nil {
		return fmt.Errorf("the clone of %s is done but its marker %s could not be written (the next run clones again): %w", c.Site(), c.Path(), err)
	}
	return nil
}

// Run copies the data (a fresh backup of the source restored), gives
// the files to the site and sanitizes, on the clone's web server h; on
// any failure the clone's database is emptied, since what reached it is
// not sanitized. It writes no marker: berth sync-data runs it alone.
func (c *Clone) Run(ctx context.Context, h host.Host) error {
	err := c.copy(ctx, h)
	if err == nil || c.s.Empty == nil {
		return err
	}
	if eerr := c.s.Empty(context.WithoutCancel(ctx)); eerr != nil {
		return fmt.Errorf("%w; emptying its database failed too, so it may hold unsanitized data: %v; do not serve it, empty it by hand", err, eerr)
	}
	return fmt.Errorf("%w; its database was emptied again, so nothing unsanitized is served", err)
}

// copy restores the source's fresh backup, gives the files to the
// site's user, and sanitizes.
func (c *Clone) copy(ctx context.Context, h host.Host) error {
	if err := c.s.Copy(ctx); err != nil {
		return fmt.Errorf("clone %s from %s: %w", c.Site(), c.s.From, err)
	}
	if c.s.FilesDir != "" {
		if _, err := h.Run(ctx, []string{"sh", "-c", `[ ! -e "$2" ] || chown -R --reference="$1" -- "$2"`, "berth-clone", c.s.SiteDir, c.s.FilesDir}, host.RunOptions{}); err != nil {
			return fmt.Errorf("give the files of clone %s to the owner of %s: %w", c.Site(), c.s.SiteDir, host.WithStderr(err))
		}
	}
	return c.sanitize(ctx)
}

// sanitize runs the sanitize step, then checks that it mentions every
// table when asked to.
func (c *Clone) sanitize(ctx context.Context) error {
	if c.s.Sanitize == nil {
		return nil
	}
	if err := c.s.Sanitize(ctx); err != nil {
		return fmt.Errorf("sanitize step %s of clone %s failed: %w", c.s.SanitizeShown, c.Site(), err)
	}
	if c.s.Unmentioned == nil {
		return nil
	}
	tables, err := c.s.Unmentioned(ctx)
	if err != nil {
		return fmt.Errorf("list the tables of clone %s: %w", c.Site(), err)
	}
	if len(tables) > 0 {
		return fmt.Errorf("clone %s has tables its sanitize step %s does not mention: %v (the platform asks for every table: sanitize.check_tables); handle them in it, or name them in a comment when they hold nothing personal",
			c.Site(), c.s.SanitizeShown, tables)
	}
	return nil
}

// Undo leaves the data: a failed clone emptied its database itself.
func (c *Clone) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (c *Clone) Record() reconcile.Record { return c.NewRecord() }
