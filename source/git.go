package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/skeema/knownhosts"
	"golang.org/x/crypto/ssh"

	"github.com/berthhq/berth/redact"
)

// Auth holds the credentials for a remote sites repo. The zero value uses
// none (file://, local paths, public https://, git://).
type Auth struct {
	// SSHKeyFile is the private key (no passphrase) for ssh:// and
	// user@host:path URLs. Empty: the keys of the running ssh-agent
	// (SSH_AUTH_SOCK).
	SSHKeyFile string
	// KnownHostsFile holds the server's host key; the connection is refused
	// when the key is missing or differs. Empty: $SSH_KNOWN_HOSTS, else
	// ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts.
	KnownHostsFile string

	// TokenFile is a file holding an HTTPS access token (surrounding white
	// space is ignored), read at every Fetch so a rotated token is picked up
	// without a restart.
	TokenFile string
	// TokenEnv names an environment variable holding the token, when
	// TokenFile is empty.
	TokenEnv string
	// TokenUser is the user name sent with the token (HTTP basic auth).
	// Empty: the URL's user, else "x-access-token" (GitHub, Gitea and
	// Forgejo accept any name; GitLab wants "oauth2" for OAuth tokens).
	TokenUser string
	// CAFile is a PEM bundle trusted, besides the system's roots, for an
	// https:// server with a private CA.
	CAFile string
}

// Git is a sites repo followed through Git: cloned bare once into a
// directory berth owns, then fetched. Every branch of the origin is fetched
// (to refs/remotes/origin/*); tags are not. The spec of a revision is read
// straight from the object store (FS), never from a checked-out work tree.
//
// A Git is safe for concurrent use. Fetch calls are serialised; Head and FS
// never wait for a Fetch in progress: they see the state of the last
// completed one.
type Git struct {
	url  string // as given, for messages (credentials redacted)
	dir  string
	ep   *transport.Endpoint
	auth Auth

	fetchMu sync.Mutex      // serialises Fetch; held across network I/O
	repo    *git.Repository // the handle Fetch writes through; only under fetchMu

	mu    sync.RWMutex
	heads map[string]Revision // branch -> revision, as of the last Fetch
	store *objectStore        // read handle, replaced after a Fetch brings objects
}

// Every branch of origin goes into a remote-tracking ref of the bare clone.
// The clone's config records the forced refspec, as git clone --mirror
// would; Fetch passes it without "+" and sets Force instead, because go-git
// prunes with the reversed refspec and, for "+src:dst", looks up "+src":
// every fetch would delete and rewrite every ref.
const (
	remoteName   = "origin"
	remotePrefix = "refs/remotes/origin/"
	fetchSpec    = "+refs/heads/*:refs/remotes/origin/*"
	pruneSafe    = "refs/heads/*:refs/remotes/origin/*"
)

// OpenGit opens the clone of url in dir, or clones url into dir (a bare
// repository, created with its parents) when dir does not hold one yet, so
// OpenGit needs the network only the first time: later it serves the
// branches fetched before, and the caller calls Fetch for news.
//
// url is ssh://[user@]host[:port]/path, user@host:path, https://…,
// http://… (no token), git://…, file:///path, or a local path to a
// repository, bare or not (local paths and file:// run the git binary's
// git-upload-pack, as Git itself does). When dir holds a clone of another
// URL, its origin is re-pointed to url.
//
// A first clone that fails leaves no directory behind.
func OpenGit(ctx context.Context, url, dir string, auth Auth) (*Git, error) {
	ep, err := endpoint(url)
	if err != nil {
		return nil, err
	}
	if err := checkAuth(ep, auth); err != nil {
		return nil, err
	}
	g := &Git{url: ep.String(), dir: dir, ep: ep, auth: auth}
	if ep.Protocol == "file" {
		g.url = ep.Path
	}
	fresh := false
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); errors.Is(err, fs.ErrNotExist) {
		if err := g.clone(ctx); err != nil {
			return nil, err
		}
		fresh = true
	}
	repo, err := openBare(dir)
	if err != nil {
		return nil, fmt.Errorf("source: open the clone of %s in %s: %w (remove the directory to clone again)", g.url, dir, err)
	}
	g.repo = repo
	if !fresh {
		if err := g.setOrigin(); err != nil {
			return nil, err
		}
	}
	g.fetchMu.Lock()
	defer g.fetchMu.Unlock()
	if err := g.refresh(true); err != nil {
		return nil, err
	}
	return g, nil
}

// endpoint parses url; a relative local path is made absolute.
func endpoint(url string) (*transport.Endpoint, error) {
	if url == "" {
		return nil, errors.New("source: empty repository URL: set the sites repo's git URL or path")
	}
	if !strings.Contains(url, "://") {
		if fi, err := os.Stat(url); err == nil && fi.IsDir() {
			abs, err := filepath.Abs(url)
			if err != nil {
				return nil, fmt.Errorf("source: %s: %w", url, err)
			}
			url = abs
		}
	}
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("source: %q is not a repository URL (ssh://, user@host:path, https://, git://, file:// or a local path): %w", url, err)
	}
	switch ep.Protocol {
	case "ssh", "https", "http", "git", "file":
	default:
		return nil, fmt.Errorf("source: %s: unsupported protocol %q (use ssh://, https://, git://, file:// or a local path)", ep.String(), ep.Protocol)
	}
	return ep, nil
}

func checkAuth(ep *transport.Endpoint, a Auth) error {
	token := a.TokenFile != "" || a.TokenEnv != ""
	if token && ep.Protocol != "https" {
		return fmt.Errorf("source: %s: an access token is only sent over https:// (the URL uses %s://)", ep.String(), ep.Protocol)
	}
	if (a.SSHKeyFile != "" || a.KnownHostsFile != "") && ep.Protocol != "ssh" {
		return fmt.Errorf("source: %s: an SSH key or known_hosts file is set but the URL is not ssh:// or user@host:path", ep.String())
	}
	if a.CAFile != "" && ep.Protocol != "https" {
		return fmt.Errorf("source: %s: a CA file is set but the URL is not https://", ep.String())
	}
	for _, f := range []string{a.SSHKeyFile, a.KnownHostsFile, a.TokenFile, a.CAFile} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("source: credentials for %s: %w", ep.String(), err)
		}
	}
	return nil
}

// clone initialises a bare repository next to g.dir, fetches into it and
// renames it into place, so a failed clone leaves nothing behind.
func (g *Git) clone(ctx context.Context) error {
	if g.ep.Protocol == "file" {
		if _, err := os.Stat(g.ep.Path); err != nil {
			return fmt.Errorf("source: local repository %s: %w", g.ep.Path, err)
		}
	}
	parent := filepath.Dir(g.dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("source: create %s for the clone of %s: %w", parent, g.url, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(g.dir)+".clone-")
	if err != nil {
		return fmt.Errorf("source: clone %s: %w", g.url, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	repo, err := git.PlainInit(tmp, true)
	if err != nil {
		return fmt.Errorf("source: initialise a bare repository in %s: %w", tmp, err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{
		Name: remoteName, URLs: []string{g.remoteURL()}, Fetch: []config.RefSpec{fetchSpec},
	}); err != nil {
		return fmt.Errorf("source: clone %s: %w", g.url, err)
	}
	if err := g.fetch(ctx, repo); err != nil {
		return err
	}
	// dir may exist empty (a mount point, or made by an operator).
	if err := os.Remove(g.dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("source: %s is not a clone berth made and not empty: remove it or choose another directory: %w", g.dir, err)
	}
	if err := os.Rename(tmp, g.dir); err != nil {
		return fmt.Errorf("source: move the clone of %s into %s: %w", g.url, g.dir, err)
	}
	ok = true
	return nil
}

// remoteURL is what the clone's config records: the endpoint without a
// password (credentials come from Auth, never from the config file).
func (g *Git) remoteURL() string {
	if g.ep.Protocol == "file" {
		return g.ep.Path
	}
	ep := *g.ep
	ep.Password = ""
	return ep.String()
}

// setOrigin points the existing clone's origin at g's URL.
func (g *Git) setOrigin() error {
	want := g.remoteURL()
	rem, err := g.repo.Remote(remoteName)
	if err == nil && slices.Equal(rem.Config().URLs, []string{want}) && slices.Equal(rem.Config().Fetch, []config.RefSpec{fetchSpec}) {
		return nil
	}
	if err == nil {
		if err := g.repo.DeleteRemote(remoteName); err != nil {
			return fmt.Errorf("source: re-point %s to %s: %w", g.dir, g.url, err)
		}
	}
	if _, err := g.repo.CreateRemote(&config.RemoteConfig{
		Name: remoteName, URLs: []string{want}, Fetch: []config.RefSpec{fetchSpec},
	}); err != nil {
		return fmt.Errorf("source: re-point %s to %s: %w", g.dir, g.url, err)
	}
	return nil
}

func openBare(dir string) (*git.Repository, error) {
	st := filesystem.NewStorage(osfs.New(dir), cache.NewObjectLRUDefault())
	return git.Open(st, nil)
}

// Fetch fetches every branch of the origin. Branches deleted there are
// deleted here. A Fetch that finds nothing new costs one round trip of ref
// advertisement and changes nothing. Concurrent calls run one at a time.
func (g *Git) Fetch(ctx context.Context) error {
	g.fetchMu.Lock()
	defer g.fetchMu.Unlock()
	err := g.fetch(ctx, g.repo)
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	if err != nil {
		return err
	}
	return g.refresh(true)
}

func (g *Git) fetch(ctx context.Context, repo *git.Repository) error {
	am, err := g.authMethod()
	if err != nil {
		return err
	}
	var ca []byte
	if g.auth.CAFile != "" {
		if ca, err = os.ReadFile(g.auth.CAFile); err != nil {
			return fmt.Errorf("source: the CA file for %s: %w", g.url, err)
		}
	}
	err = repo.FetchContext(ctx, &git.FetchOptions{
		CABundle:   ca,
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{pruneSafe},
		Force:      true, // follow force-pushes
		Auth:       am,
		Tags:       git.NoTags,
		Prune:      true,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return err
	case errors.Is(err, transport.ErrEmptyRemoteRepository):
		return fmt.Errorf("source: %s has no commits yet: push a branch to it: %w", g.url, err)
	case errors.Is(err, transport.ErrAuthenticationRequired), errors.Is(err, transport.ErrAuthorizationFailed):
		return fmt.Errorf("source: fetch %s: the server refused the credentials: check the token or deploy key and its access to the repository: %w", g.url, err)
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return fmt.Errorf("source: fetch %s: no such repository (or no access to it): check the URL: %w", g.url, err)
	case ctx.Err() != nil:
		return fmt.Errorf("source: fetch %s: %w", g.url, ctx.Err())
	}
	return fmt.Errorf("source: fetch %s: %w", g.url, err)
}

// authMethod builds the go-git credentials; tokens are read now, so a
// rotated token is used by the next Fetch.
func (g *Git) authMethod() (transport.AuthMethod, error) {
	a := g.auth
	switch g.ep.Protocol {
	case "https":
		var token string
		switch {
		case a.TokenFile != "":
			b, err := os.ReadFile(a.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("source: read the access token for %s: %w", g.url, err)
			}
			token = strings.TrimSpace(string(b))
			if token == "" {
				return nil, fmt.Errorf("source: the token file %s for %s is empty", a.TokenFile, g.url)
			}
		case a.TokenEnv != "":
			token = strings.TrimSpace(os.Getenv(a.TokenEnv))
			if token == "" {
				return nil, fmt.Errorf("source: the environment variable %s, which should hold the access token for %s, is empty or unset", a.TokenEnv, g.url)
			}
		default:
			return nil, nil
		}
		redact.Add(token)
		user := a.TokenUser
		if user == "" {
			user = g.ep.User
		}
		if user == "" {
			user = "x-access-token"
		}
		return &githttp.BasicAuth{Username: user, Password: token}, nil
	case "ssh":
		user := g.ep.User
		if user == "" {
			user = "git"
		}
		var files []string
		if a.KnownHostsFile != "" {
			files = []string{a.KnownHostsFile}
		}
		db, err := gitssh.NewKnownHostsDb(files...)
		if err != nil {
			return nil, fmt.Errorf("source: known_hosts for %s: %w (set the known_hosts file holding the server's host key)", g.url, err)
		}
		where := a.KnownHostsFile
		if where == "" {
			where = "the known_hosts files"
		}
		hostport := net.JoinHostPort(g.ep.Host, fmt.Sprint(g.port()))
		helper := gitssh.HostKeyCallbackHelper{
			HostKeyCallback:   hostKeyCallback(db, where),
			HostKeyAlgorithms: db.HostKeyAlgorithms(hostport),
		}
		if a.SSHKeyFile != "" {
			pk, err := gitssh.NewPublicKeysFromFile(user, a.SSHKeyFile, "")
			if err != nil {
				return nil, fmt.Errorf("source: SSH key %s for %s: %w (berth needs an unencrypted deploy key)", a.SSHKeyFile, g.url, err)
			}
			pk.HostKeyCallbackHelper = helper
			return pk, nil
		}
		ag, err := gitssh.NewSSHAgentAuth(user)
		if err != nil {
			return nil, fmt.Errorf("source: %s: no SSH key file is set and the ssh-agent is unusable: %w", g.url, err)
		}
		ag.HostKeyCallbackHelper = helper
		return ag, nil
	}
	return nil, nil
}

func (g *Git) port() int {
	if g.ep.Port != 0 {
		return g.ep.Port
	}
	return 22
}

// hostKeyCallback refuses unknown and changed host keys with a message that
// tells the operator what to do.
func hostKeyCallback(db *knownhosts.HostKeyDB, where string) ssh.HostKeyCallback {
	check := db.HostKeyCallback()
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := check(hostname, remote, key)
		switch {
		case err == nil:
			return nil
		case knownhosts.IsHostKeyChanged(err):
			return fmt.Errorf("the SSH host key of %s (%s %s) differs from the one in %s: refusing to connect; if the server's key really changed, replace its line: %w",
				hostname, key.Type(), ssh.FingerprintSHA256(key), where, err)
		case knownhosts.IsHostUnknown(err):
			return fmt.Errorf("the SSH host key of %s (%s %s) is not in %s: refusing to connect; add it (ssh-keyscan) after checking the fingerprint: %w",
				hostname, key.Type(), ssh.FingerprintSHA256(key), where, err)
		}
		return err
	}
}

// refresh re-reads the branch heads from the fetch handle and, when objects
// may have arrived, opens a new read handle. It runs under fetchMu, so no
// Fetch writes packs while the new handle indexes them.
func (g *Git) refresh(newObjects bool) error {
	refs, err := g.repo.Storer.IterReferences()
	if err != nil {
		return fmt.Errorf("source: read the branches of %s: %w", g.dir, err)
	}
	g.mu.RLock()
	old := g.heads
	g.mu.RUnlock()
	heads := make(map[string]Revision)
	err = refs.ForEach(func(r *plumbing.Reference) error {
		name, ok := strings.CutPrefix(r.Name().String(), remotePrefix)
		if !ok || r.Type() != plumbing.HashReference || name == "HEAD" {
			return nil
		}
		h := r.Hash().String()
		if rev, ok := old[name]; ok && rev.Hash == h {
			heads[name] = rev
			return nil
		}
		c, err := object.GetCommit(g.repo.Storer, r.Hash())
		if err != nil {
			return fmt.Errorf("source: branch %s of %s points at %s: %w", name, g.dir, h, err)
		}
		heads[name] = revision(c)
		return nil
	})
	if err != nil {
		return err
	}
	var st *objectStore
	if newObjects || g.store == nil {
		if st, err = newObjectStore(g.dir); err != nil {
			return err
		}
	}
	g.mu.Lock()
	g.heads = heads
	if st != nil {
		g.store = st
	}
	g.mu.Unlock()
	return nil
}

func revision(c *object.Commit) Revision {
	return Revision{
		Hash:    c.Hash.String(),
		Time:    c.Committer.When,
		Message: strings.TrimRight(c.Message, "\n"),
		Author:  fmt.Sprintf("%s <%s>", c.Author.Name, c.Author.Email),
	}
}

// Head returns the revision branch pointed at in the origin as of the last
// Fetch (or, before any, as of the last run). It reads memory only. An
// unknown branch returns an error wrapping fs.ErrNotExist.
func (g *Git) Head(branch string) (Revision, error) {
	branch = strings.TrimPrefix(branch, "refs/heads/")
	g.mu.RLock()
	rev, ok := g.heads[branch]
	g.mu.RUnlock()
	if !ok {
		known := g.Branches()
		if len(known) == 0 {
			return Revision{}, fmt.Errorf("source: %s has no branches: push %q to it: %w", g.url, branch, fs.ErrNotExist)
		}
		return Revision{}, fmt.Errorf("source: %s has no branch %q (it has %s): push it or fix the environment's branch: %w",
			g.url, branch, strings.Join(known, ", "), fs.ErrNotExist)
	}
	return rev, nil
}

// Branches returns the origin's branch names as of the last Fetch, sorted.
func (g *Git) Branches() []string {
	g.mu.RLock()
	defer g.mu.RUnlock()
	names := make([]string, 0, len(g.heads))
	for b := range g.heads {
		names = append(names, b)
	}
	slices.Sort(names)
	return names
}

// FS returns the tree of the commit rev.Hash — a branch head or any older
// commit the clone holds — as a read-only fs.FS read from the object store.
// See TreeFS for what it implements. A commit the clone does not hold
// returns an error wrapping fs.ErrNotExist.
func (g *Git) FS(rev Revision) (fs.FS, error) {
	if !plumbing.IsHash(rev.Hash) {
		return nil, fmt.Errorf("source: %q is not a commit hash: %w", rev.Hash, fs.ErrNotExist)
	}
	g.mu.RLock()
	st := g.store
	g.mu.RUnlock()
	return st.treeFS(plumbing.NewHash(rev.Hash))
}

// Dir returns the directory holding the bare clone.
func (g *Git) Dir() string { return g.dir }

// URL returns the origin's URL (without credentials).
func (g *Git) URL() string { return g.url }

// Resolve returns the commit ref names, for a platform's code:
//   - "" is the origin's default branch (its HEAD, asked of the origin);
//   - a branch name is its head as of the last Fetch;
//   - a full 40-digit commit hash is that commit, when the clone holds it;
//   - otherwise ref is a tag: the clone's copy when it has one (tags are
//     taken as immutable), else it is fetched from the origin, and an
//     annotated tag is peeled to its commit.
//
// Only the default branch and an unknown tag need the network. A ref that
// is none of these returns an error wrapping fs.ErrNotExist.
func (g *Git) Resolve(ctx context.Context, ref string) (Revision, error) {
	if ref == "" {
		head, err := g.defaultBranch(ctx)
		if err != nil {
			return Revision{}, err
		}
		ref = head
	}
	if rev, err := g.Head(ref); err == nil {
		return rev, nil
	}
	if len(ref) == 40 && plumbing.IsHash(ref) {
		return g.commit(plumbing.NewHash(ref), ref)
	}
	name := plumbing.NewTagReferenceName(strings.TrimPrefix(ref, "refs/tags/"))
	g.fetchMu.Lock()
	defer g.fetchMu.Unlock()
	if _, err := g.repo.Reference(name, false); err != nil {
		if err := g.fetchTag(ctx, name); err != nil {
			return Revision{}, err
		}
		if err := g.refresh(true); err != nil {
			return Revision{}, err
		}
	}
	r, err := g.repo.Reference(name, false)
	if err != nil {
		return Revision{}, fmt.Errorf("source: %s has no tag %q after fetching it: %w", g.url, ref, fs.ErrNotExist)
	}
	h := r.Hash()
	if tag, err := g.repo.TagObject(h); err == nil {
		c, err := tag.Commit()
		if err != nil {
			return Revision{}, fmt.Errorf("source: tag %q of %s does not point at a commit: %w", ref, g.url, err)
		}
		h = c.Hash
	}
	return g.commit(h, ref)
}

// commit returns the revision of a commit the clone holds.
func (g *Git) commit(h plumbing.Hash, ref string) (Revision, error) {
	g.mu.RLock()
	st := g.store
	g.mu.RUnlock()
	st.mu.Lock()
	c, err := object.GetCommit(st.st, h)
	st.mu.Unlock()
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return Revision{}, fmt.Errorf("source: %s has no commit %s (ref %q): push it to a branch, or check the hash: %w", g.url, h, ref, fs.ErrNotExist)
	}
	if err != nil {
		return Revision{}, fmt.Errorf("source: read commit %s of %s: %w", h, g.url, err)
	}
	return revision(c), nil
}

// fetchTag fetches one tag from the origin. It runs under fetchMu.
func (g *Git) fetchTag(ctx context.Context, name plumbing.ReferenceName) error {
	am, err := g.authMethod()
	if err != nil {
		return err
	}
	var ca []byte
	if g.auth.CAFile != "" {
		if ca, err = os.ReadFile(g.auth.CAFile); err != nil {
			return fmt.Errorf("source: the CA file for %s: %w", g.url, err)
		}
	}
	err = g.repo.FetchContext(ctx, &git.FetchOptions{
		CABundle:   ca,
		RemoteName: remoteName,
		RefSpecs:   []config.RefSpec{config.RefSpec(name.String() + ":" + name.String())},
		Auth:       am,
		Tags:       git.NoTags,
	})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case errors.Is(err, git.NoMatchingRefSpecError{}):
		return fmt.Errorf("source: %s has no branch or tag %q (branches: %s): push it, or use a full commit hash: %w",
			g.url, name.Short(), strings.Join(g.Branches(), ", "), fs.ErrNotExist)
	case ctx.Err() != nil:
		return fmt.Errorf("source: fetch tag %s of %s: %w", name.Short(), g.url, ctx.Err())
	}
	return fmt.Errorf("source: fetch tag %s of %s: %w", name.Short(), g.url, err)
}

// defaultBranch asks the origin which branch its HEAD names.
func (g *Git) defaultBranch(ctx context.Context) (string, error) {
	am, err := g.authMethod()
	if err != nil {
		return "", err
	}
	g.fetchMu.Lock()
	rem, err := g.repo.Remote(remoteName)
	g.fetchMu.Unlock()
	if err != nil {
		return "", fmt.Errorf("source: %s: %w", g.dir, err)
	}
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: am})
	if err != nil {
		return "", fmt.Errorf("source: ask %s for its default branch: %w", g.url, err)
	}
	for _, r := range refs {
		if r.Name() == plumbing.HEAD && r.Type() == plumbing.SymbolicReference {
			return r.Target().Short(), nil
		}
	}
	return "", fmt.Errorf("source: %s does not say which branch is its default: set a ref", g.url)
}
