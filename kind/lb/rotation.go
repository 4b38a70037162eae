package lb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/berthhq/berth/host"
)

// RotationSpec describes a load balancer's configuration file of one
// platform as a roll rewrites it (release.Rotation).
type RotationSpec struct {
	Path string
	// In is the desired file: every web server in the upstream (a server
	// drained by its spec stays down). Out holds, by web server, the file
	// with that server marked down too.
	In  []byte
	Out map[string][]byte
	// Test, Reload, PIDFile and Dir are the load balancer's check and
	// reload, as in ConfigSpec.
	Test, Reload []string
	PIDFile      string
	Dir          string
}

// Rotation takes web servers out of a platform's upstream and puts them
// back, for a roll (it implements release.Rotation). Every write is
// checked (the load balancer's test) and reloaded; a write the check
// refuses, or whose reload fails, is replaced by what the file held
// before.
type Rotation struct {
	s RotationSpec
}

// NewRotation returns the rotation of a load balancer's file.
func NewRotation(s RotationSpec) *Rotation { return &Rotation{s: s} }

// Drain writes the file with node marked down, checks and reloads it.
func (r *Rotation) Drain(ctx context.Context, h host.Host, node string) error {
	out, ok := r.s.Out[node]
	if !ok {
		return fmt.Errorf("%s is not a web server of the upstream in %s", node, r.s.Path)
	}
	return r.put(ctx, h, out)
}

// Undrain writes the desired file with a last comment line saying that
// node was put back, checks and reloads it: until Settle, the file
// differs from the desired one, so a run cut off before the reload took
// effect leaves a change for the next one (which writes and reloads).
func (r *Rotation) Undrain(ctx context.Context, h host.Host, node string) error {
	marked := slices.Concat(r.s.In, []byte("# berth: "+node+" was put back by a roll; the next run rewrites this file without this line\n"))
	return r.put(ctx, h, marked)
}

// Settle writes the desired file, which the load balancer runs already
// but for a comment: nothing is checked or reloaded.
func (r *Rotation) Settle(ctx context.Context, h host.Host) error {
	return h.WriteFile(ctx, r.s.Path, r.s.In, host.WriteOptions{Mode: 0o644})
}

// put writes content, checks and reloads the load balancer; a failed
// check or reload puts the old file back.
func (r *Rotation) put(ctx context.Context, h host.Host, content []byte) error {
	old, err := h.ReadFile(ctx, r.s.Path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read %s: %w", r.s.Path, err)
	}
	restore := func() error {
		if old == nil {
			return h.Remove(ctx, r.s.Path)
		}
		return h.WriteFile(ctx, r.s.Path, old, host.WriteOptions{Mode: 0o644})
	}
	if err := h.WriteFile(ctx, r.s.Path, content, host.WriteOptions{Mode: 0o644}); err != nil {
		return err
	}
	if err := run(ctx, h, r.s.Test, r.s.Dir); err != nil {
		if rerr := restore(); rerr != nil {
			return fmt.Errorf("load balancer configuration check failed: %w; and the old file could not be put back: %v", err, rerr)
		}
		return fmt.Errorf("load balancer configuration check failed, the old configuration is kept: %w", err)
	}
	if err := reload(ctx, h, r.s.PIDFile, r.s.Reload, r.s.Dir); err != nil {
		if rerr := restore(); rerr != nil {
			return fmt.Errorf("load balancer reload failed: %w; and the old file could not be put back: %v", err, rerr)
		}
		return fmt.Errorf("load balancer reload failed, the old file is put back: %w", err)
	}
	return nil
}
