package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/redact"
)

type envStatus struct {
	Env         string     `json:"env"`
	Branch      string     `json:"branch"`
	LastApplied string     `json:"last_applied,omitempty"`
	AppliedAt   *time.Time `json:"applied_at,omitempty"`
	LastRun     string     `json:"last_run,omitempty"`
	Sync        string     `json:"sync"`
	// Why is the first reason the environment as a whole is out of sync
	// (shared resources, a check and reload pending from an interrupted
	// run); sites have their own.
	Why   string       `json:"why,omitempty"`
	Sites []siteStatus `json:"sites"`
}

type siteStatus struct {
	Site  string `json:"site"`
	Sync  string `json:"sync"` // Synced | OutOfSync
	State string `json:"state"`
	Why   string `json:"why,omitempty"`
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f envFlags
	f.register(fs, false)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	observe := fs.Bool("observe", false, "observe the servers (one round trip each) to find drift, instead of comparing with the inventory only")
	server := fs.String("server", "", "ask a running berth serve at this URL (e.g. http://127.0.0.1:8080) instead")
	tokenFile := fs.String("token-file", "", "with --server: file holding the API's read (or operator) token; default $BERTH_API_TOKEN")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: berth status [--env ENV] [--repo DIR] [--observe] [--json]\n\nShows, per environment, the last applied revision and whether each site\nmatches the repo (Synced) or not (OutOfSync). Exit status: %d shown (also\nwhen out of sync), %d error, %d usage error.\n", exitOK, exitError, exitUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stderr); !ok {
		return code
	}
	if *server != "" {
		token := []byte(strings.TrimSpace(os.Getenv("BERTH_API_TOKEN")))
		if *tokenFile != "" {
			t, err := readSecret(*tokenFile)
			if err != nil {
				return exitFor(fmt.Errorf("--token-file: %w", err), "status", stderr)
			}
			token = t
		}
		redact.Add(string(token))
		if err := statusFromServer(*server, token, *asJSON, stdout); err != nil {
			return exitFor(err, "status", stderr)
		}
		return exitOK
	}
	ctx := context.Background()
	repo, _, _, err := loadRepo(f.repo, stderr)
	if err != nil {
		return exitFor(err, "status", stderr)
	}
	envs := []string{f.env}
	if f.env == "" {
		envs = slices.Sorted(maps.Keys(repo.Config.Environments))
	}
	var out []envStatus
	for _, env := range envs {
		ef := f
		ef.env = env
		st, err := status(ctx, &ef, *observe, stderr)
		if err != nil {
			return exitFor(err, "status", stderr)
		}
		out = append(out, *st)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return exitOK
	}
	for _, st := range out {
		applied := "never applied"
		if st.LastApplied != "" {
			applied = fmt.Sprintf("last applied %s at %s", st.LastApplied, st.AppliedAt.Format(time.RFC3339))
		}
		fmt.Fprintf(stdout, "%s (branch %s): %s, %s", st.Env, st.Branch, st.Sync, applied)
		if st.LastRun != "" {
			fmt.Fprintf(stdout, "; last run %s", st.LastRun)
		}
		fmt.Fprintln(stdout)
		if st.Why != "" {
			fmt.Fprintf(stdout, "  %s\n", st.Why)
		}
		for _, s := range st.Sites {
			fmt.Fprintf(stdout, "  %-40s %-10s %-9s %s\n", s.Site, s.Sync, s.State, s.Why)
		}
	}
	return exitOK
}

func status(ctx context.Context, f *envFlags, observe bool, stderr io.Writer) (*envStatus, error) {
	l, err := f.load(stderr)
	if err != nil {
		return nil, err
	}
	store, err := openState(ctx, l.stateDir, true, "berth status", stderr)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	st := &envStatus{Env: f.env, Branch: l.res.Branch, Sync: "Synced"}
	if rev, at, err := store.LastApplied(ctx, f.env); err == nil && rev != "" {
		st.LastApplied, st.AppliedAt = rev, &at
	}
	if runs, err := store.Runs(ctx, f.env, 1); err == nil && len(runs) > 0 {
		st.LastRun = fmt.Sprintf("%d %s", runs[0].ID, runs[0].Result)
	}

	e, d, conn, err := l.engine(ctx, store, f, nil)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	why := map[string]string{} // site -> first reason it is out of sync
	if observe {
		p, err := e.Plan(ctx, d, reconcile.PlanOptions{AllowDeletions: 1 << 30})
		if err != nil {
			return nil, err
		}
		for _, c := range p.Changes {
			if _, seen := why[c.Site]; !seen {
				why[c.Site] = fmt.Sprintf("%c %s", rune(c.Action), c.ID)
			}
		}
		if _, seen := why[""]; !seen && len(p.Pending) > 0 {
			why[""] = p.Pending[0].String()
		}
	} else {
		recs, err := e.Inventory.Records(ctx, f.env)
		if err != nil {
			return nil, err
		}
		pending, err := e.Inventory.PendingReloads(ctx, f.env)
		if err != nil {
			return nil, err
		}
		why = reconcile.Unsynced(d, recs, pending)
	}
	for _, s := range l.res.Sites {
		ss := siteStatus{Site: s.Domain, Sync: "Synced", State: s.State}
		if w, ok := why[s.Domain]; ok {
			ss.Sync, ss.Why = "OutOfSync", w
			st.Sync = "OutOfSync"
		}
		st.Sites = append(st.Sites, ss)
	}
	for _, site := range slices.Sorted(maps.Keys(why)) {
		if site != "" && !slices.ContainsFunc(st.Sites, func(s siteStatus) bool { return s.Site == site }) {
			st.Sites = append(st.Sites, siteStatus{Site: site, Sync: "OutOfSync", State: "deleted", Why: why[site]})
			st.Sync = "OutOfSync"
		}
	}
	slices.SortFunc(st.Sites, func(a, b siteStatus) int { return strings.Compare(a.Site, b.Site) })
	if w, ok := why[""]; ok {
		st.Sync, st.Why = "OutOfSync", w
	}
	return st, nil
}
