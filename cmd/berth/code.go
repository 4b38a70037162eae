package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"

	"github.com/berthhq/berth/desired"
	"github.com/berthhq/berth/source"
	"github.com/berthhq/berth/spec"
)

// gitCode resolves git platforms for reconcile: each repository is cloned
// bare once under <state dir>/platforms/ and fetched once per run (per
// gitCode), and a ref is read as a commit's tree from the object store.
type gitCode struct {
	dir  string
	auth source.Auth

	mu     sync.Mutex
	clones map[string]*source.Git // URL -> clone, fetched
}

var _ desired.Code = (*gitCode)(nil)

func newGitCode(stateDir string, auth source.Auth) *gitCode {
	return &gitCode{dir: filepath.Join(stateDir, "platforms"), auth: auth, clones: map[string]*source.Git{}}
}

func (c *gitCode) Resolve(ctx context.Context, pl spec.ResolvedPlatform) (string, fs.FS, error) {
	g, err := c.clone(ctx, pl.Source.Git)
	if err != nil {
		return "", nil, err
	}
	rev, err := g.Resolve(ctx, pl.Source.Ref)
	if err != nil {
		return "", nil, err
	}
	tree, err := g.FS(rev)
	if err != nil {
		return "", nil, err
	}
	return rev.Hash, tree, nil
}

// clone opens (cloning the first time) and fetches url, once per gitCode.
func (c *gitCode) clone(ctx context.Context, url string) (*source.Git, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, ok := c.clones[url]; ok {
		return g, nil
	}
	sum := sha256.Sum256([]byte(url))
	g, err := source.OpenGit(ctx, url, filepath.Join(c.dir, hex.EncodeToString(sum[:])[:16]+".git"), c.auth)
	if err != nil {
		return nil, fmt.Errorf("clone the platform repository (check the URL and --git-ssh-key, --git-known-hosts or --git-token-file): %w", err)
	}
	if err := g.Fetch(ctx); err != nil {
		return nil, fmt.Errorf("fetch the platform repository (check the URL and --git-ssh-key, --git-known-hosts or --git-token-file): %w", err)
	}
	c.clones[url] = g
	return g, nil
}
