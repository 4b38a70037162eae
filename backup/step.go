package backup

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindBackup is the backup taken before a site is deleted.
const KindBackup = "backup"

// siteBackup backs a removed site up before its deletion.
type siteBackup struct {
	reconcile.Base
	b     *Backups
	data  SiteData
	store Store
	rev   string
}

// DeletionStep returns the step that backs site data up into store before
// the site's deletion (reconcile.Desired.BeforeDelete), under id, for
// revision. Its Check plans nothing when the site holds no data; what it
// will back up goes to Apply in Change.Found.
func DeletionStep(b *Backups, id string, data SiteData, store Store, revision string) reconcile.Resource {
	return &siteBackup{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindBackup, ID: id, Server: store.Server, Site: data.Site}),
		b: b, data: data, store: store, rev: revision}
}

func (s *siteBackup) Observe() []string { return nil }

// Check plans the backup; none when the site holds no data (no database,
// and its files directory is empty or gone): its directories are then
// removed only if empty, as any other.
//
// A database already gone is left out: only a run that took this backup
// first deletes it, so it was deleted by a run interrupted before it could
// forget the site's records (the rerun finishes the deletion).
func (s *siteBackup) Check(ctx context.Context, _ reconcile.CheckInput) (reconcile.Change, error) {
	data := s.data // what Apply backs up, in Change.Found
	if db := data.DB; db != nil {
		gone, err := dbGone(ctx, s.b.Hosts, db)
		if err != nil {
			return reconcile.Change{}, err
		}
		if gone {
			data.DB = nil
		}
	}
	if data.DB == nil {
		h, err := s.b.Hosts.Host(ctx, data.Web)
		if err != nil {
			return reconcile.Change{}, fmt.Errorf("connect to server %s: %w", data.Web, err)
		}
		files := path.Join(data.SiteDir, "files")
		_, err = h.Run(ctx, []string{"sh", "-c", `[ ! -d "$1" ] || [ -z "$(ls -A -- "$1")" ]`, "berth-check", files}, host.RunOptions{})
		if err == nil {
			return reconcile.Change{ID: s.ID(), Server: s.store.Server, Kind: KindBackup, Site: data.Site, Action: reconcile.None}, nil
		}
		var ee *host.ExitError
		if !errors.As(err, &ee) {
			return reconcile.Change{}, fmt.Errorf("look into %s on %s: %w", files, data.Web, err)
		}
	}
	var what []string
	if db := data.DB; db != nil {
		what = append(what, db.Type+" database "+db.Name+" on "+db.Server)
	}
	if data.SiteDir != "" {
		what = append(what, "files of "+data.Web)
	}
	return reconcile.Change{ID: s.ID(), Server: s.store.Server, Kind: KindBackup, Site: data.Site, Path: s.store.siteDir(data.Env, data.Site),
		Action: reconcile.Create, Reason: fmt.Sprintf("before deleting %s: %s, into %s", data.Site, strings.Join(what, ", "), s.store.siteDir(data.Env, data.Site)),
		Found: data}, nil
}

// dbGone reports whether a removed site's database no longer exists:
// the SQLite file, or the database in its server's catalogue (read as the
// kind's ObserveBatch reads it).
func dbGone(ctx context.Context, hosts reconcile.Hosts, db *SiteDB) (bool, error) {
	h, err := hosts.Host(ctx, db.Server)
	if err != nil {
		return false, fmt.Errorf("connect to server %s: %w", db.Server, err)
	}
	switch {
	case db.Type == "sqlite":
		obs, err := h.Observe(ctx, []string{db.Path})
		if err != nil {
			return false, fmt.Errorf("look for %s on %s: %w", db.Path, db.Server, err)
		}
		return !obs[0].Exists, nil
	case db.Admin == nil:
		return false, nil
	}
	ok, err := db.Admin.Exists(ctx, h, db.Name)
	return !ok && err == nil, err
}

func (s *siteBackup) Apply(ctx context.Context, _ host.Host, c *reconcile.Change) error {
	data, ok := c.Found.(SiteData)
	if !ok {
		data = s.data
	}
	_, err := s.b.Take(ctx, data, s.store, Options{Revision: s.rev, Reason: ReasonDelete})
	return err
}

func (s *siteBackup) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }
func (s *siteBackup) Record() reconcile.Record                                 { return reconcile.Record{} }
