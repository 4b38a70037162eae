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
	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/redact"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

type serveFlags struct {
	repo, stateDir, listen, configBranch string
	envs                                 stringList
	poll, drift                          time.Duration
	noSelfHeal, watch                    bool
	webhookSecretFile, apiTokenFile      string
	logLevel, logFormat                  string
	git                                  source.Auth
	keyFiles                             stringList
	knownHosts                           string
}

func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f serveFlags
	fs.StringVar(&f.repo, "repo", ".", "the sites repo: a Git URL (ssh://, git@host:path, https://, file://), a local Git repository, or a plain directory")
	fs.StringVar(&f.stateDir, "state-dir", defaultStateDir(), "berth's state directory; the repo is cloned into it; $BERTH_STATE_DIR")
	fs.StringVar(&f.listen, "listen", "127.0.0.1:8080", "address of the API, webhooks and /metrics")
	fs.Var(&f.envs, "env", "run only this environment (repeatable; default: every environment in berth.yaml)")
	fs.StringVar(&f.configBranch, "config-branch", "main", "branch whose berth.yaml lists the environments")
	fs.DurationVar(&f.poll, "poll", time.Minute, "fetch interval (with ±10% jitter); 0 disables polling")
	fs.DurationVar(&f.drift, "drift-interval", 10*time.Minute, "re-observe the servers this often and converge drift; 0 disables")
	fs.BoolVar(&f.noSelfHeal, "no-self-heal", false, "only report drift found by the drift timer, do not repair it")
	fs.BoolVar(&f.watch, "watch", false, "watch a local --repo and run on every commit (Git) or file change (plain directory)")
	fs.StringVar(&f.webhookSecretFile, "webhook-secret-file", "", "file holding the webhook secret (GitHub/Gitea HMAC key, GitLab and generic token); webhooks are off without it")
	fs.StringVar(&f.apiTokenFile, "api-token-file", "", "file holding the bearer token for POST /api/v1/environments/ENV/reconcile; off without it")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "json, console, or auto (console on a terminal, JSON otherwise)")
	fs.StringVar(&f.git.SSHKeyFile, "git-ssh-key", "", "deploy key for an SSH sites repo and platforms' SSH Git repositories (default: ssh-agent)")
	fs.StringVar(&f.git.KnownHostsFile, "git-known-hosts", "", "known_hosts for the SSH servers of the sites repo and platforms (default ~/.ssh/known_hosts)")
	fs.StringVar(&f.git.TokenFile, "git-token-file", "", "file holding an HTTPS token for the sites repo and platforms' repositories")
	fs.StringVar(&f.git.TokenEnv, "git-token-env", "", "environment variable holding an HTTPS token for the sites repo")
	fs.Var(&f.keyFiles, "ssh-key", "private key file for the servers (repeatable); ssh-agent when $SSH_AUTH_SOCK is set")
	fs.StringVar(&f.knownHosts, "known-hosts", defaultKnownHosts(), "known_hosts file the servers' host keys are checked against")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: berth serve [--repo URL|DIR] [flags]\n\nKeeps every environment of the sites repo converged to its branch: polls,\nreceives webhooks on /hooks/{github,gitlab,gitea,generic}, watches a local\nrepo, repairs drift, and serves /api/v1/status, /api/v1/runs, /healthz,\n/readyz and /metrics. SIGTERM finishes the current step and exits;\nSIGHUP re-reads the secret files.")
		fs.PrintDefaults()
	}
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	log, err := newLogger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "berth serve: %v\n", err)
		return exitUsage
	}
	if err := serve(&f, log); err != nil {
		log.Error().Err(err).Msg("berth serve stopped")
		return 1
	}
	return 0
}

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

func serve(f *serveFlags, log zerolog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	stateDir, err := filepath.Abs(f.stateDir)
	if err != nil {
		return err
	}
	store, err := state.Open(ctx, stateDir, state.Options{Command: "berth serve"})
	if err != nil {
		return err
	}
	defer store.Close()
	src, err := source.Open(ctx, f.repo, filepath.Join(stateDir, "repo.git"), f.git)
	if err != nil {
		return err
	}
	ssh := sshOptions{keyFiles: f.keyFiles, knownHosts: f.knownHosts}
	d, err := daemon.New(daemon.Config{
		Source: daemonSource{src}, Store: store, StateDir: stateDir,
		Hosts: func(res *spec.Resolved) (reconcile.Hosts, func()) {
			c := newConnector(res, ssh)
			return c, c.Close
		},
		Code:         func() reconcile.Code { return newGitCode(stateDir, f.git) },
		ConfigBranch: f.configBranch, Envs: f.envs, Poll: f.poll, Drift: f.drift, SelfHeal: !f.noSelfHeal,
		Logger: log,
	})
	if err != nil {
		return err
	}

	// Secrets, re-read on SIGHUP.
	var token daemon.APIToken
	var hooks atomic.Pointer[http.Handler]
	load := func() error {
		t, err := readSecret(f.apiTokenFile)
		if err != nil {
			return fmt.Errorf("--api-token-file: %w", err)
		}
		secret, err := readSecret(f.webhookSecretFile)
		if err != nil {
			return fmt.Errorf("--webhook-secret-file: %w", err)
		}
		token.Set(t)
		h := webhooks(d, secret)
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
	mux.Handle("/", d.Handler(&token))
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute}
	go srv.Serve(ln)
	log.Info().Str("listen", ln.Addr().String()).Str("repo", f.repo).Str("state_dir", stateDir).Msg("berth serve started")

	if f.watch {
		if st, err := os.Stat(f.repo); err != nil || !st.IsDir() {
			return fmt.Errorf("--watch needs --repo to be a local directory, not %s", f.repo)
		}
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

// webhooks is the /hooks/ tree; every receiver is off without a secret.
func webhooks(d *daemon.Daemon, secret []byte) http.Handler {
	mux := http.NewServeMux()
	push := func(p source.Push) { d.OnPush(p.Provider, p.Branch) }
	mux.Handle("/hooks/github", d.Webhook("github", source.GitHub(secret, push)))
	mux.Handle("/hooks/gitlab", d.Webhook("gitlab", source.GitLab(secret, push)))
	mux.Handle("/hooks/gitea", d.Webhook("gitea", source.Gitea(secret, push)))
	mux.Handle("/hooks/generic", d.Webhook("generic", source.Generic(secret, push)))
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

// statusFromServer prints the status a running berth serve reports.
func statusFromServer(url string, asJSON bool, stdout io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(strings.TrimSuffix(url, "/") + "/api/v1/status")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
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
	}
	return nil
}
