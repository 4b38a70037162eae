package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthhq/berth/fstree"
)

// BuildTimeout bounds each build command of a platform.
const BuildTimeout = 30 * time.Minute

// maxBuildOutput is how much of a failed build command's output its error
// carries (the end of it).
const maxBuildOutput = 16 << 10

// Artifact is one build of a platform, made once on the controller for
// all servers it is deployed to: the tree exported under berth's state
// directory, the build commands run in it, the result packed into
// <dir>/<id>.tar.gz, the marker as its last entry. The releases of the
// platform's servers share it; the first to need it builds it.
type Artifact struct {
	platform string
	id       string
	source   string
	tree     fs.FS
	build    []string
	dir      string // <state dir>/builds/<platform>
	keep     int
	timeout  time.Duration

	mu       sync.Mutex
	building *buildCall // the build in flight, nil when none
}

// buildCall is one build in flight; done is closed when it ended.
type buildCall struct {
	done    chan struct{}
	archive string
	err     error
}

// ArtifactSpec describes one build of a platform.
type ArtifactSpec struct {
	Platform string
	// Rev is the code's revision: a commit hash, or sha256:<hex> (the
	// TreeHash of a path platform's tree).
	Rev string
	// Source says where the code came from, for plans and errors.
	Source string
	Tree   fs.FS
	// Build are the platform's build commands, run with sh in the tree.
	Build []string
	// Dir is where the archives are kept: <state dir>/builds/<platform>.
	Dir string
	// Keep is how many archives stay there.
	Keep int
}

// NewArtifact returns the build s describes; it is made on first use.
func NewArtifact(s ArtifactSpec) *Artifact {
	return &Artifact{platform: s.Platform, id: BuildID(s.Rev, s.Build), source: s.Source, tree: s.Tree,
		build: s.Build, dir: s.Dir, keep: s.Keep}
}

// prepare returns the path of the build's archive, building it when it is
// not there; calls made while a build is in flight (the releases of the
// platform's other servers) wait for it and share its result, success or
// failure. Nothing is remembered once it ended: the next call finds the
// archive on disk, or builds again after a failure or when the archive
// was removed since, so a desired state the daemon keeps between runs of
// the same revision never replays an old failure.
func (a *Artifact) prepare(ctx context.Context) (string, error) {
	a.mu.Lock()
	c := a.building
	if c == nil {
		c = &buildCall{done: make(chan struct{})}
		a.building = c
		a.mu.Unlock()
		c.archive, c.err = a.make(ctx)
		a.mu.Lock()
		a.building = nil
		close(c.done)
	}
	a.mu.Unlock()
	<-c.done
	return c.archive, c.err
}

func (a *Artifact) make(ctx context.Context) (string, error) {
	archive := filepath.Join(a.dir, a.id+".tar.gz")
	if _, err := os.Stat(archive); err == nil {
		now := time.Now()
		_ = os.Chtimes(archive, now, now) // used again: prune it last
		return archive, nil
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return "", fmt.Errorf("platform %s: create the build directory: %w", a.platform, err)
	}
	work, err := os.MkdirTemp(a.dir, a.id+".build-")
	if err != nil {
		return "", fmt.Errorf("platform %s: create the build directory: %w", a.platform, err)
	}
	defer os.RemoveAll(work)
	tree := filepath.Join(work, "tree")
	if err := export(a.tree, tree); err != nil {
		return "", fmt.Errorf("platform %s: export %s for the build: %w", a.platform, a.source, err)
	}
	for i, cmd := range a.build {
		if err := a.run(ctx, tree, cmd); err != nil {
			return "", fmt.Errorf("platform %s: build %s: command %d of %d failed, nothing was shipped and current was not switched; fix the command or the code: %w",
				a.platform, a.id, i+1, len(a.build), err)
		}
	}
	tmp := filepath.Join(work, "archive.tar.gz")
	if err := a.pack(tree, tmp); err != nil {
		return "", fmt.Errorf("platform %s: pack build %s: %w", a.platform, a.id, err)
	}
	if err := os.Rename(tmp, archive); err != nil {
		return "", fmt.Errorf("platform %s: %w", a.platform, err)
	}
	a.pruneArchives()
	return archive, nil
}

// run runs one build command with sh in dir, with a timeout; its output
// (the end of it) goes into the error.
func (a *Artifact) run(ctx context.Context, dir, command string) error {
	timeout := a.timeout
	if timeout <= 0 {
		timeout = BuildTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "BERTH_PLATFORM="+a.platform, "BERTH_BUILD="+a.id)
	var out tailBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The command's own children die with it when it times out.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %s: %w", timeout, ctx.Err())
	}
	return fmt.Errorf("%q: %w\n%s", command, err, out.String())
}

// export writes tree into dir: directories 0755, files 0644 (0755 when
// executable), symbolic links as they are when they stay inside the tree.
// A link leading out of it, a pipe, socket or device is refused (see
// fstree.CheckEntry): the build commands never see them and nothing is shipped.
func export(tree fs.FS, dir string) error {
	return fs.WalkDir(tree, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := fstree.CheckEntry(tree, p, de.Type()); err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		switch t := de.Type(); {
		case de.IsDir():
			return os.MkdirAll(target, 0o755)
		case t&fs.ModeSymlink != 0:
			link, err := fs.ReadLink(tree, p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case t.IsRegular():
			info, err := de.Info()
			if err != nil {
				return err
			}
			data, err := fs.ReadFile(tree, p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, data, execMode(info.Mode()))
		}
		return nil // submodules, devices: not code
	})
}

func execMode(m fs.FileMode) fs.FileMode {
	if m&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

// pack writes the built tree as a gzipped tar to file, owner-less and
// with normalised modes, the marker last: a server that has the marker
// has everything before it. Only directories, regular files and links that
// stay inside the tree are packed: a link the build commands made that
// leads out of it fails the build (see fstree.CheckEntry); pipes and sockets a
// build left are not shipped.
func (a *Artifact) pack(tree, file string) error {
	built := os.DirFS(tree)
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	err = filepath.WalkDir(tree, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(tree, p)
		if err != nil || rel == "." || rel == BuildMarker {
			return err
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if err := fstree.CheckEntry(built, filepath.ToSlash(rel), fs.ModeSymlink); err != nil {
				return err
			}
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		if !info.Mode().IsRegular() && !info.IsDir() && link == "" {
			return nil // sockets, fifos left by a build
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		switch {
		case info.IsDir():
			hdr.Name += "/"
			hdr.Mode = 0o755
		case link != "":
			hdr.Mode = 0o777
		default:
			hdr.Mode = int64(execMode(info.Mode()))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if err != nil {
		return err
	}
	marker := fmt.Appendf(nil, "berth build %s of platform %s\nsource: %s\nbuilt: %s\n",
		a.id, a.platform, a.source, time.Now().UTC().Format(time.RFC3339))
	if err := tw.WriteHeader(&tar.Header{Name: BuildMarker, Mode: 0o644, Size: int64(len(marker)), ModTime: time.Now(), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(marker); err != nil {
		return err
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		return err
	}
	return f.Sync()
}

// pruneArchives keeps the keep most recently used archives of the
// platform on the controller.
func (a *Artifact) pruneArchives() {
	entries, err := os.ReadDir(a.dir)
	if err != nil {
		return
	}
	type archive struct {
		name string
		t    time.Time
	}
	var all []archive
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".tar.gz") {
			continue
		}
		if info, err := e.Info(); err == nil {
			all = append(all, archive{e.Name(), info.ModTime()})
		}
	}
	slices.SortFunc(all, func(x, y archive) int { return y.t.Compare(x.t) })
	for _, old := range all[min(max(a.keep, 1), len(all)):] {
		if old.name != a.id+".tar.gz" {
			os.Remove(filepath.Join(a.dir, old.name))
		}
	}
}

// tailBuffer keeps the last maxBuildOutput bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	cut bool
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if n := t.buf.Len() - maxBuildOutput; n > 0 {
		t.buf.Next(n)
		t.cut = true
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.TrimRight(t.buf.String(), "\n")
	if t.cut {
		s = "[…]" + s
	}
	return s
}

// TreeHash is the SHA-256 of a tree's paths, types, executable bits,
// contents and link targets. It refuses what cannot be shipped (see
// fstree.CheckEntry).
func TreeHash(tree fs.FS) (string, error) {
	h := sha256.New()
	err := fs.WalkDir(tree, ".", func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := fstree.CheckEntry(tree, p, de.Type()); err != nil {
			return err
		}
		switch t := de.Type(); {
		case de.IsDir():
			fmt.Fprintf(h, "d %s\x00", p)
		case t&fs.ModeSymlink != 0:
			target, err := fs.ReadLink(tree, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "l %s\x00%s\x00", p, target)
		case t.IsRegular():
			info, err := de.Info()
			if err != nil {
				return err
			}
			f, err := tree.Open(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "f %s\x00%t\x00%d\x00", p, info.Mode()&0o111 != 0, info.Size())
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// BuildID names a build: the revision, shortened, and when the platform
// has build commands, a hash of them — the same commit built differently
// is another build.
func BuildID(rev string, build []string) string {
	id := Short(rev)
	if len(build) > 0 {
		sum := sha256.Sum256([]byte(strings.Join(build, "\x00")))
		id += "-" + hex.EncodeToString(sum[:])[:6]
	}
	return id
}

// Short shortens a revision for people (12 characters, no sha256:).
func Short(rev string) string {
	rev = strings.TrimPrefix(rev, "sha256:")
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
