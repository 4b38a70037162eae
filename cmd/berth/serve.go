package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/berthhq/berth/daemon"
	"github.com/berthhq/berth/dashboard"
	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/notify"
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/redact"
	berthrun "github.com/berthhq/berth/run"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

type serveFlags struct {
	repo, stateDir, listen, configBranch, notifyFile string
	envs                                             stringList
	poll, drift, schedule, health                    time.Duration
	forge                                            forgeFlags
	publicURL                                        string
	noSelfHeal, watch                                bool
	webhookSecretFile                                string
	hooks                                            hookFiles
	apiTokenFile, apiReadTokenFile                   string
	metricsPublic                                    bool
	logLevel, logFormat                              string
	git                                              source.Auth
	keyFiles                                         stringList
	knownHosts                                       string
	tls                                              berthrun.TLS
}

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	fs.StringVar(&f.repo, "repo", ".", "the sites repo: a Git URL (ssh://, git@host:path, https://, file://), a local Git repository, or a plain directory")
	fs.StringVar(&f.stateDir, "state-dir", defaultStateDir(), "berth's state directory; the repo is cloned into it; $BERTH_STATE_DIR")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address of the API, webhooks and /metrics")
	registerTLS(fs, &f.tls)
	fs.Var(&f.envs, "env", "run only this environment (repeatable; default: every environment in berth.yaml)")
	fs.StringVar(&f.configBranch, "config-branch", "main", "branch whose berth.yaml lists the environments")
	fs.DurationVar(&f.poll, "poll", time.Minute, "fetch interval (with ±10% jitter); 0 disables polling")
	fs.DurationVar(&f.drift, "drift-interval", 10*time.Minute, "re-observe the servers this often and converge drift; 0 disables")
	fs.StringVar(&f.notifyFile, "notify-file", "", "outgoing webhooks to notify of state changes, one \"NAME generic|slack URL\" per line (a secret file: the URLs are credentials); berth.yaml's notifications add theirs")
	fs.DurationVar(&f.health, "health-interval", time.Minute, "check every site on each of its web servers over HTTP this often (and after each run that changed something): status, dashboard, berth_site_up, site-down/site-up notifications; 0 disables")
	fs.DurationVar(&f.schedule, "schedule-interval", 5*time.Minute, "look this often for scheduled jobs that are due (sites' backup.schedule); 0 disables")
	fs.BoolVar(&f.noSelfHeal, "no-self-heal", false, "only report drift found by the drift timer, do not repair it")
	fs.BoolVar(&f.watch, "watch", false, "watch a local --repo and run on every commit (Git) or file change (plain directory)")
	fs.StringVar(&f.webhookSecretFile, "webhook-secret-file", "", "refused: one secret for every receiver lets a GitLab token forge GitHub signatures; use the per-receiver flags")
	fs.StringVar(&f.hooks.github, "github-secret-file", "", "file holding the HMAC key of /hooks/github; that receiver is off without it")
	f.forge.register(fs)
	fs.StringVar(&f.publicURL, "public-url", "", "the address the dashboard is reached at by the forge's users (e.g. https://berth.example.com): commit statuses link to the runs there")
	fs.StringVar(&f.hooks.gitea, "gitea-secret-file", "", "file holding the HMAC key of /hooks/gitea (Gitea, Forgejo); that receiver is off without it")
	fs.StringVar(&f.hooks.gitlab, "gitlab-token-file", "", "file holding the token of /hooks/gitlab; that receiver is off without it")
	fs.StringVar(&f.hooks.generic, "generic-token-file", "", "file holding the bearer token of /hooks/generic; that receiver is off without it")
	fs.StringVar(&f.apiTokenFile, "api-token-file", "", "file holding the operator's bearer token: reads the API and starts runs (POST /api/v1/environments/ENV/reconcile)")
	fs.StringVar(&f.apiReadTokenFile, "api-read-token-file", "", "file holding a bearer token that may only read /api/v1/status, /api/v1/runs and /metrics")
	fs.BoolVar(&f.metricsPublic, "metrics-public", false, "serve /metrics without a token (default: the read or operator token is needed)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "json, console, or auto (console on a terminal, JSON otherwise)")
	fs.StringVar(&f.git.SSHKeyFile, "git-ssh-key", "", "deploy key for an SSH sites repo and platforms' SSH Git repositories (default: ssh-agent)")
	fs.StringVar(&f.git.KnownHostsFile, "git-known-hosts", "", "known_hosts for the SSH servers of the sites repo and platforms (default ~/.ssh/known_hosts)")
	fs.StringVar(&f.git.TokenFile, "git-token-file", "", "file holding an HTTPS token for the sites repo and platforms' repositories")
	fs.StringVar(&f.git.TokenEnv, "git-token-env", "", "environment variable holding an HTTPS token for the sites repo")
	fs.Var(&f.keyFiles, "ssh-key", "private key file for the servers (repeatable); ssh-agent when $SSH_AUTH_SOCK is set")
	fs.StringVar(&f.knownHosts, "known-hosts", defaultKnownHosts(), "known_hosts file the servers' host keys are checked against")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: berth serve [--repo URL|DIR] [flags]\n\nKeeps every environment of the sites repo converged to its branch: polls,\nreceives webhooks on /hooks/{github,gitlab,gitea,generic}, watches a local\nrepo, repairs drift, takes the scheduled backups that are due, and serves /api/v1/status, /api/v1/runs, /healthz,\n/readyz and /metrics. SIGTERM finishes the current step and exits;\nSIGHUP re-reads the secret files.")
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stderr); !ok {
		return code
	}
	if f.watch {
		if st, err := os.Stat(f.repo); err != nil || !st.IsDir() {
			fmt.Fprintf(stderr, "berth serve: --watch needs --repo to be a local directory, not %s\n", f.repo)
			return exitUsage
		}
	}
	if f.webhookSecretFile != "" {
		fmt.Fprintln(stderr, "berth serve: --webhook-secret-file is no longer accepted: with one secret for every receiver, whoever sees a GitLab or generic token (sent in clear in a header) can sign GitHub and Gitea deliveries. Give each receiver its own secret: --github-secret-file, --gitea-secret-file, --gitlab-token-file, --generic-token-file (and the same in each forge's webhook settings).")
		return exitUsage
	}
	log, err := newLogger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "berth serve: %v\n", err)
		return exitUsage
	}
	if err := serve(&f, log); err != nil {
		log.Error().Err(err).Msg("berth serve stopped")
		return exitError
	}
	return exitOK
}

// newLogger returns the logger writing to w. w is the command's standard
// error, which run has made a redacting writer (package redact): no log
// line leaves with a secret the process knows.
func newLogger(level, format string, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	switch format {
	case "console":
	case "auto":
		if !isTerminal(w) {
			format = "json"
		}
	case "json":
	default:
		return zerolog.Logger{}, fmt.Errorf("--log-format %q: want json, console or auto", format)
	}
	if format != "json" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// readSecret reads a secret file; "" reads nothing. Surrounding white space
// is dropped. The secret is registered with package redact, so it is never
// logged, recorded or answered.
func readSecret(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	b = bytes.TrimSpace(b)
	redact.Add(string(b))
	return b, nil
}

// registerGitToken registers the HTTPS Git token with package redact when
// the command starts, before anything could print it. A file that cannot
// be read is reported where the token is used.
func registerGitToken(a source.Auth) {
	if a.TokenFile != "" {
		if b, err := os.ReadFile(a.TokenFile); err == nil {
			redact.Add(strings.TrimSpace(string(b)))
		}
	}
	if a.TokenEnv != "" {
		redact.Add(strings.TrimSpace(os.Getenv(a.TokenEnv)))
	}
}

func serve(f *serveFlags, log zerolog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	registerGitToken(f.git)
	stateDir, err := filepath.Abs(f.stateDir)
	if err != nil {
		return err
	}
	store, err := state.Open(ctx, stateDir, state.Options{Command: "berth serve", API: f.listen})
	if err != nil {
		return err
	}
	defer store.Close()
	src, err := source.Open(ctx, f.repo, filepath.Join(stateDir, "repo.git"), f.git)
	if err != nil {
		return err
	}
	cfg := daemonConfig(f, src, store, stateDir, log)
	// The notifier runs always: berth.yaml's notifications add their
	// webhooks to --notify-file's as each revision is read.
	n, err := notifier(f.notifyFile, log)
	if err != nil {
		return err
	}
	go n.Run(ctx)
	cfg.Notifier = n
	if f.forge.set() {
		g, err := f.forge.open()
		if err != nil {
			return fmt.Errorf("commit statuses: %w", err)
		}
		cfg.Statuses, cfg.PublicURL = g, f.publicURL
	}
	d, err := daemon.New(cfg)
	if err != nil {
		return err
	}

	// Secrets, re-read on SIGHUP. The replay memory outlives a reload.
	var access daemon.Access
	var hooks atomic.Pointer[http.Handler]
	seen := source.NewDeliveries(source.DeliveryWindow, source.MaxDeliveries)
	push := func(p source.Push) int { return d.OnPush(p.Provider, p.Branch) }
	load := func() error {
		op, err := readSecret(f.apiTokenFile)
		if err != nil {
			return fmt.Errorf("--api-token-file: %w", err)
		}
		rd, err := readSecret(f.apiReadTokenFile)
		if err != nil {
			return fmt.Errorf("--api-read-token-file: %w", err)
		}
		secrets, err := f.hooks.read()
		if err != nil {
			return err
		}
		access.Set(op, rd, f.metricsPublic)
		h := webhooks(secrets, seen, push, d.Webhook)
		hooks.Store(&h)
		return nil
	}
	if err := load(); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := load(); err != nil {
				log.Error().Err(err).Msg("SIGHUP: configuration not reloaded; the previous one stays")
				continue
			}
			log.Info().Msg("SIGHUP: secret files re-read")
		}
	}()

	mux := http.NewServeMux()
	mux.Handle("/hooks/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*hooks.Load()).ServeHTTP(w, r) }))
	access.UseStore(store)
	mux.Handle("/", d.Handler(&access))
	mux.Handle("/ui/", dashboard.New(dashboard.Config{Source: d, Runs: store, Tokens: &access, Logger: log}).Handler())
	mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusSeeOther))
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	go srv.Serve(ln)
	log.Info().Str("listen", ln.Addr().String()).Str("repo", f.repo).Str("state_dir", stateDir).Msg("berth serve started")

	if f.watch { // runServe checked that f.repo is a directory
		go func() {
			err := source.Watch(ctx, f.repo, func() { d.TriggerAll(daemon.ReasonWatch) })
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error().Err(err).Msg("watch stopped")
			}
		}()
	}

	runErr := d.Run(ctx) // returns when ctx ends and every worker finished its step
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	log.Info().Msg("berth serve stopped")
	return runErr
}

// daemonConfig is the daemon's configuration from the flags: its servers
// are reached, its git platforms resolved and its backups stamped as berth
// plan and apply do theirs (envflags.go).
func daemonConfig(f *serveFlags, src source.Source, store *state.Store, stateDir string, log zerolog.Logger) daemon.Config {
	ssh := sshOptions{keyFiles: f.keyFiles, knownHosts: f.knownHosts}
	// The local host's file hashes, reused by drift checks while the
	// files show no change (local.HashCache says when), for the daemon's life.
	hashes := local.NewHashCache()
	return daemon.Config{
		Source: daemonSource{src}, Store: store, StateDir: stateDir,
		Hosts: func(res *spec.Resolved) (reconcile.Hosts, func()) {
			c := newConnector(res, ssh)
			c.hashes = hashes
			return c, c.Close
		},
		Code:         func() desired.Code { return newGitCode(stateDir, f.git) },
		Version:      version,
		ConfigBranch: f.configBranch, Envs: f.envs, Poll: f.poll, Drift: f.drift, Schedule: f.schedule, Health: f.health, SelfHeal: !f.noSelfHeal,
		Logger: log, TLS: f.tls,
	}
}

// notifier reads the notification targets of --notify-file, when given
// (each URL is registered as a secret), and logs the messages a target
// did not take; the daemon adds berth.yaml's targets to it.
func notifier(path string, log zerolog.Logger) (*notify.Notifier, error) {
	var targets []notify.Target
	if path != "" {
		file, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--notify-file: %w", err)
		}
		defer file.Close()
		targets, err = notify.ParseTargets(file)
		if err != nil {
			return nil, fmt.Errorf("--notify-file %s: %w", path, err)
		}
	}
	n := notify.New(targets, nil)
	n.Failed = func(t notify.Target, m notify.Message, err error) {
		log.Error().Err(err).Str("target", t.Name).Str("event", m.Event).Str("env", m.Env).Msg("notification not delivered")
	}
	return n, nil
}

// hookFiles are the secret files of the webhook receivers, one each.
type hookFiles struct{ github, gitea, gitlab, generic string }

// hookSecrets are the receivers' secrets; an empty one disables its
// receiver only.
type hookSecrets struct{ github, gitea, gitlab, generic []byte }

func (h hookFiles) read() (hookSecrets, error) {
	var s hookSecrets
	for _, f := range []struct {
		flag, path string
		dst        *[]byte
	}{
		{"--github-secret-file", h.github, &s.github},
		{"--gitea-secret-file", h.gitea, &s.gitea},
		{"--gitlab-token-file", h.gitlab, &s.gitlab},
		{"--generic-token-file", h.generic, &s.generic},
	} {
		b, err := readSecret(f.path)
		if err != nil {
			return s, fmt.Errorf("%s: %w", f.flag, err)
		}
		*f.dst = b
	}
	return s, nil
}

// webhooks is the /hooks/ tree: each receiver with its own secret (off
// without one), all sharing the replay memory seen; wrap counts requests.
func webhooks(s hookSecrets, seen *source.Deliveries, push func(source.Push) int, wrap func(string, http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/hooks/github", wrap("github", source.GitHub(s.github, push, seen)))
	mux.Handle("/hooks/gitlab", wrap("gitlab", source.GitLab(s.gitlab, push, seen)))
	mux.Handle("/hooks/gitea", wrap("gitea", source.Gitea(s.gitea, push, seen)))
	mux.Handle("/hooks/generic", wrap("generic", source.Generic(s.generic, push, seen)))
	return mux
}

// daemonSource adapts a source.Source to the daemon's string revisions.
type daemonSource struct{ s source.Source }

func (a daemonSource) Fetch(ctx context.Context) error { return a.s.Fetch(ctx) }

func (a daemonSource) Head(branch string) (string, error) {
	r, err := a.s.Head(branch)
	return r.Hash, err
}

func (a daemonSource) FS(rev string) (fs.FS, error) { return a.s.FS(source.Revision{Hash: rev}) }

// statusFromServer prints the status a running berth serve reports,
// asking with the bearer token (read or operator).
func statusFromServer(url string, token []byte, asJSON bool, stdout io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, strings.TrimSuffix(url, "/")+"/api/v1/status", nil)
	if err != nil {
		return err
	}
	if len(token) > 0 {
		req.Header.Set("Authorization", "Bearer "+string(token))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusUnauthorized && len(token) == 0 {
		return fmt.Errorf("%s answered %s: give its read or operator token with --token-file or $BERTH_API_TOKEN", url, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", url, resp.Status, bytes.TrimSpace(body))
	}
	if asJSON {
		_, err = stdout.Write(body)
		return err
	}
	var st struct{ Environments []daemon.EnvStatus }
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("%s: not a berth status answer: %w", url, err)
	}
	for _, e := range st.Environments {
		fmt.Fprintf(stdout, "%s (branch %s): %s, %s; applied %s, fetched %s\n", e.Env, e.Branch, e.Phase, e.Health, reconcile.ShortRevision(e.LastApplied), reconcile.ShortRevision(e.LastFetched))
		if e.Message != "" {
			fmt.Fprintf(stdout, "  %s\n", e.Message)
		}
		for _, p := range e.Problems {
			fmt.Fprintf(stdout, "  %s\n", p)
		}
		if r := e.LastRun; r != nil {
			fmt.Fprintf(stdout, "  last run %d (%s): %s\n", r.ID, r.Trigger, r.Result)
		}
		for _, s := range e.Sites {
			fmt.Fprintf(stdout, "  %-40s %-10s %s %s\n", s.Site, s.Sync, s.Health, s.Message)
		}
		writeCertificates(stdout, e.Certificates)
	}
	return nil
}
