package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/berthhq/berth/host"
)

// WriteBatch implements host.Host: one session runs batchScript (Perl)
// with every op and all file contents on its standard input. A host
// without perl gets one command per op instead (correct, but one round
// trip each).
func (h *Host) WriteBatch(ctx context.Context, ops []host.BatchOp) ([]host.BatchResult, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	if err := host.CheckBatch(ops); err != nil {
		err = fmt.Errorf("ssh %s: %w", h.name, err)
		return host.FailAll(ops, err), err
	}
	order := host.BatchOrder(ops)
	var readers []io.Reader
	var hdr bytes.Buffer
	field := func(s string) { hdr.WriteString(s); hdr.WriteByte(0) }
	flush := func() {
		if hdr.Len() > 0 {
			readers = append(readers, bytes.NewReader(bytes.Clone(hdr.Bytes())))
			hdr.Reset()
		}
	}
	committed := false
	for _, i := range order {
		op := ops[i]
		mode := strconv.FormatUint(uint64(unixMode(op.Opts.FileMode())), 8)
		switch op.Kind {
		case host.OpDir:
			field("D")
			field(op.Path)
			field(mode)
			field(op.Opts.Owner)
			field(op.Opts.Group)
		case host.OpFile:
			field("W")
			field(op.Path)
			field(mode)
			field(op.Opts.Owner)
			field(op.Opts.Group)
			field(strconv.Itoa(len(op.Data)))
			flush()
			readers = append(readers, bytes.NewReader(op.Data))
		case host.OpRemove:
			if !committed {
				field("C")
				committed = true
			}
			field("R")
			field(op.Path)
		}
	}
	if !committed {
		field("C")
	}
	field("E")
	flush()
	// The script numbers ops in the order it reads them: order[k] is op k.
	var out bytes.Buffer
	crash := strconv.Itoa(h.batchCrash)
	_, err := h.script(ctx, "batch", batchWrapper, fullReader{io.MultiReader(readers...)}, &out, h.perl(), batchScript, crash)
	res := make([]host.BatchResult, len(ops))
	if perr := parseBatch(out.Bytes(), order, res, func(i int, msg string) error {
		return h.itemError(opVerb[ops[i].Kind]+" "+ops[i].Path, msg)
	}); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		var ee *host.ExitError
		if errors.As(err, &ee) && ee.Code == 127 && strings.Contains(string(ee.Stderr), "perl not found") {
			return h.writeEach(ctx, ops, order)
		}
		err = h.opError("write batch of", fmt.Sprintf("%d ops", len(ops)), err)
		for i := range res {
			if !res[i].Done && res[i].Err == nil {
				res[i].Err = err
			}
			res[i].Kind, res[i].Path = ops[i].Kind, ops[i].Path
		}
		return res, err
	}
	for i := range res {
		if !res[i].Done && res[i].Err == nil {
			res[i].Err = fmt.Errorf("ssh %s: write batch: no outcome reported for %s", h.name, ops[i].Path)
		}
	}
	return res, host.BatchOutcome(h.name, ops, res)
}

// perl names the interpreter the batch scripts run with.
func (h *Host) perl() string {
	if h.perlName != "" {
		return h.perlName
	}
	return "perl"
}

// fullReader fills every Read from r as far as r goes. The session copies
// its stdin one Read per SSH packet; an io.MultiReader of thousands of
// small headers and files would otherwise send thousands of tiny packets.
type fullReader struct{ r io.Reader }

func (f fullReader) Read(p []byte) (int, error) {
	n, err := io.ReadFull(f.r, p)
	if err == io.ErrUnexpectedEOF {
		err = nil // the rest was short; the next Read says EOF
	}
	return n, err
}

var opVerb = map[host.OpKind]string{host.OpDir: "ensure directory", host.OpFile: "write", host.OpRemove: "remove"}

// itemError turns the script's message for one op into an error wrapping
// the cause classify finds.
func (h *Host) itemError(what, msg string) error {
	if cause := classify([]byte(msg)); cause != nil {
		return fmt.Errorf("ssh %s: %s: %s: %w", h.name, what, msg, cause)
	}
	return fmt.Errorf("ssh %s: %s: %s", h.name, what, msg)
}

// parseBatch reads batchScript's output into res. A record cut off at the
// end (the connection died) is ignored.
func parseBatch(b []byte, order []int, res []host.BatchResult, itemErr func(i int, msg string) error) error {
	fields := strings.Split(string(b), "\x00")
	fields = fields[:len(fields)-1] // after the last NUL: empty, or a cut-off field
	for k := 0; k < len(fields); {
		if k+1 >= len(fields) {
			break
		}
		n, err := strconv.Atoi(fields[k])
		if err != nil || n < 0 || n >= len(order) {
			return fmt.Errorf("write batch: malformed outcome record %q", fields[k])
		}
		i := order[n]
		switch fields[k+1] {
		case "ok":
			res[i].Done = true
			k += 2
		case "err":
			if k+2 >= len(fields) {
				return nil
			}
			res[i].Err = itemErr(i, fields[k+2])
			k += 3
		default:
			return fmt.Errorf("write batch: malformed outcome record %q", fields[k+1])
		}
	}
	return nil
}

// writeEach is WriteBatch on a host without perl: one command per op.
func (h *Host) writeEach(ctx context.Context, ops []host.BatchOp, order []int) ([]host.BatchResult, error) {
	res := make([]host.BatchResult, len(ops))
	for _, i := range order {
		op := ops[i]
		var err error
		switch op.Kind {
		case host.OpDir:
			err = h.EnsureDir(ctx, op.Path, op.Opts)
		case host.OpFile:
			err = h.WriteFile(ctx, op.Path, op.Data, op.Opts)
		case host.OpRemove:
			err = h.Remove(ctx, op.Path)
		}
		res[i].Done, res[i].Err = err == nil, err
		if err != nil && (errors.Is(err, host.ErrUnreachable) || ctx.Err() != nil) {
			for j := range res {
				if !res[j].Done && res[j].Err == nil {
					res[j].Err = err
				}
				res[j].Kind, res[j].Path = ops[j].Kind, ops[j].Path
			}
			return res, err
		}
	}
	return res, host.BatchOutcome(h.name, ops, res)
}

// ReadFiles implements host.Host: one session runs readFilesScript with
// every path on its standard input (or, without perl, one read each).
func (h *Host) ReadFiles(ctx context.Context, paths []string) ([]host.FileData, error) {
	if len(paths) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("ssh %s: read files: %w", h.name, err)
		}
		return nil, nil
	}
	var in bytes.Buffer
	for _, p := range paths {
		if err := h.checkPath(p); err != nil {
			return nil, fmt.Errorf("read files: %w", err)
		}
		in.WriteString(p)
		in.WriteByte(0)
	}
	var out bytes.Buffer
	if _, err := h.script(ctx, "read-files", batchWrapper, &in, &out, h.perl(), readFilesScript); err != nil {
		var ee *host.ExitError
		if errors.As(err, &ee) && ee.Code == 127 && strings.Contains(string(ee.Stderr), "perl not found") {
			return h.readEach(ctx, paths)
		}
		return nil, h.opError("read files", fmt.Sprintf("(%d paths)", len(paths)), err)
	}
	data := make([]host.FileData, len(paths))
	b := out.Bytes()
	next := func() (string, bool) {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return "", false
		}
		f := string(b[:i])
		b = b[i+1:]
		return f, true
	}
	for i, p := range paths {
		data[i].Path = p
		status, ok1 := next()
		arg, ok2 := next()
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("ssh %s: read files: output cut short at %s", h.name, p)
		}
		switch status {
		case "ok":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 || n > len(b) {
				return nil, fmt.Errorf("ssh %s: read files: malformed size %q for %s", h.name, arg, p)
			}
			data[i].Data, b = b[:n:n], b[n:]
		case "err":
			data[i].Err = h.itemError("read "+p, arg)
		default:
			return nil, fmt.Errorf("ssh %s: read files: malformed record %q for %s", h.name, status, p)
		}
	}
	return data, nil
}

func (h *Host) readEach(ctx context.Context, paths []string) ([]host.FileData, error) {
	data := make([]host.FileData, len(paths))
	for i, p := range paths {
		data[i].Path = p
		data[i].Data, data[i].Err = h.ReadFile(ctx, p)
		if data[i].Err != nil && (errors.Is(data[i].Err, host.ErrUnreachable) || ctx.Err() != nil) {
			return nil, data[i].Err
		}
	}
	return data, nil
}
