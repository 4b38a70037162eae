package source

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Source is where the daemon reads a sites repo from: a Git repository
// (*Git) or a plain directory (*Dir).
//
// Implementations are safe for concurrent use by multiple goroutines.
type Source interface {
	// Fetch brings the local copy up to date with its origin. It honours
	// ctx; a Fetch that finds nothing new is cheap and returns nil.
	Fetch(ctx context.Context) error

	// Head returns the revision branch points at after the last Fetch.
	// branch is a name such as "main" ("refs/heads/main" is accepted).
	// An unknown branch returns an error wrapping fs.ErrNotExist.
	Head(branch string) (Revision, error)

	// FS returns the files of rev, read-only. The result implements
	// fs.ReadDirFS, fs.ReadFileFS and fs.StatFS, reports the executable bit
	// in Mode, and is safe for concurrent reads. A revision the source does
	// not hold returns an error wrapping fs.ErrNotExist.
	FS(rev Revision) (fs.FS, error)
}

// Revision identifies one version of the sites repo.
type Revision struct {
	// Hash is the commit's hex object name for Git, or the hex SHA-256 of
	// the files' paths, modes and contents for Dir.
	Hash string
	// Time is the committer time for Git; for Dir, the newest
	// modification time among the files.
	Time time.Time
	// Message is the full commit message (empty for Dir).
	Message string
	// Author is "Name <email>" of the commit's author (empty for Dir).
	Author string
}

// Short returns the first 12 characters of Hash, for logs.
func (r Revision) Short() string {
	if len(r.Hash) > 12 {
		return r.Hash[:12]
	}
	return r.Hash
}

// Open returns the Source for location: a *Dir when location is a local
// directory that is not a Git repository, otherwise a *Git cloned into
// cloneDir (see OpenGit).
func Open(ctx context.Context, location, cloneDir string, auth Auth) (Source, error) {
	if fi, err := os.Stat(location); err == nil && fi.IsDir() && gitDir(location) == "" {
		return OpenDir(location), nil
	}
	g, err := OpenGit(ctx, location, cloneDir, auth)
	if err != nil {
		return nil, err
	}
	return g, nil
}

// gitDir returns the Git directory of the repository at path — path itself
// for a bare repository, path/.git (or where a .git file points) for one
// with a work tree — or "" when path is not a repository.
func gitDir(path string) string {
	dotgit := filepath.Join(path, ".git")
	if fi, err := os.Stat(dotgit); err == nil {
		if fi.IsDir() {
			return dotgit
		}
		// A linked work tree or submodule: ".git" is a file "gitdir: DIR".
		if b, err := os.ReadFile(dotgit); err == nil {
			if d, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir:"); ok {
				d = strings.TrimSpace(d)
				if !filepath.IsAbs(d) {
					d = filepath.Join(path, d)
				}
				return d
			}
		}
		return ""
	}
	if isFile(filepath.Join(path, "HEAD")) && isDir(filepath.Join(path, "objects")) && isDir(filepath.Join(path, "refs")) {
		return path
	}
	return ""
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
