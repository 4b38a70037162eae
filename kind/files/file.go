package files

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindFile is a regular file with berth-rendered content.
const KindFile = "file"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindFile, Prune: func(rec reconcile.Record) reconcile.Resource {
		return &File{Base: reconcile.PrunedBase(KindFile, rec), service: rec.Service}
	}})
}

// File is a regular file whose content, mode and owner berth decides.
type File struct {
	reconcile.Base
	content      []byte
	hash         string
	mode         fs.FileMode
	owner, group string
	service      string
}

// FileSpec describes a file to converge.
type FileSpec struct {
	ID, Server, Site, Path string
	Content                []byte
	Mode                   fs.FileMode // 0 means 0644
	Owner, Group           string      // "" leaves the host's default
	Service                string      // checked and reloaded when the file changes
	Deps                   []string
}

// NewFile returns the resource for a file that must exist with this content.
func NewFile(s FileSpec) *File {
	sum := sha256.Sum256(s.Content)
	mode := s.Mode
	if mode == 0 {
		mode = 0o644
	}
	return &File{
		Base:    reconcile.NewBase(reconcile.BaseSpec{Kind: KindFile, ID: s.ID, Server: s.Server, Site: s.Site, Path: s.Path, Deps: s.Deps}),
		content: s.Content, hash: hex.EncodeToString(sum[:]),
		mode: mode, owner: s.Owner, group: s.Group, service: s.Service,
	}
}

func (f *File) Observe() []string { return []string{f.Path()} }

// sensitive reports whether the file is hidden from others on the host; its
// content is then hidden from plans and logs too.
func (f *File) sensitive() bool { return f.mode&0o004 == 0 }

func (f *File) change(a reconcile.Action, reason string) reconcile.Change {
	c := f.NewChange(a, reason)
	c.Service, c.Sensitive, c.Hidden = f.service, f.sensitive(), hiddenContent
	return c
}

// hiddenContent is what a plan says instead of the diff of a file others
// may not read.
const hiddenContent = "content hidden: the file is not world-readable"

func (f *File) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	obs := in.Obs[f.Path()]
	if f.Absent() {
		if !obs.Exists {
			// Deleted by an interrupted run: forget it (and, for a
			// service's file, check and reload the service).
			c := f.change(reconcile.Delete, "already gone; forgotten")
			c.Found = &prior{}
			return c, nil
		}
		if in.Record != nil && in.Record.Adopted {
			return f.change(reconcile.None, "kept: it existed before berth managed it"), nil
		}
		if !obs.IsRegular() {
			return f.change(reconcile.None, "kept: no longer a regular file"), nil
		}
		c := f.change(reconcile.Delete, "no longer declared")
		data, err := read(in, f.Path(), func() ([]byte, error) { return in.Host.ReadFile(ctx, f.Path()) })
		if err != nil {
			return c, fmt.Errorf("read %s before deleting it: %w", f.Path(), err)
		}
		c.Found = &prior{exists: true, data: data, obs: obs}
		c.Sensitive = obs.Mode&0o004 == 0
		if !c.Sensitive {
			c.Diff = unifiedDiff(f.Path(), data, nil)
		}
		return c, nil
	}

	if !obs.Exists {
		c := f.change(reconcile.Create, "missing")
		c.Found = &prior{}
		if !c.Sensitive {
			c.Diff = unifiedDiff(f.Path(), nil, f.content)
		}
		return c, nil
	}
	if !obs.IsRegular() {
		return f.change(reconcile.Conflict, fmt.Sprintf("exists and is not a regular file (%s); remove it by hand", obs.Mode.Type())), nil
	}
	var reasons []string
	if obs.SHA256 != f.hash {
		reasons = append(reasons, "content differs")
	}
	reasons = append(reasons, attrDiffs(obs, f.mode, f.owner, f.group)...)
	if len(reasons) == 0 {
		return f.change(reconcile.None, ""), nil
	}
	if keptAsFound(in, f.hash) {
		return f.change(reconcile.None, keptAsFoundReason), nil
	}
	if in.Record == nil && !in.Adopt {
		return f.change(reconcile.Conflict, "exists and was not created by berth ("+strings.Join(reasons, ", ")+"); run with --adopt to let berth take it over"), nil
	}
	c := f.change(reconcile.Update, strings.Join(reasons, ", "))
	data, err := read(in, f.Path(), func() ([]byte, error) { return in.Host.ReadFile(ctx, f.Path()) })
	if err != nil {
		return c, fmt.Errorf("read %s to compare it: %w", f.Path(), err)
	}
	c.Found = &prior{exists: true, data: data, obs: obs}
	if !c.Sensitive && obs.Mode&0o004 != 0 && obs.SHA256 != f.hash {
		c.Diff = unifiedDiff(f.Path(), data, f.content)
	}
	return c, nil
}

// keptAsFound reports whether a file that differs from berth's rendering
// stays as it is: berth import recorded it (AsFound) with the hash of the
// rendering of the repo it wrote, and the repo's rendering (want) is still
// that one. A hand-made file then keeps its bytes until the
// repo changes something it renders; berth takes it over at that change.
func keptAsFound(in reconcile.CheckInput, want string) bool {
	rec := in.Record
	return rec != nil && rec.AsFound && rec.Hash != "" && rec.Hash == want
}

const keptAsFoundReason = "kept as found: adopted by berth import; berth rewrites it at the repo's first change to it"

func (f *File) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	switch c.Action {
	case reconcile.Delete:
		return h.Remove(ctx, f.Path())
	case reconcile.Create, reconcile.Update:
		return h.WriteFile(ctx, f.Path(), f.content, host.WriteOptions{Mode: f.mode, Owner: f.owner, Group: f.group})
	}
	return nil
}

func (f *File) Undo(ctx context.Context, h host.Host, c *reconcile.Change) error {
	p, _ := c.Found.(*prior)
	if p == nil {
		return fmt.Errorf("cannot restore %s: its prior state was not recorded", f.Path())
	}
	if !p.exists {
		return h.Remove(ctx, f.Path())
	}
	return h.WriteFile(ctx, f.Path(), p.data, host.WriteOptions{Mode: p.obs.Mode.Perm(), Owner: p.obs.Owner, Group: p.obs.Group})
}

func (f *File) Record() reconcile.Record {
	r := f.NewRecord()
	r.Hash, r.Service = f.hash, f.service
	return r
}

// unifiedDiff returns a unified diff of a file's old and new content.
func unifiedDiff(path string, before, after []byte) string {
	if before == nil || after == nil {
		return wholeDiff(path, before, after)
	}
	from, to := "a"+path, "b"+path
	if before == nil {
		from = "/dev/null"
	}
	if after == nil {
		to = "/dev/null"
	}
	d, err := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(string(before)), B: difflib.SplitLines(string(after)),
		FromFile: from, ToFile: to, Context: 3,
	})
	if err != nil {
		return fmt.Sprintf("(no diff: %v)", err)
	}
	if len(before) > 0 && !strings.HasSuffix(string(before), "\n") || len(after) > 0 && !strings.HasSuffix(string(after), "\n") {
		d += "\\ No newline at end of file\n"
	}
	return d
}

// wholeDiff is the diff of a created or deleted file: every line added or
// removed. It is written directly; a first converge of thousands of sites
// makes thousands of them.
func wholeDiff(path string, before, after []byte) string {
	sign, content := "+", after
	from, to := "/dev/null", "b"+path
	if after == nil {
		sign, content = "-", before
		from, to = "a"+path, "/dev/null"
	}
	text := string(content)
	n := strings.Count(text, "\n")
	if text != "" && !strings.HasSuffix(text, "\n") {
		n++
	}
	var b strings.Builder
	b.Grow(len(text) + n + len(path)*2 + 40)
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", from, to)
	if sign == "+" {
		fmt.Fprintf(&b, "@@ -0,0 +1,%d @@\n", n)
	} else {
		fmt.Fprintf(&b, "@@ -1,%d +0,0 @@\n", n)
	}
	for line := range strings.Lines(text) {
		b.WriteString(sign)
		b.WriteString(line)
	}
	if text != "" && !strings.HasSuffix(text, "\n") {
		b.WriteString("\n\\ No newline at end of file\n")
	}
	return b.String()
}

// attrDiffs lists how an observed path's mode, owner and group differ from
// the wanted ones ("" owner or group: any).
func attrDiffs(obs host.Observation, mode fs.FileMode, owner, group string) []string {
	var d []string
	if obs.Mode.Perm() != mode.Perm() {
		d = append(d, fmt.Sprintf("mode %04o -> %04o", obs.Mode.Perm(), mode.Perm()))
	}
	if owner != "" && obs.Owner != owner && fmt.Sprint(obs.UID) != owner {
		d = append(d, fmt.Sprintf("owner %s -> %s", obs.Owner, owner))
	}
	if group != "" && obs.Group != group && fmt.Sprint(obs.GID) != group {
		d = append(d, fmt.Sprintf("group %s -> %s", obs.Group, group))
	}
	return d
}
