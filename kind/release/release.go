package release

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/reconcile"
)

// KindRelease is a platform's deployed code on one server: a build
// directory per revision and the `current` link to the live one.
const KindRelease = "release"

func init() {
	reconcile.RegisterKind(reconcile.Kind{Name: KindRelease, Prune: func(rec reconcile.Record) reconcile.Resource {
		rec.Site = "" // a release belongs to a platform, not a site
		return &Release{Base: reconcile.PrunedBase(KindRelease, rec), buildID: rec.Hash}
	}})
}

// BuildMarker is the file written last into a build directory: a build
// without it is incomplete, and berth prunes only builds that hold it.
const BuildMarker = ".berth-build"

// Release deploys one build of a platform to one server:
//
//	<platform dir>/builds/<id>/      the build, shipped as one tar stream
//	<platform dir>/builds/<id>/.berth-build   written last: the build is complete
//	<platform dir>/current -> builds/<id>     switched atomically (ln -s + mv -T)
//
// The build itself is made once on the controller for all servers of the
// platform (see Artifact). current switches only after the build was
// shipped completely; old builds beyond the platform's keep_builds are
// deleted, never the live one and never a directory without the marker.
//
// A real directory at current (code copied file by file by an older berth)
// is moved aside into builds/ and kept; the link replaces it.
//
// The platform directory is the environment's own (render.PlatformDir):
// two environments on one server never share a current link or a builds/
// directory, so one's switch or prune never touches the other's code.
type Release struct {
	reconcile.Base // Path is <platform dir>/current
	platform       string
	buildID        string
	keep           int
	art            *Artifact
	supersedes     []string
	now            func() time.Time
	// rolled: a switch from another build is left to the platform's
	// roll (see Roll); the release ships only.
	rolled bool
}

// ReleaseSpec describes a platform's deploy to one server.
type ReleaseSpec struct {
	ID, Server, Platform string
	// Current is the path of the platform's `current` link; builds live
	// in builds/ next to it.
	Current string
	// Keep is how many builds stay on the server, the live one included.
	Keep int
	// Legacy is the `current` of the layout older berth versions shared
	// between every environment on a server (<web_root>/platforms/
	// <platform>/current). The release leaves it alone — another
	// environment may still serve it — and the inventory records at or
	// under it are forgotten, not deleted.
	Legacy string
	Deps   []string
}

// New returns the resource deploying art to one server.
func New(s ReleaseSpec, art *Artifact) *Release {
	return &Release{Base: reconcile.NewBase(reconcile.BaseSpec{Kind: KindRelease, ID: s.ID, Server: s.Server, Path: s.Current, Deps: s.Deps}),
		platform: s.Platform, buildID: art.id, keep: max(s.Keep, 1), art: art,
		supersedes: slices.DeleteFunc([]string{s.Current, s.Legacy}, func(p string) bool { return p == "" })}
}

// MarkRolled leaves the switch of a `current` that links to another build
// to the platform's Roll, which takes its web servers one at a time out
// of their load balancer: the release then only ships the build (a
// server without a current yet is switched at once: it serves nothing of
// the platform). Builders call it while they assemble the desired state,
// never once the engine has the resource.
func (r *Release) MarkRolled() { r.rolled = true }

// Build names the build the release makes live (BuildID).
func (r *Release) Build() string { return r.buildID }

// current is the path of the `current` link.
func (r *Release) current() string { return r.Path() }

func (r *Release) Observe() []string { return []string{r.current(), r.marker(r.buildID)} }

// Supersedes names the paths whose older resources (files copied into
// current by an older berth) this release replaces: the engine forgets
// them instead of deleting them through the new link.
func (r *Release) Supersedes() []string { return r.supersedes }

func (r *Release) buildsDir() string           { return path.Join(path.Dir(r.current()), "builds") }
func (r *Release) buildDir(id string) string   { return path.Join(r.buildsDir(), id) }
func (r *Release) marker(id string) string     { return path.Join(r.buildDir(id), BuildMarker) }
func (r *Release) linkTarget(id string) string { return "builds/" + id }

func (r *Release) Check(ctx context.Context, in reconcile.CheckInput) (reconcile.Change, error) {
	cur := in.Obs[r.current()]
	isLink := cur.Exists && cur.Mode&os.ModeSymlink != 0
	if r.Absent() {
		switch {
		case !cur.Exists: // an interrupted deletion: finish it, forget it
			c := r.NewChange(reconcile.Delete, "current link already gone; berth's builds are removed and the release forgotten")
			c.Found = &prior{}
			return c, nil
		case in.Record != nil && in.Record.Adopted:
			return r.NewChange(reconcile.None, "kept: it existed before berth managed it"), nil
		case !isLink:
			return r.NewChange(reconcile.None, "kept: current is no longer a link berth made"), nil
		}
		c := r.NewChange(reconcile.Delete, "no longer declared: the current link and berth's builds are removed")
		c.Diff = fmt.Sprintf("- %s -> %s\n", r.current(), cur.LinkTarget)
		c.Found = &prior{exists: true, obs: cur}
		return c, nil
	}

	want := r.linkTarget(r.buildID)
	shipped := in.Obs[r.marker(r.buildID)].IsRegular()
	if isLink && cur.LinkTarget == want && shipped {
		return r.NewChange(reconcile.None, ""), nil
	}
	var reasons []string
	action := reconcile.Update
	switch {
	case !cur.Exists:
		action = reconcile.Create
	case isLink && cur.LinkTarget != want && in.Record == nil && !in.Adopt:
		return r.NewChange(reconcile.Conflict, fmt.Sprintf("current links to %s, which berth did not make; run with --adopt to let berth take it over", cur.LinkTarget)), nil
	case cur.IsDir():
		reasons = append(reasons, "current is a directory (code copied by an older berth, or by hand): it is moved aside into builds/ and kept")
	case !isLink:
		return r.NewChange(reconcile.Conflict, fmt.Sprintf("current exists and is neither a link nor a directory (%s); remove it by hand", cur.Mode.Type())), nil
	}
	if r.rolled && isLink && cur.LinkTarget != want {
		// The roll switches it, once every server holds the build.
		reason := fmt.Sprintf("build %s (%s) is shipped; current switches from %s in the roll over the load balancer", r.buildID, r.art.source, cur.LinkTarget)
		if shipped {
			reason = fmt.Sprintf("build %s is on the server; current switches from %s in the roll over the load balancer", r.buildID, cur.LinkTarget)
		}
		c := r.NewChange(reconcile.Update, reason)
		c.Found = &prior{exists: true, obs: cur, shipped: shipped, held: true}
		return c, nil
	}
	if rec := in.Record; rec != nil && rec.Path != r.current() && rec.Path != "" {
		reasons = append(reasons, fmt.Sprintf("the release moves from %s to the environment's own platform directory; %s is left alone (another environment may still serve it): remove it by hand once no site points into it", rec.Path, path.Dir(rec.Path)))
	}
	if !shipped {
		reasons = append(reasons, fmt.Sprintf("build %s (%s) is built once and shipped", r.buildID, r.art.source))
	}
	if isLink && cur.LinkTarget != want {
		reasons = append(reasons, fmt.Sprintf("current switches from %s", cur.LinkTarget))
	} else if !isLink {
		reasons = append(reasons, "current is linked to it")
	}
	c := r.NewChange(action, strings.Join(reasons, "; "))
	before := "(none)"
	switch {
	case isLink:
		before = cur.LinkTarget
	case cur.Exists:
		before = "(directory)"
	}
	c.Diff = fmt.Sprintf("- %s -> %s\n+ %s -> %s\n", r.current(), before, r.current(), want)
	c.Found = &prior{exists: cur.Exists, obs: cur, shipped: shipped}
	return c, nil
}

// Shell scripts the release runs on a server. They are fixed text: every
// path reaches them as a positional argument, never inside the script.
const (
	// switchScript points the link $1 at $2 atomically: a new link under a
	// temporary name renamed over $1. A real directory at $1 is first
	// moved to $4 (when $4 is set). $3 (the marker of the build going
	// live) is touched: its time orders builds for pruning.
	switchScript = `set -e
link=$1 target=$2 marker=$3 aside=$4
tmp="$link.berth-new"
rm -f -- "$tmp"
ln -s -- "$target" "$tmp"
if [ -n "$aside" ] && [ -d "$link" ] && [ ! -L "$link" ]; then mv -T -- "$link" "$aside"; fi
mv -T -- "$tmp" "$link"
touch -c -- "$marker"`

	// deployScript is what Apply runs, in one session. When $7 is "ship"
	// and the build's marker $4 is not there yet, it unpacks the gzipped
	// tar stream on stdin into $1.tmp and, only when it is complete (tar
	// succeeded and the marker, its last entry, is there), renames it to
	// $1. Then, unless $8 is "hold" (the roll switches it), as
	// switchScript, it points the link $2 at $3 when it points elsewhere
	// ($5: where a real directory at $2 goes aside), and lists the builds
	// under $6 as listScript. A failed step names itself on stderr.
	deployScript = `set -e
d=$1 link=$2 target=$3 marker=$4 aside=$5 builds=$6 step=` + stepShip + `
trap 'st=$?; [ $st -eq 0 ] || echo "$step" >&2' EXIT
if [ "$7" = ship ]; then
  if [ -f "$marker" ]; then cat >/dev/null; else
    rm -rf -- "$d.tmp"
    mkdir -p -- "$d.tmp"
    tar -xzmf - --no-same-owner -C "$d.tmp"
    test -f "$d.tmp/` + BuildMarker + `"
    rm -rf -- "$d"
    mv -T -- "$d.tmp" "$d"
  fi
fi
step=` + stepSwitch + `
if [ ! -f "$marker" ]; then echo "build $d is not on the server (removed since the plan?): the next apply ships it" >&2; exit 1; fi
if [ "$8" != hold ] && { [ ! -L "$link" ] || [ "$(readlink -- "$link")" != "$target" ]; }; then
  tmp="$link.berth-new"
  rm -f -- "$tmp"
  ln -s -- "$target" "$tmp"
  if [ -d "$link" ] && [ ! -L "$link" ]; then mv -T -- "$link" "$aside"; fi
  mv -T -- "$tmp" "$link"
  touch -c -- "$marker"
fi
step=` + stepList + `
[ -d "$builds" ] || exit 0
find "$builds" -mindepth 2 -maxdepth 2 -name '` + BuildMarker + `' -type f -printf '%T@ %h\0'`

	// The steps of deployScript, as it names a failed one on stderr.
	stepShip, stepSwitch, stepList = "berth-step:ship", "berth-step:switch", "berth-step:list"

	// listScript prints "<marker mtime> <build dir>\0" for every build
	// berth made under $1.
	listScript = `[ -d "$1" ] || exit 0
exec find "$1" -mindepth 2 -maxdepth 2 -name '` + BuildMarker + `' -type f -printf '%T@ %h\0'`
)

// buildName matches the builds berth names (see BuildID).
var buildName = regexp.MustCompile(`^[0-9a-f]{12}(-[0-9a-f]{6})?$`)

func (r *Release) Apply(ctx context.Context, h host.Host, c *reconcile.Change) error {
	if c.Action == reconcile.Delete {
		return r.remove(ctx, h)
	}
	// One session ships the build (unless the plan found it there),
	// switches current to it and lists the builds to prune. The script
	// looks again before it unpacks: another run, or an earlier attempt of
	// this one, may have shipped the build already (certmagic's check
	// after the lock).
	var stdin io.Reader
	ship, hold := "", ""
	p, _ := c.Found.(*prior)
	if p == nil || !p.shipped {
		archive, err := r.art.prepare(ctx)
		if err != nil {
			return err
		}
		f, err := os.Open(archive)
		if err != nil {
			return fmt.Errorf("open build %s of platform %s: %w", r.buildID, r.platform, err)
		}
		defer f.Close()
		stdin, ship = f, "ship"
	}
	live := []string{r.buildID}
	if p != nil && p.held {
		hold = "hold"
		live = append(live, path.Base(p.obs.LinkTarget)) // still live until the roll
	}
	want := r.linkTarget(r.buildID)
	aside := r.buildDir("previous-" + r.clock().UTC().Format("20060102T150405Z"))
	res, err := h.Run(ctx, []string{"sh", "-c", deployScript, "sh", r.buildDir(r.buildID), r.current(), want, r.marker(r.buildID), aside, r.buildsDir(), ship, hold},
		host.RunOptions{Stdin: stdin})
	if err != nil {
		switch {
		case bytes.Contains(res.Stderr, []byte(stepShip)):
			return fmt.Errorf("ship build %s of platform %s into %s (current was not switched; the next apply ships it again): %w",
				r.buildID, r.platform, r.buildDir(r.buildID), err)
		case bytes.Contains(res.Stderr, []byte(stepList)):
			return fmt.Errorf("list the builds in %s: %w", r.buildsDir(), err)
		}
		return fmt.Errorf("switch %s to %s (the old one stays live): %w", r.current(), want, err)
	}
	return r.pruneListed(ctx, h, r.keep, res.Stdout, live...)
}

func (r *Release) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// prune deletes berth's builds beyond the keep newest (by the time they
// last went live), never live (the current target) and never one that
// lacks the marker or has a name berth does not give.
func (r *Release) prune(ctx context.Context, h host.Host, keep int, live ...string) error {
	out, err := run(ctx, h, "sh", "-c", listScript, "sh", r.buildsDir())
	if err != nil {
		return fmt.Errorf("list the builds in %s: %w", r.buildsDir(), err)
	}
	return r.pruneListed(ctx, h, keep, out, live...)
}

// pruneListed is prune with the listing of listScript (out) at hand; the
// builds named live are kept and count toward keep.
func (r *Release) pruneListed(ctx context.Context, h host.Host, keep int, out []byte, live ...string) error {
	type build struct {
		dir string
		t   float64
	}
	var builds []build
	for _, rec := range bytes.Split(out, []byte{0}) {
		ts, dir, ok := strings.Cut(string(rec), " ")
		if !ok || path.Dir(dir) != r.buildsDir() || !buildName.MatchString(path.Base(dir)) || slices.Contains(live, path.Base(dir)) {
			continue
		}
		t, _ := strconv.ParseFloat(ts, 64)
		builds = append(builds, build{dir, t})
	}
	slices.SortFunc(builds, func(a, b build) int {
		if a.t != b.t {
			if a.t > b.t {
				return -1
			}
			return 1
		}
		return strings.Compare(b.dir, a.dir)
	})
	others := keep - len(live) // the live builds count
	if len(builds) <= others {
		return nil
	}
	argv := []string{"rm", "-rf", "--"}
	for _, b := range builds[max(others, 0):] {
		argv = append(argv, b.dir)
	}
	if _, err := run(ctx, h, argv...); err != nil {
		return fmt.Errorf("delete old builds of platform %s: %w", r.platform, err)
	}
	return nil
}

// remove deletes the current link and every build berth made.
func (r *Release) remove(ctx context.Context, h host.Host) error {
	obs, err := h.Observe(ctx, []string{r.current()})
	if err != nil {
		return err
	}
	if cur := obs[0]; cur.Exists && cur.Mode&os.ModeSymlink == 0 {
		return &reconcile.KeptError{Path: r.current(), Reason: "no longer a link berth made"}
	}
	if err := h.Remove(ctx, r.current()); err != nil {
		return err
	}
	if err := r.prune(ctx, h, 0); err != nil {
		return err
	}
	if err := h.Remove(ctx, r.buildsDir()); err != nil && !errors.Is(err, host.ErrNotEmpty) {
		return err
	}
	return nil
}

func (r *Release) Undo(ctx context.Context, h host.Host, c *reconcile.Change) error {
	p, _ := c.Found.(*prior)
	switch {
	case p == nil:
		return fmt.Errorf("cannot restore %s: its prior state was not recorded", r.current())
	case p.obs.Mode&os.ModeSymlink != 0:
		_, err := run(ctx, h, "sh", "-c", switchScript, "sh", r.current(), p.obs.LinkTarget, path.Join(path.Dir(r.current()), p.obs.LinkTarget, BuildMarker), "")
		return err
	case !p.exists:
		return h.Remove(ctx, r.current())
	}
	return nil // a directory moved aside stays in builds/
}

func (r *Release) Record() reconcile.Record {
	rec := r.NewRecord()
	rec.Hash = r.buildID
	return rec
}

// prior is the `current` path before a change (Change.Found), which Undo
// puts back.
type prior struct {
	exists  bool
	obs     host.Observation
	shipped bool // the build was on the server when the plan looked
	held    bool // current links to another build, which the roll switches
}

// run runs argv and returns its stdout. A failure's error carries the
// command's stderr (host.ExitError).
func run(ctx context.Context, h host.Host, argv ...string) ([]byte, error) {
	res, err := h.Run(ctx, argv, host.RunOptions{})
	return res.Stdout, err
}
