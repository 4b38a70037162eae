package ssh

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/berthhq/berth/host"
)

// Observe implements host.Host: one session runs observeScript with every
// path on its standard input.
func (h *Host) Observe(ctx context.Context, paths []string) ([]host.Observation, error) {
	if len(paths) == 0 {
		return nil, ctx.Err()
	}
	var in bytes.Buffer
	for _, p := range paths {
		if err := h.checkPath(p); err != nil {
			return nil, fmt.Errorf("observe: %w", err)
		}
		in.WriteString(p)
		in.WriteByte(0)
	}
	var out bytes.Buffer
	res, err := h.script(ctx, "observe", observeScript, &in, &out)
	if err != nil {
		return nil, h.opError("observe", fmt.Sprintf("(%d paths)", len(paths)), err)
	}
	if err := observeErrors(res.Stderr); err != nil {
		return nil, fmt.Errorf("ssh %s: observe: %w", h.name, err)
	}
	found, err := parseObservations(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("ssh %s: observe: %w", h.name, err)
	}
	obs := make([]host.Observation, len(paths))
	for i, p := range paths {
		if o, ok := found[p]; ok {
			obs[i] = *o
		} else {
			obs[i] = host.Observation{Path: p}
		}
	}
	return obs, nil
}

// observeErrors returns an error for every line of stderr that is not a
// path reported missing. find and sha256sum escape control characters in
// names, so each complaint is exactly one line.
func observeErrors(stderr []byte) error {
	var bad []string
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(stderr)), "\n") {
		if seen[line] {
			continue
		}
		seen[line] = true
		if line == "" || strings.HasSuffix(line, ": No such file or directory") || strings.HasSuffix(line, ": Not a directory") {
			continue
		}
		bad = append(bad, line)
	}
	if len(bad) == 0 {
		return nil
	}
	err := fmt.Errorf("%d paths could not be examined: %s", len(bad), strings.Join(bad[:min(len(bad), 5)], "; "))
	if cause := classify([]byte(strings.Join(bad, "\n"))); cause != nil {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	return err
}

// parseObservations reads observeScript's output.
func parseObservations(b []byte) (map[string]*host.Observation, error) {
	fields := bytes.Split(b, []byte{0})
	found := map[string]*host.Observation{}
	i := 0
	for ; i < len(fields); i++ {
		f := fields[i]
		if string(f) == "H" {
			i++
			break
		}
		if len(f) != 2 || f[0] != 'S' || i+8 >= len(fields) {
			return nil, fmt.Errorf("malformed stat record %d (is GNU find 4.9 or newer installed on the host?)", i)
		}
		o := &host.Observation{Path: string(fields[i+1]), Exists: true}
		perm, err1 := strconv.ParseUint(string(fields[i+2]), 8, 32)
		uid, err2 := strconv.Atoi(string(fields[i+3]))
		gid, err3 := strconv.Atoi(string(fields[i+4]))
		size, err4 := strconv.ParseInt(string(fields[i+7]), 10, 64)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("malformed stat record for %q", o.Path)
		}
		o.Mode = modeOf(f[1], uint32(perm))
		o.UID, o.GID = uid, gid
		o.Owner, o.Group = string(fields[i+5]), string(fields[i+6])
		o.Size = size
		o.LinkTarget = string(fields[i+8])
		found[o.Path] = o
		i += 8
	}
	for ; i < len(fields); i++ {
		f := fields[i]
		if len(f) == 0 {
			continue
		}
		// "<64 hex>  <path>"
		if len(f) < 67 || f[64] != ' ' {
			return nil, fmt.Errorf("malformed checksum record %q", f[:min(len(f), 80)])
		}
		if o, ok := found[string(f[66:])]; ok {
			o.SHA256 = string(f[:64])
		}
	}
	return found, nil
}

// modeOf builds an fs.FileMode from find's %y type letter and octal %m.
func modeOf(typ byte, perm uint32) fs.FileMode {
	m := fs.FileMode(perm & 0o777)
	if perm&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if perm&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if perm&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	switch typ {
	case 'd':
		m |= fs.ModeDir
	case 'l':
		m |= fs.ModeSymlink
	case 'p':
		m |= fs.ModeNamedPipe
	case 's':
		m |= fs.ModeSocket
	case 'b':
		m |= fs.ModeDevice
	case 'c':
		m |= fs.ModeDevice | fs.ModeCharDevice
	}
	return m
}
