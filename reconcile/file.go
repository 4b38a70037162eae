package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/berthhq/berth/host"
)

// KindFile is a regular file with berth-rendered content.
const KindFile = "file"

func init() {
	RegisterPruner(KindFile, func(rec Record) Resource {
		return &File{id: rec.ID, server: rec.Server, site: rec.Site, path: rec.Path, service: rec.Service, absent: true}
	})
}

// File is a regular file whose content, mode and owner berth decides.
type File struct {
	id, server, site, path string
	content                []byte
	hash                   string
	mode                   fs.FileMode
	owner, group           string
	service                string
	deps                   []string
	absent                 bool // delete it (a pruned inventory record)
}

// FileSpec describes a file to converge.
type FileSpec struct {
	ID, Server, Site, Path string
	Content                []byte
	Mode                   fs.FileMode // 0 means 0644
	Owner, Group           string      // "" leaves the host's default
	Service                string      // checked and reloaded when the file changes
}

// NewFile returns the resource for a file that must exist with this content.
func NewFile(s FileSpec) *File {
	sum := sha256.Sum256(s.Content)
	mode := s.Mode
	if mode == 0 {
		mode = 0o644
	}
	return &File{
		id: s.ID, server: s.Server, site: s.Site, path: s.Path,
		content: s.Content, hash: hex.EncodeToString(sum[:]),
		mode: mode, owner: s.Owner, group: s.Group, service: s.Service,
	}
}

func (f *File) ID() string        { return f.id }
func (f *File) Server() string    { return f.server }
func (f *File) Kind() string      { return KindFile }
func (f *File) Site() string      { return f.site }
func (f *File) Path() string      { return f.path }
func (f *File) Deps() []string    { return f.deps }
func (f *File) Observe() []string { return []string{f.path} }

// sensitive reports whether the file is hidden from others on the host; its
// content is then hidden from plans and logs too.
func (f *File) sensitive() bool { return f.mode&0o004 == 0 }

func (f *File) change(a Action, reason string) Change {
	return Change{ID: f.id, Server: f.server, Kind: KindFile, Site: f.site, Path: f.path,
		Action: a, Reason: reason, Service: f.service, Sensitive: f.sensitive()}
}

func (f *File) Check(ctx context.Context, in CheckInput) (Change, error) {
	obs := in.Obs[f.path]
	if f.absent {
		if !obs.Exists {
			// Deleted by an interrupted run: forget it (and, for a
			// service's file, check and reload the service).
			c := f.change(Delete, "already gone; forgotten")
			c.prior = &prior{}
			return c, nil
		}
		if in.Record != nil && in.Record.Adopted {
			return f.change(None, "kept: it existed before berth managed it"), nil
		}
		if !obs.IsRegular() {
			return f.change(None, "kept: no longer a regular file"), nil
		}
		c := f.change(Delete, "no longer declared")
		data, err := in.Host.ReadFile(ctx, f.path)
		if err != nil {
			return c, fmt.Errorf("read %s before deleting it: %w", f.path, err)
		}
		c.prior = &prior{exists: true, data: data, obs: obs}
		c.Sensitive = obs.Mode&0o004 == 0
		if !c.Sensitive {
			c.Diff = unifiedDiff(f.path, data, nil)
		}
		return c, nil
	}

	if !obs.Exists {
		c := f.change(Create, "missing")
		c.prior = &prior{}
		if !c.Sensitive {
			c.Diff = unifiedDiff(f.path, nil, f.content)
		}
		return c, nil
	}
	if !obs.IsRegular() {
		return f.change(Conflict, fmt.Sprintf("exists and is not a regular file (%s); remove it by hand", obs.Mode.Type())), nil
	}
	var reasons []string
	if obs.SHA256 != f.hash {
		reasons = append(reasons, "content differs")
	}
	reasons = append(reasons, attrDiffs(obs, f.mode, f.owner, f.group)...)
	if len(reasons) == 0 {
		return f.change(None, ""), nil
	}
	if in.Record == nil && !in.Adopt {
		return f.change(Conflict, "exists and was not created by berth ("+strings.Join(reasons, ", ")+"); run with --adopt to let berth take it over"), nil
	}
	c := f.change(Update, strings.Join(reasons, ", "))
	data, err := in.Host.ReadFile(ctx, f.path)
	if err != nil {
		return c, fmt.Errorf("read %s to compare it: %w", f.path, err)
	}
	c.prior = &prior{exists: true, data: data, obs: obs}
	if !c.Sensitive && obs.Mode&0o004 != 0 && obs.SHA256 != f.hash {
		c.Diff = unifiedDiff(f.path, data, f.content)
	}
	return c, nil
}

func (f *File) Apply(ctx context.Context, h host.Host, c *Change) error {
	switch c.Action {
	case Delete:
		return h.Remove(ctx, f.path)
	case Create, Update:
		return h.WriteFile(ctx, f.path, f.content, host.WriteOptions{Mode: f.mode, Owner: f.owner, Group: f.group})
	}
	return nil
}

func (f *File) Undo(ctx context.Context, h host.Host, c *Change) error {
	p := c.prior
	if p == nil {
		return fmt.Errorf("cannot restore %s: its prior state was not recorded", f.path)
	}
	if !p.exists {
		return h.Remove(ctx, f.path)
	}
	return h.WriteFile(ctx, f.path, p.data, host.WriteOptions{Mode: p.obs.Mode.Perm(), Owner: p.obs.Owner, Group: p.obs.Group})
}

func (f *File) Record() Record {
	return Record{ID: f.id, Server: f.server, Kind: KindFile, Site: f.site, Path: f.path, Hash: f.hash, Service: f.service}
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
