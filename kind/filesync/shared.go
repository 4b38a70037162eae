package filesync

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindShared is the check that a platform's shared files path is the
// same file system on a server as on the platform's first server.
const KindShared = "files-shared"

// MarkerName is the marker file berth writes in a shared files path.
const MarkerName = ".berth-shared"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindShared, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &Shared{Base: reconcile.PrunedBase(KindShared, rec)}
	}})
}

// SharedSpec describes the check of a shared path on a server.
type SharedSpec struct {
	ID string
	// Server must see the same file system at Path as First.
	Server, First, Path string
	// Platform names the platform in messages.
	Platform string
	// Hosts reaches First.
	Hosts Hosts
}

// Shared proves that a shared files path is one file system: the id
// berth wrote into its marker on the first server reads the same on this
// one.
type Shared struct {
	reconcile.Base
	first, dir, platform string
	hosts                Hosts
}

// NewShared returns the check of a shared files path on a server.
func NewShared(s SharedSpec) *Shared {
	return &Shared{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindShared, ID: s.ID, Server: s.Server, Path: path.Join(s.Path, MarkerName)}),
		first: s.First, dir: s.Path, platform: s.Platform, hosts: s.Hosts}
}

func (s *Shared) Observe() []string {
	if s.Absent() {
		return nil
	}
	return []string{s.Path()}
}

// ErrNotShared is wrapped by the error of a shared files path that is not
// the same file system on every server.
var ErrNotShared = errors.New("the shared files path is not the same file system on every server")

// refusal says that the path is not shared with the first server, and
// what to do.
func (s *Shared) refusal(why string) error {
	return fmt.Errorf("platform %s: files path %s on server %s is not the file system server %s has there (%s): %w; mount the shared file system at %s on %s (or use files: { mode: sync, primary: %s }) and run again; nothing is applied to the files of the platform's sites on %s",
		s.platform, s.dir, s.Server(), s.first, why, ErrNotShared, s.dir, s.Server(), s.first, s.Server())
}

// firstMarker reads the marker on the first server; nil when there is
// none yet.
func (s *Shared) firstMarker(ctx context.Context) ([]byte, host.Host, error) {
	if s.hosts == nil {
		return nil, nil, fmt.Errorf("check the shared files path %s on %s: berth was given no connection to %s", s.dir, s.Server(), s.first)
	}
	fh, err := s.hosts.Host(ctx, s.first)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s, the first server of platform %s: %w", s.first, s.platform, err)
	}
	m, err := fh.ReadFile(ctx, s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fh, nil
	}
	if err != nil {
		return nil, fh, fmt.Errorf("read the marker %s on %s: %w", s.Path(), s.first, err)
	}
	return m, fh, nil
}

func (s *Shared) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	if s.Absent() {
		return s.NewChange(reconcile.Delete, "the platform's files are no longer shared on this server; forgotten (the marker stays)"), nil
	}
	m, _, err := s.firstMarker(ctx)
	if err != nil {
		return reconcile.Change{}, err
	}
	if m == nil {
		return s.NewChange(reconcile.Create, fmt.Sprintf("write a marker with a random id into %s on %s and read it back here: the shared path must be the same file system", s.dir, s.first)), nil
	}
	sum := sha256.Sum256(m)
	obs := in.Obs[s.Path()]
	switch {
	case obs.IsRegular() && obs.SHA256 == hex.EncodeToString(sum[:]):
		return s.NewChange(reconcile.None, ""), nil
	case !obs.Exists:
		return reconcile.Change{}, fmt.Errorf("%w (%w)", s.refusal("berth's marker "+MarkerName+" is missing there"), reconcile.ErrPolicy)
	default:
		return reconcile.Change{}, fmt.Errorf("%w (%w)", s.refusal("berth's marker "+MarkerName+" holds another id there"), reconcile.ErrPolicy)
	}
}

// markerScript writes $2 into the file $1 unless it exists (noclobber):
// the first of the servers checking at once writes the id.
const markerScript = `set -C; printf '%s\n' "$2" > "$1"`

// Apply writes the marker on the first server, unless there is one, and
// reads it on this server.
func (s *Shared) Apply(ctx context.Context, h host.Host, _ *reconcile.Change) error {
	if s.Absent() {
		return nil
	}
	m, fh, err := s.firstMarker(ctx)
	if err != nil {
		return err
	}
	if m == nil {
		id := make([]byte, 16)
		if _, err := rand.Read(id); err != nil {
			return err
		}
		res, werr := fh.Run(ctx, []string{"sh", "-c", markerScript, "berth-marker", s.Path(), hex.EncodeToString(id)}, host.RunOptions{})
		if m, _, err = s.firstMarker(ctx); err != nil {
			return err
		}
		if m == nil {
			return fmt.Errorf("write the marker %s on %s: %w (%s); is %s mounted there?", s.Path(), s.first, werr, bytes.TrimSpace(res.Stderr), s.dir)
		}
	}
	here, err := h.ReadFile(ctx, s.Path())
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s.refusal("berth's marker " + MarkerName + " written on " + s.first + " is missing there")
	case err != nil:
		return fmt.Errorf("read the marker %s on %s: %w", s.Path(), s.Server(), err)
	case !bytes.Equal(here, m):
		return s.refusal("berth's marker " + MarkerName + " holds another id there")
	}
	return nil
}

func (s *Shared) Undo(context.Context, host.Host, *reconcile.Change) error { return nil }

func (s *Shared) Record() reconcile.Record { return s.NewRecord() }
