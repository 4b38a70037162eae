package filesync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/berthhq/berth/host"
)

// A tree is what a files directory holds, as one find listed it: every
// entry below it, parents before children, symbolic links not followed.
type tree struct {
	state   treeState
	entries []entry
}

type treeState byte

const (
	treeDir     treeState = 'P' // a directory: entries hold its contents
	treeAbsent  treeState = 'A'
	treeLink    treeState = 'L' // the directory itself is a symbolic link
	treeNotADir treeState = 'N'
)

// entry is one path of a tree.
type entry struct {
	typ   byte   // find's %y: f file, d directory, l symbolic link, others
	rel   string // relative to the tree's directory
	size  int64
	mtime int64 // seconds
	mode  string
	link  string // a link's target
}

// listScript lists each directory given: a state letter, then for a
// directory its entries (type, path, size, mtime, mode, link target), then
// E; every field NUL-terminated. The paths are arguments, never script.
const listScript = `for d; do
if [ -L "$d" ]; then printf 'L\0'
elif [ ! -e "$d" ]; then printf 'A\0'
elif [ ! -d "$d" ]; then printf 'N\0'
else printf 'P\0'; find "$d" -mindepth 1 -printf '%y\0%P\0%s\0%T@\0%m\0%l\0' || exit 1; printf 'E\0'
fi
done`

// listTrees lists dirs on h in one round trip.
func listTrees(ctx context.Context, h host.Host, dirs []string) ([]tree, error) {
	if len(dirs) == 0 {
		return nil, nil
	}
	res, err := h.Run(ctx, append([]string{"sh", "-c", listScript, "berth-files-list"}, dirs...), host.RunOptions{})
	if err != nil {
		return nil, fmt.Errorf("list the files of %s on %s: %w (%s)", strings.Join(dirs, ", "), h.Name(), err, bytes.TrimSpace(res.Stderr))
	}
	fields := strings.Split(string(res.Stdout), "\x00")
	out := make([]tree, 0, len(dirs))
	i := 0
	next := func() (string, bool) {
		if i >= len(fields)-1 { // the last field is the empty one after the final NUL
			return "", false
		}
		i++
		return fields[i-1], true
	}
	for range dirs {
		st, ok := next()
		if !ok || len(st) != 1 {
			return nil, fmt.Errorf("list the files on %s: the listing is cut short", h.Name())
		}
		t := tree{state: treeState(st[0])}
		if t.state == treeDir {
			for {
				typ, ok := next()
				if !ok {
					return nil, fmt.Errorf("list the files on %s: the listing is cut short", h.Name())
				}
				if typ == "E" {
					break
				}
				var f [5]string
				for k := range f {
					if f[k], ok = next(); !ok {
						return nil, fmt.Errorf("list the files on %s: the listing is cut short", h.Name())
					}
				}
				size, _ := strconv.ParseInt(f[1], 10, 64)
				secs, _, _ := strings.Cut(f[2], ".")
				mtime, _ := strconv.ParseInt(secs, 10, 64)
				if len(typ) != 1 || f[0] == "" {
					return nil, fmt.Errorf("list the files on %s: an entry of type %q named %q", h.Name(), typ, f[0])
				}
				t.entries = append(t.entries, entry{typ: typ[0], rel: f[0], size: size, mtime: mtime, mode: f[3], link: f[4]})
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// diff is what makes a server's files directory the primary's.
type diff struct {
	// remove are the paths to delete on the server (the topmost only),
	// copy the paths to copy from the primary (parents first).
	remove, copy []string
	files        int    // regular files among copy
	bytes        int64  // their size
	skipped      int    // entries of the primary that are neither file, directory nor link
	via          string // the transport that copied them: tar or rsync
}

func (d diff) empty() bool { return len(d.remove) == 0 && len(d.copy) == 0 }

// summary says what d does, in counts and bytes.
func (d diff) summary() string {
	var parts []string
	if n := len(d.copy); n > 0 {
		parts = append(parts, fmt.Sprintf("copy %s (%d file%s, %s)", plural(n, "entry", "entries"), d.files, plural1(d.files), humanBytes(d.bytes)))
	}
	if n := len(d.remove); n > 0 {
		parts = append(parts, "delete "+plural(n, "entry", "entries"))
	}
	s := strings.Join(parts, " and ")
	if d.skipped > 0 {
		s += fmt.Sprintf(" (%d special file%s skipped)", d.skipped, plural1(d.skipped))
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func plural1(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// diffTrees returns what makes dst (the server's tree) src (the
// primary's): an entry of dst that src lacks, or has as another type or
// another link, is deleted; an entry of src that dst lacks or has with
// another size, modification time or mode is copied (a directory's
// modification time is not compared: copying into it changes it).
func diffTrees(src, dst tree) diff {
	var d diff
	have := make(map[string]entry, len(dst.entries))
	for _, e := range dst.entries {
		have[e.rel] = e
	}
	want := make(map[string]entry, len(src.entries))
	for _, e := range src.entries {
		want[e.rel] = e
	}
	removed := map[string]bool{}
	under := func(rel string) bool {
		for p := parent(rel); p != ""; p = parent(p) {
			if removed[p] {
				return true
			}
		}
		return false
	}
	for _, e := range dst.entries {
		w, ok := want[e.rel]
		if ok && w.typ == e.typ && (e.typ != 'l' || w.link == e.link) {
			continue
		}
		if !under(e.rel) {
			d.remove = append(d.remove, e.rel)
		}
		removed[e.rel] = true
	}
	for _, e := range src.entries {
		switch e.typ {
		case 'f', 'd', 'l':
		default:
			d.skipped++
			continue
		}
		h, ok := have[e.rel]
		if ok && !removed[e.rel] && !under(e.rel) {
			switch e.typ {
			case 'f':
				if h.size == e.size && h.mtime == e.mtime && h.mode == e.mode {
					continue
				}
			case 'd':
				if h.mode == e.mode {
					continue
				}
			case 'l':
				continue
			}
		}
		d.copy = append(d.copy, e.rel)
		if e.typ == 'f' {
			d.files++
			d.bytes += e.size
		}
	}
	return d
}

func parent(rel string) string {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return ""
	}
	return rel[:i]
}

// removeScript deletes, in the directory $1, each NUL-separated relative
// path read from standard input, unless its parent resolves outside the
// directory (a symbolic link put there since the listing).
const removeScript = `set -e
d=$(realpath -e -- "$1")
xargs -0 -r sh -c 'd=$1; shift
for p; do
  up=$(realpath -e -- "$(dirname -- "$d/$p")") || continue
  case "$up/" in "$d"/*) rm -rf -- "$d/$p" ;; *) echo "skipped $p: its parent leaves $d" >&2 ;; esac
done' berth-files-remove "$d"`

// transfer makes dir on dst what d says: the deletions first, then one
// tar stream of the paths to copy from src's dir to dst's, through berth.
// Symbolic links travel as links (tar does not follow them); tar refuses
// members that climb out of the directory.
func transfer(ctx context.Context, src, dst host.Host, srcDir, dstDir string, d diff) error {
	if len(d.remove) > 0 {
		res, err := dst.Run(ctx, []string{"sh", "-c", removeScript, "berth-files-remove", dstDir},
			host.RunOptions{Stdin: strings.NewReader(strings.Join(d.remove, "\x00") + "\x00")})
		if err != nil {
			return fmt.Errorf("delete %s in %s on %s: %w (%s)", plural(len(d.remove), "entry", "entries"), dstDir, dst.Name(), err, bytes.TrimSpace(res.Stderr))
		}
	}
	if len(d.copy) == 0 {
		return nil
	}
	pr, pw := io.Pipe()
	list := strings.NewReader(strings.Join(d.copy, "\x00") + "\x00")
	var srcErr bytes.Buffer
	done := make(chan error, 1)
	go func() {
		_, err := src.Run(ctx, []string{"tar", "-C", srcDir, "--null", "--verbatim-files-from", "--no-recursion", "-T", "-", "-cf", "-"},
			host.RunOptions{Stdin: list, Stdout: pw, Stderr: &srcErr})
		if _, ok := TarChanged(err, srcErr.Bytes()); ok {
			// Copied as read; the next run compares them again.
			err = nil
		}
		if err != nil {
			err = fmt.Errorf("read %s on %s: %w (%s)", srcDir, src.Name(), err, bytes.TrimSpace(srcErr.Bytes()))
		}
		pw.CloseWithError(err)
		done <- err
	}()
	var dstErr bytes.Buffer
	_, err := dst.Run(ctx, []string{"tar", "-C", dstDir, "-xf", "-"}, host.RunOptions{Stdin: pr, Stderr: &dstErr})
	pr.CloseWithError(errors.New("the receiving tar ended"))
	serr := <-done
	if serr != nil {
		return serr
	}
	if err != nil {
		return fmt.Errorf("write %s on %s: %w (%s)", dstDir, dst.Name(), err, bytes.TrimSpace(dstErr.Bytes()))
	}
	return nil
}

// tarChanged matches GNU tar's warnings (exit status 1 when creating an
// archive) about a file that changed, shrank or went away while it was
// read.
var tarChanged = regexp.MustCompile(`^tar: (.+): (file changed as we read it|File removed before we read it|File shrank by [0-9]+ bytes; padding with zeros)$`)

// TarChanged says whether err, tar's failure to create an archive with
// stderr its standard error, is only that files changed while tar read
// them (exit status 1 and nothing but those warnings): the archive is
// whole, each such file in it as it was read. It returns the warnings
// ("PATH: what happened"); false for any other failure, and for none.
func TarChanged(err error, stderr []byte) ([]string, bool) {
	var ee *host.ExitError
	if !errors.As(err, &ee) || ee.Code != 1 {
		return nil, false
	}
	var changed []string
	for line := range strings.Lines(string(stderr)) {
		m := tarChanged.FindStringSubmatch(strings.TrimRight(line, "\n"))
		if m == nil {
			return nil, false
		}
		changed = append(changed, m[1]+": "+m[2])
	}
	return changed, len(changed) > 0
}
