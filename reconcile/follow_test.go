package reconcile_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/kind/files"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/reconcile/reconciletest"
)

// follower is a Follower on server "lb" that follows the vhost of site a
// on server "web": its change names the dependency's action, and its
// Apply records that it ran and what Follow passed it.
type follower struct {
	reconcile.Base
	ran *[]string
}

func newFollower(ran *[]string) *follower {
	return &follower{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: "follow", ID: "follow@lb", Server: "lb", Deps: []string{"site/a/vhost@web"}}), ran: ran}
}

func (f *follower) Observe() []string { return nil }
func (f *follower) Check(context.Context, reconcile.CheckInput) (reconcile.Change, error) {
	return f.NewChange(reconcile.None, ""), nil
}
func (f *follower) Follow(_ context.Context, own reconcile.Change, deps map[string]*reconcile.Change) (reconcile.Change, error) {
	dep := deps["site/a/vhost@web"]
	if dep == nil {
		return own, nil
	}
	c := f.NewChange(reconcile.Update, "follows "+dep.Action.String())
	c.Found = dep.Action.String()
	return c, nil
}
func (f *follower) Apply(_ context.Context, _ host.Host, c *reconcile.Change) error {
	*f.ran = append(*f.ran, c.Found.(string))
	return nil
}
func (f *follower) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }
func (f *follower) Record() reconcile.Record                                 { return f.NewRecord() }

// A Follower's change is made from the planned changes of its
// dependencies on other servers: a change when one is planned, none (and
// its record kept) when they are converged.
func TestFollower(t *testing.T) {
	h := reconciletest.New(t)
	h.Engine.Hosts = reconciletest.Hosts{"web": h.Fake, "lb": hosttest.New("lb")}
	var ran []string
	desired := func(content string) *reconcile.Desired {
		vhost := files.NewFile(files.FileSpec{ID: "site/a/vhost@web", Server: "web", Site: "a", Path: "/srv/a.conf", Content: []byte(content), Service: "http"})
		return h.Desired(5, vhost, newFollower(&ran))
	}
	p := h.Plan(desired("one\n"), reconcile.PlanOptions{})
	if got, want := reconciletest.Actions(p), "~follow@lb +site/a/vhost@web"; got != want {
		t.Fatalf("plan %s, want %s", got, want)
	}
	if p.Changes[0].Reason != "follows create" {
		t.Errorf("the follower's reason is %q", p.Changes[0].Reason)
	}
	h.Apply(p)
	if strings.Join(ran, " ") != "create" {
		t.Errorf("the follower ran %v", ran)
	}
	p = h.Plan(desired("one\n"), reconcile.PlanOptions{})
	if !p.Empty() || p.Unchanged != 2 {
		t.Fatalf("converged plan: %s, unchanged %d", reconciletest.Actions(p), p.Unchanged)
	}
	recs, _ := h.Inv.Records(context.Background(), "test")
	if len(recs) != 2 || recs[0].ID != "follow@lb" || recs[0].Adopted {
		t.Errorf("records %+v, want the follower's, not adopted", recs)
	}
	if got := reconciletest.Actions(h.Plan(desired("two\n"), reconcile.PlanOptions{})); got != "~follow@lb ~site/a/vhost@web" {
		t.Errorf("plan of a change of the dependency: %s", got)
	}
}
