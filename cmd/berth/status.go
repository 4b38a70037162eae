package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/kind/dns"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/redact"
	berthrun "github.com/berthhq/berth/run"
)

// envStatus is what berth status shows of one environment; its sync and
// its sites' come from package run, which derives the daemon's too.
type envStatus struct {
	Env         string     `json:"env"`
	Branch      string     `json:"branch,omitempty"`
	LastApplied string     `json:"last_applied,omitempty"`
	AppliedAt   *time.Time `json:"applied_at,omitempty"`
	LastRun     string     `json:"last_run,omitempty"`
	LastJob     string     `json:"last_job,omitempty"` // the daemon's newest scheduled job (backup, cron)
	Sync        string     `json:"sync"`
	// Health is that of the newest run that applied or failed
	// (berthrun.LastHealth): Healthy, Degraded (HealthWhy says why) or
	// Unknown.
	Health    string `json:"health"`
	HealthWhy string `json:"health_why,omitempty"`
	// Removed: berth.yaml no longer declares the environment, but berth
	// still has resources of it.
	Removed bool `json:"removed,omitempty"`
	// Why is the first reason the environment as a whole is out of sync
	// (shared resources, a check and reload pending from an interrupted
	// run, its removal from berth.yaml); sites have their own.
	Why   string                `json:"why,omitempty"`
	Sites []berthrun.SiteStatus `json:"sites"`
	// Nodes is, with --observe, each site's answer on each of its web
	// servers to an HTTP health check (berthrun.CheckNodes).
	Nodes []berthrun.NodeHealth `json:"nodes,omitempty"`
	// Certificates are the sites' certificates (tls.acme) as the state
	// store holds them.
	Certificates []desired.CertificateLine `json:"certificates,omitempty"`
}

// writeCertificates prints the sites' certificates: expiry, next
// renewal, issuer; or, for one not issued or waiting, the next attempt
// and the last error.
func writeCertificates(w io.Writer, certs []desired.CertificateLine) {
	if len(certs) == 0 {
		return
	}
	fmt.Fprintln(w, "  certificates:")
	for _, c := range certs {
		line := "none issued yet"
		if !c.NotAfter.IsZero() {
			line = fmt.Sprintf("expires %s, renewal from %s, issuer %s", c.NotAfter.UTC().Format(time.RFC3339), c.RenewAt.UTC().Format(time.RFC3339), c.Issuer)
		}
		if !c.Waiting.IsZero() {
			line += "; waiting, next attempt " + c.Waiting.UTC().Format(time.RFC3339)
		}
		if c.LastError != "" {
			line += "; last error: " + c.LastError
		}
		fmt.Fprintf(w, "    %-38s %s\n", c.Site, line)
	}
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f envFlags
	f.register(fs, false)
	asJSON := fs.Bool("json", false, "print the status as JSON")
	observe := fs.Bool("observe", false, "observe the servers (one round trip each) to find drift, instead of comparing with the inventory only, and check each site on each of its web servers over HTTP")
	server := fs.String("server", "", "ask a running berth serve at this URL (e.g. http://127.0.0.1:8080) instead")
	tokenFile := fs.String("token-file", "", "with --server: file holding the API's read (or operator) token; default $BERTH_API_TOKEN")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: berth status [--env ENV] [--repo DIR] [--observe] [--json]\n\nShows, per environment, the last applied revision and whether each site\nmatches the repo (Synced) or not (OutOfSync), and the health of the last\nrun that applied (Healthy; Degraded when it failed or left something short\nof the repo, such as a DNS secondary that lags; Unknown). Exit status: %d shown (also\nwhen out of sync), %d error, %d usage error.\n", exitOK, exitError, exitUsage)
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
		// And those berth.yaml no longer declares that still have
		// resources on the servers.
		orphans, err := orphanEnvs(ctx, f.stateDir, envs, stderr)
		if err != nil {
			return exitFor(err, "status", stderr)
		}
		envs = append(envs, orphans...)
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
		branch := "branch " + st.Branch
		if st.Removed {
			branch = "removed from berth.yaml"
		}
		fmt.Fprintf(stdout, "%s (%s): %s, %s, %s", st.Env, branch, st.Sync, st.Health, applied)
		if st.LastRun != "" {
			fmt.Fprintf(stdout, "; last run %s", st.LastRun)
		}
		if st.LastJob != "" {
			fmt.Fprintf(stdout, "; last job %s", st.LastJob)
		}
		fmt.Fprintln(stdout)
		if st.Why != "" {
			fmt.Fprintf(stdout, "  %s\n", st.Why)
		}
		if st.HealthWhy != "" && st.HealthWhy != st.Why {
			fmt.Fprintf(stdout, "  %s\n", st.HealthWhy)
		}
		for _, s := range st.Sites {
			fmt.Fprintf(stdout, "  %-40s %-10s %-9s %s\n", s.Site, s.Sync, s.State, s.Message)
			for _, n := range st.Nodes {
				if n.Site == s.Site {
					fmt.Fprintf(stdout, "    %s\n", nodeLine(n))
				}
			}
		}
		writeCertificates(stdout, st.Certificates)
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
	st.Health = berthrun.HealthUnknown
	if runs, err := store.Runs(ctx, f.env, 50); err == nil && len(runs) > 0 {
		for _, r := range runs {
			switch {
			case r.IsJob() && st.LastJob == "":
				st.LastJob = fmt.Sprintf("%d %s %s", r.ID, r.Trigger, r.Result)
			case !r.IsJob() && st.LastRun == "":
				st.LastRun = fmt.Sprintf("%d %s", r.ID, r.Result)
			}
		}
		st.Health, st.HealthWhy = berthrun.LastHealth(runs)
	}

	prepared, conn, err := l.prepare(ctx, store, f, nil)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var why map[string]string // site ("" the environment) -> first reason it is out of sync
	if observe {
		p, err := prepared.Plan(ctx, reconcile.PlanOptions{AllowDeletions: 1 << 30, Allow: []string{dns.AllowChanges}})
		if err != nil {
			return nil, err
		}
		why = berthrun.Differences(p)
		berthrun.WithReasons(p, why)
		st.Nodes = berthrun.CheckNodes(ctx, l.res)
	} else if why, err = prepared.Unsynced(ctx); err != nil {
		return nil, err
	}
	var declared []string
	states := map[string]string{}
	for _, s := range l.res.Sites {
		declared = append(declared, s.Domain)
		states[s.Domain] = s.State
	}
	derived := berthrun.FromDifferences(declared, why)
	st.Sync, st.Why, st.Sites = derived.Sync, derived.Why, derived.Sites
	for i := range st.Sites {
		if s := &st.Sites[i]; s.State == "" {
			s.State = states[s.Site]
		}
	}
	if st.Certificates, err = desired.Certificates(ctx, store, l.res); err != nil {
		return nil, err
	}
	if l.removed {
		st.Removed, st.Sync = true, berthrun.OutOfSync
		if inv, ok, err := berthrun.Recorded(ctx, store, f.env); err == nil && ok {
			st.Why = berthrun.OrphanMessage(inv)
		}
	}
	return st, nil
}

// nodeLine is one site's health on one web server, for people.
func nodeLine(n berthrun.NodeHealth) string {
	line := fmt.Sprintf("%-20s %-22s %s", n.Server, n.Address, n.Health)
	if n.Status != 0 {
		line += fmt.Sprintf(" %d", n.Status)
	}
	if n.Drained {
		line += " (drained)"
	}
	if n.Why != "" {
		line += ": " + n.Why
	}
	return line
}

// orphanEnvs returns the environments of the state directory's inventory
// that are not among declared.
func orphanEnvs(ctx context.Context, stateDir string, declared []string, stderr io.Writer) ([]string, error) {
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	store, err := openState(ctx, dir, true, "berth status", stderr)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	orphans, err := berthrun.Orphans(ctx, store, declared)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, o := range orphans {
		out = append(out, o.Env)
	}
	return out, nil
}
