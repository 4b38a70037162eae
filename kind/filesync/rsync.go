package filesync

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/berthhq/berth/host"
)

// rsync as the transport of a copy. Neither server can reach the other,
// and neither holds credentials for the other: berth relays rsync's own
// protocol between its two connections. On the primary, the rsync client
// runs as the sender with a remote shell that is a relay: it writes the
// command the client wants run on the "remote" side to the session's
// output (a header), then passes bytes between the client and the
// session. berth reads the header, checks that it is rsync's server
// writing into the server's files directory, runs it on the server, and
// joins the two sessions' streams.

// rsyncScript runs on the primary: $1 the primary's files directory, $2
// the server's, $3 the nonce of the exit line it writes to its standard
// error once rsync exited. The relay's own arguments (after its $0) are
// the host and the remote command; fds 3 and 4 are the session's input
// and output.
const rsyncScript = `exec 3<&0 4>&1 1>&2
rsync -a --delete -e 'sh -c '\''printf "%s\0" "$#" "$@" >&4; exec 5<&0; cat <&5 >&4 3<&- 5<&- & exec cat <&3 4>&- 5<&-'\'' berth-relay' -- "$1/" "berth:$2/" </dev/null
rc=$?
printf '\nberth-rsync-exit %s %d\n' "$3" "$rc" >&2
exit "$rc"`

// rsyncVanished is rsync's exit status when files of the source vanished
// while it ran ("some files vanished before they could be transferred",
// a file deleted meanwhile): the rest is copied, and the next run
// compares the directories again, as after tar's "file changed as we
// read it" (TarChanged).
const rsyncVanished = 24

// serverScript runs rsync's server on the server ("$@" from the relay's
// header, checked by serverArgv) and writes the exit line with nonce $1.
const serverScript = `n=$1; shift
"$@"
rc=$?
printf '\nberth-rsync-exit %s %d\n' "$n" "$rc" >&2
exit "$rc"`

// exitWatch is the standard error of one side of the relay: it keeps the
// text and reports the exit line (with the transfer's nonce) on exited.
// Each side's session ends only once its standard input does, and that
// input is the other side's output: berth closes both once both rsyncs
// exited, or at once when one failed.
type exitWatch struct {
	buf    bytes.Buffer
	nonce  string
	exited chan int
	sent   bool
}

func (w *exitWatch) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if !w.sent {
		for _, line := range strings.Split(w.buf.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, "berth-rsync-exit "+w.nonce+" "); ok {
				if rc, err := strconv.Atoi(rest); err == nil {
					w.sent = true
					w.exited <- rc
				}
			}
		}
	}
	return len(p), nil
}

// text is what the side wrote, without the exit line.
func (w *exitWatch) text() string {
	var keep []string
	for _, line := range strings.Split(w.buf.String(), "\n") {
		if line != "" && !strings.HasPrefix(line, "berth-rsync-exit "+w.nonce+" ") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "; ")
}

// haveRsync reports whether rsync runs on h.
func haveRsync(ctx context.Context, h host.Host) bool {
	_, err := h.Run(ctx, []string{"rsync", "--version"}, host.RunOptions{})
	return err == nil
}

// errRelay is wrapped by the error of a relay whose header is not what
// berth asked for.
var errRelay = errors.New("the rsync relay on the primary asked for an unexpected command")

// readHeader reads the relay's header: a count, then that many
// arguments, each NUL-terminated.
func readHeader(r *bufio.Reader) ([]string, error) {
	field := func() (string, error) {
		s, err := r.ReadString(0)
		if err != nil {
			return "", fmt.Errorf("read the rsync relay's header: %w", err)
		}
		return strings.TrimSuffix(s, "\x00"), nil
	}
	c, err := field()
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(c)
	if err != nil || n < 1 || n > 64 {
		return nil, fmt.Errorf("%w: count %q", errRelay, c)
	}
	args := make([]string, n)
	for i := range args {
		if args[i], err = field(); err != nil {
			return nil, err
		}
	}
	return args, nil
}

// shortOpts matches a bundle of rsync's one-letter options.
var shortOpts = regexp.MustCompile(`^-[A-Za-z][A-Za-z.]*$`)

// serverArgv checks the relay's arguments (host "berth", then rsync's
// server command ending with the destination) and returns the command to
// run on the server: rsync's server options, then "." and dstDir/.
func serverArgv(args []string, dstDir string) ([]string, error) {
	if len(args) < 5 || args[0] != "berth" || args[1] != "rsync" || args[2] != "--server" || slices.Contains(args, "--sender") {
		return nil, fmt.Errorf("%w: %q", errRelay, args)
	}
	opts := args[3 : len(args)-2]
	for _, o := range opts {
		// What rsync -a --delete sends: bundles of letters (and the
		// capability string after e), and --delete; nothing that names
		// a path (--log-file, --temp-dir, --backup-dir...) or a value.
		if o != "--delete" && !shortOpts.MatchString(o) {
			return nil, fmt.Errorf("%w: option %q in %q", errRelay, o, args)
		}
	}
	if args[len(args)-2] != "." || strings.TrimSuffix(args[len(args)-1], "/") != dstDir {
		return nil, fmt.Errorf("%w: %q", errRelay, args)
	}
	return append(append([]string{"rsync", "--server"}, opts...), ".", dstDir+"/"), nil
}

// rsyncTransfer makes dstDir on dst srcDir on src with rsync -a --delete,
// relayed through berth.
func rsyncTransfer(ctx context.Context, src, dst host.Host, srcDir, dstDir string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var nb [8]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return err
	}
	nonce := hex.EncodeToString(nb[:])
	toSrc, toSrcW := io.Pipe()     // the server's output, to the primary
	fromSrc, fromSrcW := io.Pipe() // the primary's output
	srcErr := &exitWatch{nonce: nonce, exited: make(chan int, 1)}
	dstErr := &exitWatch{nonce: nonce, exited: make(chan int, 1)}
	srcDone := make(chan error, 1)
	go func() {
		_, err := src.Run(ctx, []string{"sh", "-c", rsyncScript, "berth-rsync", srcDir, dstDir, nonce},
			host.RunOptions{Stdin: toSrc, Stdout: fromSrcW, Stderr: srcErr})
		fromSrcW.CloseWithError(io.EOF)
		srcDone <- err
	}()
	br := bufio.NewReader(fromSrc)
	args, err := readHeader(br)
	var argv []string
	if err == nil {
		argv, err = serverArgv(args, dstDir)
	}
	if err != nil {
		cancel()
		toSrcW.CloseWithError(err)
		fromSrc.CloseWithError(err)
		<-srcDone
		if t := srcErr.text(); t != "" {
			return fmt.Errorf("rsync on %s: %w (%s)", src.Name(), err, t)
		}
		return err
	}
	// The server's input: what the primary sends, until the server's
	// rsync exited (then the rest is read and dropped, so the primary's
	// writes never fail).
	dstIn, dstInW := io.Pipe()
	go func() {
		if _, err := io.Copy(dstInW, br); err != nil {
			_, _ = io.Copy(io.Discard, br)
		}
		dstInW.CloseWithError(io.EOF)
	}()
	dstDone := make(chan error, 1)
	go func() {
		_, err := dst.Run(ctx, append([]string{"sh", "-c", serverScript, "berth-rsync", nonce}, argv...),
			host.RunOptions{Stdin: dstIn, Stdout: toSrcW, Stderr: dstErr})
		dstDone <- err
	}()
	// Each session ends only once its input does. When the server's rsync
	// exited, its input ends; once its session ended (all its output
	// delivered), the primary's input ends, which ends the relay, and
	// rsync's client exits. A primary that failed or ended ends the
	// server's input too.
	srcRC, dstRC := -1, -1
	var srcRunErr, dstRunErr error
	srcEnded, dstEnded := false, false
	for !srcEnded || !dstEnded {
		select {
		case srcRC = <-srcErr.exited:
			if srcRC != 0 {
				dstInW.CloseWithError(io.EOF)
			}
		case dstRC = <-dstErr.exited:
			dstInW.CloseWithError(io.EOF)
		case srcRunErr = <-srcDone:
			srcEnded = true
			dstInW.CloseWithError(io.EOF)
		case dstRunErr = <-dstDone:
			dstEnded = true
			dstInW.CloseWithError(io.EOF)
			toSrcW.CloseWithError(io.EOF)
		}
	}
	switch {
	case dstRC != 0 || dstRunErr != nil && srcRC == 0:
		return fmt.Errorf("rsync on %s: exit %d: %v (%s)", dst.Name(), dstRC, dstRunErr, dstErr.text())
	case srcRC != 0 && srcRC != rsyncVanished:
		return fmt.Errorf("rsync on %s: exit %d: %v (%s)", src.Name(), srcRC, srcRunErr, srcErr.text())
	}
	return nil
}
