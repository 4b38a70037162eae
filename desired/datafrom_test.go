package desired

import (
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// TestDataFromNote: the plan's note on an environment's data_from names
// its sites (at most maxNoteSites, then how many more), its source and
// schedule, and when the next copy is due: at the daemon's next
// scheduled pass when a site was never copied, else from the oldest
// last copy in the run history, each site by its own schedule; the sites
// of one source and schedule together; nothing without data_from.
func TestDataFromNote(t *testing.T) {
	store, err := state.Open(t.Context(), t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	copied := func(site string, at time.Time) {
		t.Helper()
		id, err := store.StartRun(t.Context(), state.Run{Env: "staging", Revision: "r1", Trigger: DataFromTrigger(site), Started: at})
		if err == nil {
			err = store.FinishRun(t.Context(), id, state.RunResult{Result: state.ResultJobDone, Finished: at})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	res := func(sites ...string) *spec.Resolved {
		out := &spec.Resolved{Environment: "staging"}
		for _, site := range sites {
			out.DataFrom = append(out.DataFrom, spec.ResolvedDataFrom{Site: site, Env: "production", Schedule: "daily", Every: 24 * time.Hour})
		}
		if len(sites) == 0 {
			out.DataFromNone = "production"
		}
		return out
	}
	// b's own, every 6h from qa, next to the environment's daily.
	mixed := res("a.example.com", "c.example.com")
	mixed.DataFrom = append(mixed.DataFrom, spec.ResolvedDataFrom{Site: "b.example.com", Env: "qa", Schedule: "every 6h", Every: 6 * time.Hour})
	// c, copied 20h ago, next in six days by its weekly; d, copied 10h
	// ago, next in 84 minutes by its own every 12h.
	ownOnly := &spec.Resolved{Environment: "staging", DataFrom: []spec.ResolvedDataFrom{
		{Site: "c.example.com", Env: "qa", Schedule: "weekly", Every: 7 * 24 * time.Hour},
		{Site: "d.example.com", Env: "production", Schedule: "every 12h", Every: 12 * time.Hour},
	}}
	for _, tc := range []struct {
		name string
		res  *spec.Resolved
		want string
	}{
		{name: "none", res: &spec.Resolved{Environment: "staging"}},
		{name: "never copied", res: res("a.example.com", "b.example.com"),
			want: "data_from: berth serve copies the data of a.example.com, b.example.com down from production into staging, daily (each after its own backup, then its sanitize step); next at berth serve's next scheduled pass"},
		{name: "copied", res: res("c.example.com", "d.example.com"),
			want: "data_from: berth serve copies the data of c.example.com, d.example.com down from production into staging, daily (each after its own backup, then its sanitize step); next due 2026-12-02 14:48 UTC"},
		{name: "many", res: res("c.example.com", "d.example.com", "c.example.com", "d.example.com", "c.example.com", "d.example.com"),
			want: "data_from: berth serve copies the data of c.example.com, d.example.com, c.example.com, d.example.com, c.example.com and 1 more down"},
		{name: "no site", res: res(), want: "data_from: no site of environment staging has a source in production; nothing is copied"},
		{name: "sites of their own", res: mixed,
			want: "data_from: berth serve copies the data of a.example.com, c.example.com down from production into staging, daily; of b.example.com down from qa, every 6h (each after its own backup, then its sanitize step); next at berth serve's next scheduled pass"},
		{name: "each on its own clock", res: ownOnly,
			want: "data_from: berth serve copies the data of c.example.com down from qa into staging, weekly; of d.example.com down from production, every 12h (each after its own backup, then its sanitize step); next due 2026-12-02 13:24 UTC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			copied("c.example.com", now.Add(-20*time.Hour))
			copied("d.example.com", now.Add(-10*time.Hour))
			got := dataFromNote(t.Context(), tc.res, store, now)
			if (tc.want == "") != (got == "") || !strings.HasPrefix(got, tc.want) {
				t.Errorf("note:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
