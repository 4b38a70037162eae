package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/kind/dns"
	"github.com/berthhq/berth/reconcile"
	berthrun "github.com/berthhq/berth/run"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
	"github.com/berthhq/berth/state"
)

// envFlags are the flags plan, apply and status share.
type envFlags struct {
	env      string
	repo     string
	stateDir string
	// configBranch is the branch whose berth.yaml says which
	// environments give their data to which (data_to), in a Git repo.
	configBranch string
	keyFiles     stringList
	knownHosts   string
	adopt        bool
	allowDel     int
	allowDNS     bool
	fullDiff     bool
	wait         time.Duration // bound on waiting for the state dir's lock (registerWait)
	git          source.Auth   // for platforms whose source is git
	// A Git sites repo (repo.go): the commit to read instead of the
	// environment's branch head, and whether apply may.
	rev           string
	allowOtherRev bool
	// tls is the controller's configuration of certificate ordering.
	tls berthrun.TLS
}

// planOptions are the engine's options from the flags.
func (f *envFlags) planOptions() reconcile.PlanOptions {
	o := reconcile.PlanOptions{Adopt: f.adopt, AllowDeletions: f.allowDel, MaxCreateDiffs: 50}
	if f.allowDNS {
		o.Allow = append(o.Allow, dns.AllowChanges)
	}
	if f.fullDiff {
		o.MaxCreateDiffs = 0
	}
	return o
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func (f *envFlags) register(fs *flag.FlagSet, needEnv bool) {
	usage := "environment to act on (as named in berth.yaml)"
	if !needEnv {
		usage += "; default: every environment"
	}
	fs.StringVar(&f.env, "env", "", usage)
	fs.StringVar(&f.repo, "repo", ".", "the sites repo directory")
	fs.StringVar(&f.configBranch, "config-branch", configBranch, "in a Git repo, the branch whose berth.yaml says which environments give their data to which (data_to), as berth serve's flag")
	fs.StringVar(&f.stateDir, "state-dir", defaultStateDir(), "berth's state directory (inventory, runs, secrets; relative paths of local servers live here); $BERTH_STATE_DIR")
	fs.Var(&f.keyFiles, "ssh-key", "private key file for SSH (repeatable); ssh-agent is used when $SSH_AUTH_SOCK is set")
	fs.StringVar(&f.knownHosts, "known-hosts", defaultKnownHosts(), "known_hosts file SSH host keys are checked against")
	fs.StringVar(&f.git.SSHKeyFile, "git-ssh-key", "", "deploy key for platforms' SSH Git repositories (default: ssh-agent)")
	fs.StringVar(&f.git.KnownHostsFile, "git-known-hosts", "", "known_hosts for platforms' Git servers (default ~/.ssh/known_hosts)")
	fs.StringVar(&f.git.TokenFile, "git-token-file", "", "file holding an HTTPS token for platforms' Git repositories")
	registerTLS(fs, &f.tls)
}

// certClock is the clock of the certificates' decisions; nil, berth's
// own, is time.Now. Only the end-to-end tests set it (TestMain, in the
// test binary that stands in for berth serve), to move a running daemon
// past the CA's renewal-information poll interval (acme.ARIPoll, hours)
// without waiting for it.
var certClock func() time.Time

// migrationClock is the clock of the migrations' grace periods; nil is
// time.Now. Only the end-to-end tests set it, to run past a grace period.
var migrationClock func() time.Time

// registerTLS registers the controller's certificate flags: the trust
// roots of a private ACME CA and the pre-checks' resolver (never the
// repo's to choose).
func registerTLS(fs *flag.FlagSet, t *berthrun.TLS) {
	t.Now = certClock
	fs.StringVar(&t.CARootFile, "acme-ca-root", os.Getenv("BERTH_ACME_CA_ROOT"), "PEM file of the roots trusted for the ACME directory's HTTPS, for a private CA (Pebble); default: the system's roots; $BERTH_ACME_CA_ROOT")
	fs.StringVar(&t.Resolver, "resolver", os.Getenv("BERTH_RESOLVER"), "DNS server (IP:port) the certificate pre-checks ask where the sites' names point; default: the system's resolver; $BERTH_RESOLVER")
}

func (f *envFlags) registerPlan(fs *flag.FlagSet) {
	fs.BoolVar(&f.adopt, "adopt", false, "take over files berth did not create instead of reporting them as conflicts")
	fs.IntVar(&f.allowDel, "allow-deletions", 0, "allow this run to delete up to N sites, above policy.max_deletions")
	fs.BoolVar(&f.allowDNS, "allow-dns-changes", false, "allow this run to change more of a zone's records than the DNS safety threshold (30 % of a zone of 10 records or more) or its apex NS set")
	fs.BoolVar(&f.fullDiff, "full-diff", false, "keep and print the diff of every change, however many (default: the first 50 of new files)")
}

// loaded is a validated repo resolved for one environment. The decoded
// repo itself is not kept: at 10,000 sites its positions weigh more than
// the resolved state.
type loaded struct {
	fsys     fs.FS
	res      *spec.Resolved
	revision string
	stateDir string
	git      *gitPick // nil for a plain directory
	// removed: berth.yaml of the revision does not declare the
	// environment; res is then spec.ResolveRemoved's (nothing, on every
	// server of the repo) and unknown is Resolve's error, returned when
	// berth recorded nothing of the environment either.
	removed bool
	unknown error
}

// load reads and validates the repo and resolves f.env. A repo with
// problems prints them (file:line:column) and returns errInvalid.
func (f *envFlags) load(stderr io.Writer) (*loaded, error) {
	if f.env == "" {
		return nil, usageError("--env is required")
	}
	if isGitRepo(f.repo) {
		return f.loadGit(stderr)
	}
	if f.rev != "" {
		return nil, usageError(fmt.Sprintf("--rev needs a Git repository; %s is a plain directory (not the top of a Git work tree)", f.repo))
	}
	repo, fsys, rev, err := loadRepo(f.repo, stderr)
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(f.stateDir)
	if err != nil {
		return nil, err
	}
	l := &loaded{fsys: fsys, revision: rev, stateDir: dir}
	if err := l.resolve(repo, f.env); err != nil {
		return nil, err
	}
	if l.removed {
		fmt.Fprintf(stderr, "berth: %s is not declared in berth.yaml of %s: what berth recorded of it is planned for removal (berth apply --env %s removes it)\n", f.env, rev, f.env)
	}
	return l, nil
}

// resolve resolves env of repo into l; an environment repo does not
// declare resolves to its removal (spec.ResolveRemoved): see package run.
func (l *loaded) resolve(repo *spec.Repo, env string) error {
	res, err := spec.Resolve(repo, env)
	if errors.Is(err, spec.ErrUnknownEnvironment) {
		removed, rerr := spec.ResolveRemoved(repo, env)
		if rerr != nil {
			return err
		}
		l.res, l.removed, l.unknown = removed, true, err
		return nil
	}
	l.res = res
	return err
}

// errInvalid is returned after the problems of an invalid repo were printed.
var errInvalid = errors.New("the sites repo is not valid; nothing was changed")

type usageError string

func (u usageError) Error() string { return string(u) }

// isGitRepo tells whether --repo dir is read from Git (see repo.go).
func isGitRepo(dir string) bool {
	st, err := os.Stat(dir)
	return err == nil && st.IsDir() && source.IsGitRepo(dir)
}

// loadRepo reads and validates the repo in dir: for a Git repository, the
// commit checked out (see repo.go), else the directory as it is.
func loadRepo(dir string, stderr io.Writer) (*spec.Repo, fs.FS, string, error) {
	if isGitRepo(dir) {
		lr, err := source.OpenLocal(dir)
		if err != nil {
			return nil, nil, "", err
		}
		rev, _, err := lr.Checkout()
		if err != nil {
			return nil, nil, "", usageError(err.Error())
		}
		repo, fsys, err := loadCommit(lr, rev, stderr)
		return repo, fsys, rev.Hash, err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, nil, "", usageError(fmt.Sprintf("%s is not a directory", dir))
	}
	// The repo is read confined to dir: links that leave it, pipes and
	// devices are refused (see source.DirFS).
	fsys, err := source.OpenDirFS(dir)
	if err != nil {
		return nil, nil, "", usageError(err.Error())
	}
	repo, err := loadFS(fsys, stderr)
	if err != nil {
		return nil, nil, "", err
	}
	// A plain directory's revision is a hash of its spec files; a Git
	// repository's is the commit's hash (repo.go).
	return repo, fsys, "dir:" + repo.Digest[:12], nil
}

// loadFS reads and validates the repo in fsys; its problems are printed.
func loadFS(fsys fs.FS, stderr io.Writer) (*spec.Repo, error) {
	repo, err := spec.Load(fsys)
	var problems spec.Problems
	if err != nil && !errors.As(err, &problems) {
		return nil, err
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		return nil, errInvalid
	}
	return repo, nil
}

// prepare builds the desired state of the loaded revision and the engine
// over the state store through run.Prepare, as the daemon does
// (daemon/env.go); the connector is the caller's to close. A removed
// environment berth recorded nothing of is the unknown environment it is.
func (l *loaded) prepare(ctx context.Context, store *state.Store, f *envFlags, hook reconcile.Hook) (*berthrun.Prepared, *connector, error) {
	conn := newConnector(l.res, sshOptions{keyFiles: f.keyFiles, knownHosts: f.knownHosts})
	p, err := berthrun.Prepare(ctx, berthrun.Input{Input: l.input(store, f, conn), Removed: l.removed, Hook: hook, TLS: f.tls})
	if err != nil {
		conn.Close()
		if errors.Is(err, berthrun.ErrNothingRecorded) && l.unknown != nil {
			return nil, nil, l.unknown
		}
		return nil, nil, err
	}
	return p, conn, nil
}

// input is what desired.Prepare builds the loaded revision from.
func (l *loaded) input(store *state.Store, f *envFlags, hosts reconcile.Hosts) desired.Input {
	return desired.Input{Resolved: l.res, Revision: l.revision, Repo: l.fsys, StateDir: l.stateDir,
		Store: store, Code: newGitCode(l.stateDir, f.git), Hosts: hosts, Version: version, Now: migrationClock,
		DataConsent: l.dataConsent(f)}
}

// configBranch is the default of --config-branch: the branch whose
// berth.yaml says which environments may copy another's data (data_to),
// as berth serve's --config-branch.
const configBranch = "main"

// dataConsent reads whether an environment gives its data to another
// (desired.ConfigConsent) from berth.yaml on the config branch of a Git
// repo — never from the revision planned, which asks for the data — or
// from a plain directory's berth.yaml (one revision for every
// environment).
func (l *loaded) dataConsent(f *envFlags) desired.DataConsent {
	if l.git == nil {
		return desired.ConfigConsent("the repo's berth.yaml", func(context.Context) (*spec.Config, error) { return spec.LoadConfig(l.fsys) })
	}
	branch := cmp.Or(f.configBranch, configBranch)
	return desired.ConfigConsent("branch "+branch, func(context.Context) (*spec.Config, error) {
		lr, err := source.OpenLocal(f.repo)
		if err != nil {
			return nil, err
		}
		head, err := lr.Branch(branch)
		if err != nil {
			return nil, err
		}
		fsys, err := lr.FS(head)
		if err != nil {
			return nil, err
		}
		return spec.LoadConfig(fsys)
	})
}

// openState opens the state store; read-only when nothing will be written.
func openState(ctx context.Context, dir string, readOnly bool, command string, stderr io.Writer) (*state.Store, error) {
	if readOnly {
		if _, err := os.Stat(filepath.Join(dir, "berth.db")); errors.Is(err, fs.ErrNotExist) {
			// Nothing applied yet: an empty store answers like a fresh one.
			readOnly = false
		}
	}
	if readOnly {
		// Takes no lock, so it neither waits for nor blocks berth serve.
		return state.Open(ctx, dir, state.Options{ReadOnly: true})
	}
	return openLocked(ctx, dir, defaultWait, command, "", stderr)
}

// exitFor prints an error of plan/apply/status and returns its exit
// status: exitUsage for a wrong command line (a usageError, an environment
// or a site the repo does not have), exitError for anything else.
func exitFor(err error, cmd string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "berth %s: %v\n", cmd, err)
	var u usageError
	if errors.As(err, &u) || errors.Is(err, spec.ErrUnknownEnvironment) || errors.Is(err, desired.ErrNoSite) {
		return exitUsage
	}
	return exitError
}
