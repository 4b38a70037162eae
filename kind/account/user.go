package account

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindUser is the kind of a Unix user berth created for a site.
const KindUser = "user"

// batchKey groups a server's users for one getent.
const batchKey = "unix-users"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindUser, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &User{Base: reconcile.PrunedBase(KindUser, rec), name: NameOfID(rec.ID)}
	}})
}

// ID names a site's user on a server: site/DOMAIN/user:NAME@SERVER. The
// pruner reads the user's name back from it (NameOfID), so a record alone
// says which user to delete.
func ID(domain, name, server string) string {
	return fmt.Sprintf("site/%s/user:%s@%s", domain, name, server)
}

// NameOfID returns the user name in an ID made by ID, "" when there is
// none.
func NameOfID(id string) string {
	_, rest, ok := strings.Cut(id, "/user:")
	if !ok {
		return ""
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return ""
	}
	return rest[:at]
}

// UserSpec describes a site's Unix user on one server.
type UserSpec struct {
	ID, Server, Site string
	// Name is the user's name, which is also its group's.
	Name string
	Deps []string
}

// User is a Unix user (and its group of the same name) berth creates.
type User struct {
	reconcile.Base
	name string
}

// New returns the resource of a site's user.
func New(s UserSpec) *User {
	return &User{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindUser, ID: s.ID, Server: s.Server, Site: s.Site, Deps: s.Deps}), name: s.Name}
}

// Name is the user's name.
func (u *User) Name() string { return u.name }

// Observe: a user is not a path; ObserveBatch reads it.
func (u *User) Observe() []string { return nil }

func (u *User) BatchKey() string { return batchKey }

// ObserveBatch returns the set of the batch's users that exist, read with
// one `getent passwd NAME...` (exit status 2: some do not exist).
func (u *User) ObserveBatch(ctx context.Context, h host.Host, batch []reconcile.Resource) (any, error) {
	argv := []string{"getent", "passwd"}
	for _, r := range batch {
		if x, ok := r.(*User); ok && x.name != "" {
			argv = append(argv, x.name)
		}
	}
	exists := map[string]bool{}
	if len(argv) == 2 {
		return exists, nil
	}
	res, err := h.Run(ctx, argv, host.RunOptions{})
	if err != nil && res.ExitCode != 2 {
		return nil, fmt.Errorf("read the users of %s with getent: %w", h.Name(), host.WithStderr(err))
	}
	for l := range strings.Lines(string(res.Stdout)) {
		if name, _, ok := strings.Cut(l, ":"); ok {
			exists[name] = true
		}
	}
	return exists, nil
}

func (u *User) Check(_ context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	exists, _ := in.Batch.(map[string]bool)
	if u.Absent() {
		switch {
		case in.Record != nil && in.Record.Adopted:
			return u.NewChange(reconcile.None, "kept: it existed before berth managed it"), nil
		case u.name == "":
			return reconcile.Change{}, fmt.Errorf("inventory record %s names no user: remove the record or the user by hand", u.ID())
		case !exists[u.name]:
			return u.NewChange(reconcile.Delete, "already gone; forgotten"), nil
		}
		return u.NewChange(reconcile.Delete, fmt.Sprintf("no longer declared: userdel %s (and its group)", u.name)), nil
	}
	if exists[u.name] {
		return u.NewChange(reconcile.None, ""), nil
	}
	return u.NewChange(reconcile.Create, fmt.Sprintf("missing: useradd %s, a system user and group with no home and no login shell", u.name)), nil
}

// Exit statuses of useradd and userdel (shadow-utils).
const (
	useraddNameInUse  = 9
	userdelNoSuchUser = 6
	userdelBusy       = 8
)

func (u *User) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	switch c.Action {
	case reconcile.Create:
		return u.add(ctx, h)
	case reconcile.Delete:
		return u.del(ctx, h)
	}
	return nil
}

func (u *User) add(ctx context.Context, h host.Host) error {
	res, err := h.Run(ctx, []string{"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", u.name}, host.RunOptions{})
	if err != nil && res.ExitCode != useraddNameInUse {
		return fmt.Errorf("create user %s on %s (useradd needs root: run berth as root, or through sudo on a remote server): %w", u.name, h.Name(), host.WithStderr(err))
	}
	return nil
}

// busyWaits are the pauses between userdel attempts while a process
// still runs as the user: PHP-FPM's workers of the removed pool exit
// after the reload that removed it, asynchronously. Halfway, the user's
// remaining processes are sent SIGTERM (the user is the removed site's
// own, so nothing else runs as it). A variable so tests need not wait.
var busyWaits = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, 1500 * time.Millisecond, 1500 * time.Millisecond, 3 * time.Second}

// termAfter is the attempt after which the user's processes are sent
// SIGTERM.
const termAfter = 4

func (u *User) del(ctx context.Context, h host.Host) error {
	for i := 0; ; i++ {
		res, err := h.Run(ctx, []string{"userdel", u.name}, host.RunOptions{})
		switch {
		case err == nil || res.ExitCode == userdelNoSuchUser:
			return nil
		case res.ExitCode != userdelBusy:
			return fmt.Errorf("delete user %s on %s: %w", u.name, h.Name(), host.WithStderr(err))
		case i == len(busyWaits):
			return &reconcile.KeptError{Path: "user " + u.name, Reason: "a process still runs as it after SIGTERM (see `ps -u " + u.name + "`); the next run deletes it"}
		}
		if i == termAfter {
			// pkill exits 1 when nothing matched: the process ended meanwhile.
			_, _ = h.Run(ctx, []string{"pkill", "-TERM", "-u", u.name}, host.RunOptions{})
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("delete user %s on %s: %w", u.name, h.Name(), ctx.Err())
		case <-time.After(busyWaits[i]):
		}
	}
}

// Undo reverses a creation (userdel) or a deletion (useradd: the user
// comes back under a new uid, its name and group as before).
func (u *User) Undo(ctx context.Context, h host.Host, c *reconcile.Change) error {
	switch c.Action {
	case reconcile.Create:
		return u.del(ctx, h)
	case reconcile.Delete:
		return u.add(ctx, h)
	}
	return nil
}

func (u *User) Record() reconcile.Record { return u.NewRecord() }
