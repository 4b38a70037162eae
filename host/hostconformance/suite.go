package hostconformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
)

// Target is a driver under test.
type Target struct {
	// New returns a Host acting as root (directly or through sudo). The
	// suite closes it.
	New func(t *testing.T) host.Host
	// Dir is an existing, empty directory on the host, which the
	// unprivileged user of Denied may traverse.
	Dir string
	// OtherUser is the name of a user other than root that exists on the
	// host, for ownership checks.
	OtherUser string
	// Denied calls CheckDenied with a Host acting as a user who is not root
	// (OtherUser) and the directory the suite prepared.
	Denied func(t *testing.T, locked string)
	// FullDir, when not empty, is an empty directory on a file system with
	// less than 1 MiB free (a small tmpfs), for the disk-full case.
	FullDir string
	// InterruptBatch runs WriteBatch(ops) on the host and kills the side
	// that writes (SIGKILL: the remote process for ssh, the process itself
	// for local) just before its (after+1)-th rename of a file into place,
	// then returns. Files are renamed in the order of BatchOrder.
	InterruptBatch func(t *testing.T, ops []host.BatchOp, after int)
	// Unreachable, when not nil, returns a Host of the same driver whose
	// machine cannot be reached. The local driver has none.
	Unreachable func(t *testing.T) host.Host
}

// Hostile holds values no command line or file name may be broken out of.
var Hostile = []string{
	"plain",
	"with space",
	"$(touch PWNED)",
	"`touch PWNED`",
	"a; touch PWNED",
	"a && touch PWNED",
	"a | touch PWNED",
	"'",
	`"`,
	`it's "quoted"`,
	"line1\nline2",
	"trailing newline\n",
	"$HOME",
	"${IFS}",
	"*",
	"?",
	"-n",
	"--",
	`\`,
	`\n`,
	"~",
	"{a,b}",
	"#comment",
	"tab\there",
	"ünïcödé",
	"",
}

// Run runs the whole suite against tg.
func Run(t *testing.T, tg Target) {
	h := tg.New(t)
	t.Cleanup(func() { h.Close() })
	ctx := context.Background()
	dir := tg.Dir
	p := func(name string) string { return path.Join(dir, name) }

	t.Run("WriteReadFile", func(t *testing.T) {
		cases := []struct {
			name string
			data []byte
			opts host.WriteOptions
			mode fs.FileMode
		}{
			{"empty", nil, host.WriteOptions{}, 0o644},
			{"text", []byte("hello\n"), host.WriteOptions{Mode: 0o640}, 0o640},
			{"binary", []byte{0, 1, 2, 255, '\n', 0}, host.WriteOptions{Mode: 0o600}, 0o600},
			{"large", bytes.Repeat([]byte("0123456789abcdef"), 1<<16), host.WriteOptions{Mode: 0o755}, 0o755},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f := p("rw-" + c.name)
				if err := h.WriteFile(ctx, f, c.data, c.opts); err != nil {
					t.Fatalf("WriteFile: %v", err)
				}
				got, err := h.ReadFile(ctx, f)
				if err != nil {
					t.Fatalf("ReadFile: %v", err)
				}
				if !bytes.Equal(got, c.data) {
					t.Fatalf("ReadFile = %d bytes, want %d", len(got), len(c.data))
				}
				o := observe1(t, h, f)
				if !o.IsRegular() || o.Mode.Perm() != c.mode || o.Size != int64(len(c.data)) || o.SHA256 != sum(c.data) {
					t.Fatalf("Observe = %+v, want regular file mode %v size %d sha %s", o, c.mode, len(c.data), sum(c.data))
				}
			})
		}
	})

	t.Run("WriteFileReplaces", func(t *testing.T) {
		f := p("replace")
		for _, v := range []string{"one", "two, longer", "3"} {
			if err := h.WriteFile(ctx, f, []byte(v), host.WriteOptions{}); err != nil {
				t.Fatalf("WriteFile %q: %v", v, err)
			}
			if got, err := h.ReadFile(ctx, f); err != nil || string(got) != v {
				t.Fatalf("ReadFile = %q, %v; want %q", got, err, v)
			}
		}
	})

	t.Run("WriteFileOwner", func(t *testing.T) {
		f := p("owned")
		if err := h.WriteFile(ctx, f, []byte("x"), host.WriteOptions{Mode: 0o600, Owner: tg.OtherUser}); err != nil {
			t.Fatalf("WriteFile owner %s: %v", tg.OtherUser, err)
		}
		if o := observe1(t, h, f); o.Owner != tg.OtherUser || o.Mode.Perm() != 0o600 {
			t.Fatalf("Observe = owner %q mode %v, want %q 0600", o.Owner, o.Mode.Perm(), tg.OtherUser)
		}
		err := h.WriteFile(ctx, p("badowner"), []byte("x"), host.WriteOptions{Owner: "no-such-user-berth"})
		if err == nil {
			t.Fatal("WriteFile with an unknown owner succeeded")
		}
		if o := observe1(t, h, p("badowner")); o.Exists {
			t.Fatal("a failed WriteFile left the file behind")
		}
	})

	t.Run("WriteFileMissingParent", func(t *testing.T) {
		err := h.WriteFile(ctx, p("no/such/dir/file"), []byte("x"), host.WriteOptions{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("WriteFile into a missing directory: %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("ReadFileMissing", func(t *testing.T) {
		_, err := h.ReadFile(ctx, p("missing"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("ReadFile of a missing file: %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		f := p("removeme")
		if err := h.WriteFile(ctx, f, []byte("x"), host.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		for i := range 2 { // the second time it is already gone
			if err := h.Remove(ctx, f); err != nil {
				t.Fatalf("Remove #%d: %v", i+1, err)
			}
		}
		if o := observe1(t, h, f); o.Exists {
			t.Fatal("file still exists after Remove")
		}
		if err := h.Remove(ctx, p("never/existed")); err != nil {
			t.Fatalf("Remove under a missing directory: %v, want nil", err)
		}
		d := p("rmdir")
		if err := h.MkdirAll(ctx, d+"/sub", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := h.Remove(ctx, d); !errors.Is(err, host.ErrNotEmpty) {
			t.Fatalf("Remove of a non-empty directory: %v, want an error wrapping host.ErrNotEmpty", err)
		}
		if _, err := h.ReadFile(ctx, d+"/sub"); errors.Is(err, fs.ErrNotExist) {
			t.Fatal("Remove of a non-empty directory removed what was in it")
		}
		if err := h.Remove(ctx, d+"/sub"); err != nil {
			t.Fatalf("Remove of an empty directory: %v", err)
		}
	})

	t.Run("SweepTemp", func(t *testing.T) {
		a, b := p("sweep/a"), p("sweep/b")
		for _, d := range []string{a, b, a + "/" + host.TempPrefix + "dir"} {
			if err := h.MkdirAll(ctx, d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		left := []string{a + "/" + host.TempPrefix + "1", a + "/" + host.TempPrefix + "2", b + "/" + host.TempPrefix + "3"}
		kept := []string{a + "/site.conf", a + "/berth-tmp-1", a + "/" + host.TempPrefix + "dir/" + host.TempPrefix + "deep"}
		for _, f := range append(slices.Clone(left), kept...) {
			if err := h.WriteFile(ctx, f, []byte("half"), host.WriteOptions{Mode: 0o600}); err != nil {
				t.Fatal(err)
			}
		}
		removed, err := h.SweepTemp(ctx, []string{a, b, p("sweep/missing")})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(removed)
		if !slices.Equal(removed, left) {
			t.Errorf("SweepTemp removed %q, want %q", removed, left)
		}
		for _, f := range left {
			if observe1(t, h, f).Exists {
				t.Errorf("%s still exists after SweepTemp", f)
			}
		}
		for _, f := range kept {
			if !observe1(t, h, f).Exists {
				t.Errorf("SweepTemp removed %s, which is not a temporary file of WriteFile directly in a swept directory", f)
			}
		}
		if removed, err := h.SweepTemp(ctx, []string{a, b}); err != nil || len(removed) != 0 {
			t.Errorf("second SweepTemp = %q, %v; want nothing removed", removed, err)
		}
	})

	t.Run("MkdirAll", func(t *testing.T) {
		d := p("a/b/c")
		for i := range 2 {
			if err := h.MkdirAll(ctx, d, 0o750); err != nil {
				t.Fatalf("MkdirAll #%d: %v", i+1, err)
			}
		}
		o := observe1(t, h, d)
		if !o.IsDir() || o.Mode.Perm() != 0o750 {
			t.Fatalf("Observe = %+v, want directory 0750", o)
		}
		if err := h.WriteFile(ctx, p("a/file"), nil, host.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := h.MkdirAll(ctx, p("a/file"), 0o755); err == nil {
			t.Fatal("MkdirAll over a file succeeded")
		}
		if err := h.MkdirAll(ctx, p("a/file/sub"), 0o755); err == nil {
			t.Fatal("MkdirAll under a file succeeded")
		}
	})

	t.Run("EnsureDir", func(t *testing.T) {
		d := p("ens/a/b")
		for i, mode := range []fs.FileMode{0o750, 0o750, 0o775 | fs.ModeSetgid} {
			if err := h.EnsureDir(ctx, d, host.WriteOptions{Mode: mode}); err != nil {
				t.Fatalf("EnsureDir #%d: %v", i+1, err)
			}
			if o := observe1(t, h, d); !o.IsDir() || o.Mode&(fs.ModePerm|fs.ModeSetgid) != mode {
				t.Fatalf("EnsureDir #%d: Observe = %+v, want directory %v (no umask)", i+1, o, mode)
			}
		}
		if err := h.WriteFile(ctx, p("ens/file"), nil, host.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := h.EnsureDir(ctx, p("ens/file"), host.WriteOptions{}); !errors.Is(err, syscall.ENOTDIR) {
			t.Fatalf("EnsureDir over a file: %v, want ENOTDIR", err)
		}
	})

	t.Run("Observe", func(t *testing.T) {
		data := []byte("observed\n")
		f, d := p("obs/file"), p("obs")
		if err := h.MkdirAll(ctx, d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := h.WriteFile(ctx, f, data, host.WriteOptions{Mode: 0o604}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Run(ctx, []string{"ln", "-s", "file", p("obs/link")}, host.RunOptions{}); err != nil {
			t.Fatalf("ln -s: %v", err)
		}
		paths := []string{p("obs/missing"), f, d, p("obs/file/under-a-file"), p("obs/link"), f}
		obs, err := h.Observe(ctx, paths)
		if err != nil {
			t.Fatalf("Observe: %v", err)
		}
		if len(obs) != len(paths) {
			t.Fatalf("Observe returned %d observations for %d paths", len(obs), len(paths))
		}
		for i, o := range obs {
			if o.Path != paths[i] {
				t.Fatalf("observation %d is for %q, want %q (order must follow the input)", i, o.Path, paths[i])
			}
		}
		if obs[0].Exists || obs[3].Exists {
			t.Errorf("missing paths reported as existing: %+v %+v", obs[0], obs[3])
		}
		if o := obs[1]; !o.IsRegular() || o.Mode.Perm() != 0o604 || o.Size != int64(len(data)) || o.SHA256 != sum(data) || o.Owner != "root" || o.UID != 0 {
			t.Errorf("file: %+v", o)
		}
		if obs[5] != obs[1] {
			t.Errorf("a path asked twice got two answers: %+v %+v", obs[1], obs[5])
		}
		if o := obs[2]; !o.IsDir() || o.SHA256 != "" {
			t.Errorf("directory: %+v", o)
		}
		if o := obs[4]; !o.Exists || o.Mode&fs.ModeSymlink == 0 || o.LinkTarget != "file" || o.SHA256 != "" {
			t.Errorf("symlink: %+v", o)
		}
		if obs, err := h.Observe(ctx, nil); err != nil || len(obs) != 0 {
			t.Errorf("Observe(nil) = %v, %v; want none, nil", obs, err)
		}
	})

	t.Run("ObserveMany", func(t *testing.T) {
		d := p("many")
		if err := h.MkdirAll(ctx, d, 0o755); err != nil {
			t.Fatal(err)
		}
		var paths []string
		for i := range 50 {
			f := path.Join(d, fmt.Sprintf("f%03d", i))
			paths = append(paths, f)
			if i%2 == 0 {
				if err := h.WriteFile(ctx, f, []byte(f), host.WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
		obs, err := h.Observe(ctx, paths)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range obs {
			if o.Exists != (i%2 == 0) || (o.Exists && o.SHA256 != sum([]byte(paths[i]))) {
				t.Fatalf("observation %d: %+v", i, o)
			}
		}
	})

	t.Run("WriteBatch", func(t *testing.T) {
		d := p("batch")
		if err := h.MkdirAll(ctx, d+"/full/sub", 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"old1", "old2", "gone"} {
			if err := h.WriteFile(ctx, path.Join(d, f), []byte("old contents of "+f), host.WriteOptions{Mode: 0o600}); err != nil {
				t.Fatal(err)
			}
		}
		ops := []host.BatchOp{
			// Files and removals listed before the directories they need:
			// the batch applies directories first.
			host.FileOp(d+"/new/a dir/index.html", []byte("<h1>a</h1>\n"), host.WriteOptions{Mode: 0o640, Owner: tg.OtherUser}),
			host.FileOp(d+"/old1", []byte("new 1"), host.WriteOptions{Mode: 0o644}),
			host.FileOp(d+"/old2", nil, host.WriteOptions{Mode: 0o600}),
			host.RemoveOp(d + "/gone"),
			host.RemoveOp(d + "/never-existed"),
			host.RemoveOp(d + "/full"),
			host.FileOp(d+"/no/such/dir/f", []byte("x"), host.WriteOptions{}),
			host.FileOp(d+"/badowner", []byte("x"), host.WriteOptions{Owner: "no-such-user-berth"}),
			host.DirOp(d+"/new/a dir", host.WriteOptions{Mode: 0o750, Owner: tg.OtherUser}),
			host.DirOp(d+"/new", host.WriteOptions{Mode: 0o755}),
			host.DirOp(d+"/old1/under-a-file", host.WriteOptions{}),
			host.FileOp(d+"/big", bytes.Repeat([]byte("0123456789abcdef"), 1<<16), host.WriteOptions{Mode: 0o755 | fs.ModeSetgid}),
		}
		wantDone := []bool{true, true, true, true, true, false, false, false, true, true, false, true}
		res, err := h.WriteBatch(ctx, ops)
		var be *host.BatchError
		if !errors.As(err, &be) || len(be.Failed) != 4 || be.Total != len(ops) {
			t.Fatalf("WriteBatch: %v, want a *host.BatchError with 4 of %d failed", err, len(ops))
		}
		if !errors.Is(err, host.ErrNotEmpty) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the batch's error %v does not wrap its ops' ErrNotEmpty and fs.ErrNotExist", err)
		}
		if len(res) != len(ops) {
			t.Fatalf("WriteBatch returned %d results for %d ops", len(res), len(ops))
		}
		for i, r := range res {
			if r.Path != ops[i].Path || r.Kind != ops[i].Kind {
				t.Errorf("result %d is for %v %q, want %v %q (order must follow ops)", i, r.Kind, r.Path, ops[i].Kind, ops[i].Path)
			}
			if r.Done != wantDone[i] || (r.Err == nil) != r.Done {
				t.Errorf("op %d (%v %s): Done %v, Err %v; want Done %v", i, ops[i].Kind, ops[i].Path, r.Done, r.Err, wantDone[i])
			}
		}
		for i, want := range map[int]error{5: host.ErrNotEmpty, 6: fs.ErrNotExist, 10: syscall.ENOTDIR} {
			if !errors.Is(res[i].Err, want) {
				t.Errorf("op %d (%v %s): %v, want an error wrapping %v", i, ops[i].Kind, ops[i].Path, res[i].Err, want)
			}
		}
		obs, err := h.Observe(ctx, []string{d + "/new/a dir/index.html", d + "/old1", d + "/old2", d + "/gone", d + "/full/sub", d + "/badowner", d + "/new/a dir", d + "/new", d + "/big"})
		if err != nil {
			t.Fatal(err)
		}
		if o := obs[0]; !o.IsRegular() || o.Mode.Perm() != 0o640 || o.Owner != tg.OtherUser || o.SHA256 != sum(ops[0].Data) {
			t.Errorf("new file: %+v", o)
		}
		if o := obs[1]; !o.IsRegular() || o.Mode.Perm() != 0o644 || o.SHA256 != sum([]byte("new 1")) {
			t.Errorf("overwritten file: %+v", o)
		}
		if o := obs[2]; !o.IsRegular() || o.Size != 0 {
			t.Errorf("file overwritten with nothing: %+v", o)
		}
		if obs[3].Exists || !obs[4].Exists || obs[5].Exists {
			t.Errorf("removed %v, kept the non-empty directory's contents %v, bad owner's file %v; want false true false", obs[3].Exists, obs[4].Exists, obs[5].Exists)
		}
		if o := obs[6]; !o.IsDir() || o.Mode.Perm() != 0o750 || o.Owner != tg.OtherUser {
			t.Errorf("directory: %+v, want 0750 owned by %s", o, tg.OtherUser)
		}
		if o := obs[7]; !o.IsDir() || o.Mode.Perm() != 0o755 {
			t.Errorf("directory: %+v, want 0755", o)
		}
		if o := obs[8]; !o.IsRegular() || o.Mode&(fs.ModePerm|fs.ModeSetgid) != 0o755|fs.ModeSetgid || o.SHA256 != sum(ops[11].Data) {
			t.Errorf("large setgid file: %+v", o)
		}
		if left, err := h.SweepTemp(ctx, []string{d, d + "/new/a dir", d + "/new"}); err != nil || len(left) != 0 {
			t.Errorf("the batch left temporary files: %q, %v", left, err)
		}
	})

	t.Run("WriteBatchDirOverLink", func(t *testing.T) {
		target, link := p("batchlink-target"), p("batchlink")
		if err := h.EnsureDir(ctx, target, host.WriteOptions{Mode: 0o700}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Run(ctx, []string{"ln", "-s", target, link}, host.RunOptions{}); err != nil {
			t.Fatalf("ln -s: %v", err)
		}
		res, err := h.WriteBatch(ctx, []host.BatchOp{host.DirOp(link, host.WriteOptions{Mode: 0o777, Owner: tg.OtherUser})})
		if !errors.Is(err, syscall.ENOTDIR) || len(res) != 1 || res[0].Done {
			t.Fatalf("WriteBatch of a directory where a symbolic link is: %v, %+v; want syscall.ENOTDIR", err, res)
		}
		if o := observe1(t, h, target); o.Mode.Perm() != 0o700 || o.Owner != "root" {
			t.Fatalf("the link's target was changed through the link: %+v", o)
		}
	})

	t.Run("WriteBatchMany", func(t *testing.T) {
		d := p("batchmany")
		var ops []host.BatchOp
		for i := range 30 {
			sub := path.Join(d, fmt.Sprintf("site %02d", i))
			ops = append(ops, host.DirOp(sub, host.WriteOptions{Mode: 0o755}))
			for j := range 33 {
				f := path.Join(sub, fmt.Sprintf("f%02d.conf", j))
				ops = append(ops, host.FileOp(f, []byte(f), host.WriteOptions{Mode: 0o644}))
			}
		}
		for round := range 2 { // the second round overwrites every file with the same contents
			res, err := h.WriteBatch(ctx, ops)
			if err != nil {
				t.Fatalf("round %d: WriteBatch of %d ops: %v", round, len(ops), err)
			}
			for i, r := range res {
				if !r.Done {
					t.Fatalf("round %d: op %d not done: %v", round, i, r.Err)
				}
			}
		}
		var paths []string
		for _, op := range ops {
			paths = append(paths, op.Path)
		}
		obs, err := h.Observe(ctx, paths)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range obs {
			if ops[i].Kind == host.OpDir && !o.IsDir() || ops[i].Kind == host.OpFile && o.SHA256 != sum(ops[i].Data) {
				t.Fatalf("%s: %+v", paths[i], o)
			}
		}
		files, err := h.ReadFiles(ctx, paths[1:34])
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range files {
			if f.Err != nil || string(f.Data) != paths[1+i] {
				t.Fatalf("ReadFiles %s = %q, %v", paths[1+i], f.Data, f.Err)
			}
		}
	})

	t.Run("WriteBatchHostileNames", func(t *testing.T) {
		d := p("batch hostile")
		pwned := p("PWNED")
		ops := []host.BatchOp{host.DirOp(d+"/$(touch PWNED)", host.WriteOptions{Mode: 0o755})}
		var paths []string
		for _, v := range Hostile {
			v = strings.ReplaceAll(v, "PWNED", pwned)
			f := path.Join(d, "$(touch PWNED)", "n-"+strings.ReplaceAll(v, "/", "_"))
			paths = append(paths, f)
			ops = append(ops, host.FileOp(f, []byte(v), host.WriteOptions{}))
		}
		if _, err := h.WriteBatch(ctx, ops); err != nil {
			t.Fatalf("WriteBatch of hostile names: %v", err)
		}
		files, err := h.ReadFiles(ctx, paths)
		if err != nil {
			t.Fatalf("ReadFiles of hostile names: %v", err)
		}
		for i, f := range files {
			if f.Path != paths[i] || f.Err != nil || string(f.Data) != string(ops[i+1].Data) {
				t.Errorf("ReadFiles %q: %q %q, %v", paths[i], f.Path, f.Data, f.Err)
			}
		}
		var rm []host.BatchOp
		for _, f := range paths {
			rm = append(rm, host.RemoveOp(f))
		}
		if _, err := h.WriteBatch(ctx, rm); err != nil {
			t.Fatalf("WriteBatch removing hostile names: %v", err)
		}
		if o := observe1(t, h, pwned); o.Exists {
			t.Fatal("a hostile name ran a command: PWNED exists")
		}
	})

	t.Run("WriteBatchEmpty", func(t *testing.T) {
		if res, err := h.WriteBatch(ctx, nil); err != nil || len(res) != 0 {
			t.Fatalf("WriteBatch(nil) = %v, %v; want none, nil", res, err)
		}
		if files, err := h.ReadFiles(ctx, nil); err != nil || len(files) != 0 {
			t.Fatalf("ReadFiles(nil) = %v, %v; want none, nil", files, err)
		}
	})

	t.Run("ReadFiles", func(t *testing.T) {
		d := p("readfiles")
		bin := []byte{0, 1, 2, 255, '\n', 0, 'o', 'k', 0}
		if _, err := h.WriteBatch(ctx, []host.BatchOp{
			host.DirOp(d, host.WriteOptions{}),
			host.FileOp(d+"/bin", bin, host.WriteOptions{}),
			host.FileOp(d+"/empty", nil, host.WriteOptions{}),
		}); err != nil {
			t.Fatal(err)
		}
		paths := []string{d + "/bin", d + "/missing", d + "/empty", d, d + "/bin/under-a-file", d + "/bin"}
		files, err := h.ReadFiles(ctx, paths)
		if err != nil || len(files) != len(paths) {
			t.Fatalf("ReadFiles = %d results, %v; want %d", len(files), err, len(paths))
		}
		for i, f := range files {
			if f.Path != paths[i] {
				t.Fatalf("result %d is for %q, want %q", i, f.Path, paths[i])
			}
		}
		if !bytes.Equal(files[0].Data, bin) || files[0].Err != nil || !bytes.Equal(files[5].Data, bin) {
			t.Errorf("binary file: %q, %v", files[0].Data, files[0].Err)
		}
		if !errors.Is(files[1].Err, fs.ErrNotExist) {
			t.Errorf("missing file: %v, want fs.ErrNotExist", files[1].Err)
		}
		if files[2].Err != nil || len(files[2].Data) != 0 {
			t.Errorf("empty file: %q, %v", files[2].Data, files[2].Err)
		}
		if files[3].Err == nil {
			t.Errorf("ReadFiles of a directory succeeded")
		}
		if files[4].Err == nil {
			t.Errorf("ReadFiles under a file succeeded")
		}
	})

	t.Run("WriteBatchInterrupted", func(t *testing.T) {
		if tg.InterruptBatch == nil {
			t.Fatal("no InterruptBatch: every driver can be cut off mid-batch")
		}
		d := p("interrupted")
		const n, after = 12, 5
		if err := h.MkdirAll(ctx, d, 0o755); err != nil {
			t.Fatal(err)
		}
		var ops []host.BatchOp
		var paths []string
		old := func(i int) []byte { return bytes.Repeat([]byte(fmt.Sprintf("old %d\n", i)), 1000) }
		for i := range n {
			f := path.Join(d, fmt.Sprintf("site%02d.conf", i))
			paths = append(paths, f)
			if err := h.WriteFile(ctx, f, old(i), host.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			ops = append(ops, host.FileOp(f, bytes.Repeat([]byte(fmt.Sprintf("new %d\n", i)), 3000), host.WriteOptions{Mode: 0o640}))
		}
		ops = append(ops, host.DirOp(d+"/docroot", host.WriteOptions{Mode: 0o755}), host.RemoveOp(paths[0]))
		tg.InterruptBatch(t, ops, after)
		files, err := h.ReadFiles(ctx, paths)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range files {
			want := old(i)
			if i < after {
				want = ops[i].Data
			}
			if f.Err != nil || !bytes.Equal(f.Data, want) {
				t.Errorf("%s after the cut: %d bytes (%.10q), %v; want the %s contents", paths[i], len(f.Data), f.Data, f.Err, map[bool]string{true: "new", false: "old"}[i < after])
			}
		}
		left, err := h.SweepTemp(ctx, []string{d})
		if err != nil || len(left) != n-after {
			t.Errorf("SweepTemp after the cut removed %q, %v; want the %d temporary files of the files not renamed", left, err, n-after)
		}
		res, err := h.WriteBatch(ctx, ops)
		if err != nil {
			t.Fatalf("repeating the cut batch: %v", err)
		}
		for i, r := range res {
			if !r.Done {
				t.Errorf("repeated batch, op %d: %v", i, r.Err)
			}
		}
		files, err = h.ReadFiles(ctx, paths)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(files[0].Err, fs.ErrNotExist) {
			t.Errorf("%s after the repeated batch removed it: %v", paths[0], files[0].Err)
		}
		for i, f := range files[1:] {
			if !bytes.Equal(f.Data, ops[i+1].Data) {
				t.Errorf("%s after the repeated batch: %d bytes, %v; want the new contents", paths[i+1], len(f.Data), f.Err)
			}
		}
		if left, err := h.SweepTemp(ctx, []string{d}); err != nil || len(left) != 0 {
			t.Errorf("the repeated batch left %q, %v", left, err)
		}
	})

	t.Run("Run", func(t *testing.T) {
		res, err := h.Run(ctx, []string{"printf", "%s|", "a", "b c"}, host.RunOptions{})
		if err != nil || string(res.Stdout) != "a|b c|" || res.ExitCode != 0 {
			t.Fatalf("printf = %q exit %d, %v", res.Stdout, res.ExitCode, err)
		}
		in := "line one\nline two\x00binary"
		res, err = h.Run(ctx, []string{"cat"}, host.RunOptions{Stdin: strings.NewReader(in)})
		if err != nil || string(res.Stdout) != in {
			t.Fatalf("cat with stdin = %q, %v", res.Stdout, err)
		}
		res, err = h.Run(ctx, []string{"false"}, host.RunOptions{})
		var ee *host.ExitError
		if !errors.As(err, &ee) || ee.Code != 1 || res.ExitCode != 1 {
			t.Fatalf("false: exit %d, %v; want *host.ExitError with code 1", res.ExitCode, err)
		}
		if _, err := h.Run(ctx, []string{"berth-no-such-program"}, host.RunOptions{}); err == nil {
			t.Fatal("running a missing program succeeded")
		}
		res, err = h.Run(ctx, []string{"pwd"}, host.RunOptions{Dir: dir})
		if err != nil || strings.TrimSpace(string(res.Stdout)) != dir {
			t.Fatalf("pwd in %s = %q, %v", dir, res.Stdout, err)
		}
		res, err = h.Run(ctx, []string{"env"}, host.RunOptions{Env: []string{"BERTH_TEST=a b$(x)'"}})
		if err != nil || !strings.Contains(string(res.Stdout), "BERTH_TEST=a b$(x)'\n") {
			t.Fatalf("env = %q, %v", res.Stdout, err)
		}
		var out bytes.Buffer
		res, err = h.Run(ctx, []string{"printf", "streamed"}, host.RunOptions{Stdout: &out})
		if err != nil || out.String() != "streamed" || len(res.Stdout) != 0 {
			t.Fatalf("streamed stdout = %q (result %q), %v", out.String(), res.Stdout, err)
		}
		if _, err := h.Run(ctx, nil, host.RunOptions{}); err == nil {
			t.Fatal("Run(nil) succeeded")
		}
	})

	t.Run("HostileArguments", func(t *testing.T) {
		pwned := p("PWNED")
		vals := make([]string, len(Hostile))
		for i, v := range Hostile {
			vals[i] = strings.ReplaceAll(v, "PWNED", pwned)
		}
		res, err := h.Run(ctx, append([]string{"printf", `%s\0`}, vals...), host.RunOptions{Dir: dir})
		if err != nil {
			t.Fatalf("printf: %v", err)
		}
		got := strings.Split(strings.TrimSuffix(string(res.Stdout), "\x00"), "\x00")
		if len(got) != len(vals) {
			t.Fatalf("printf printed %d values, want %d: %q", len(got), len(vals), res.Stdout)
		}
		for i := range vals {
			if got[i] != vals[i] {
				t.Errorf("argument %d: got %q, want %q", i, got[i], vals[i])
			}
		}
		res, err = h.Run(ctx, []string{"env"}, host.RunOptions{Env: []string{"BERTH_HOSTILE=" + vals[2] + vals[4]}})
		if err != nil || !strings.Contains(string(res.Stdout), "BERTH_HOSTILE="+vals[2]+vals[4]) {
			t.Errorf("hostile environment value: %q, %v", res.Stdout, err)
		}
		d := p("hostile names")
		if err := h.MkdirAll(ctx, d, 0o755); err != nil {
			t.Fatal(err)
		}
		var paths []string
		for _, v := range vals {
			name := "n-" + strings.ReplaceAll(v, "/", "_")
			f := path.Join(d, name)
			paths = append(paths, f)
			if err := h.WriteFile(ctx, f, []byte(v), host.WriteOptions{}); err != nil {
				t.Fatalf("WriteFile %q: %v", name, err)
			}
			if b, err := h.ReadFile(ctx, f); err != nil || string(b) != v {
				t.Fatalf("ReadFile %q = %q, %v", name, b, err)
			}
		}
		obs, err := h.Observe(ctx, paths)
		if err != nil {
			t.Fatalf("Observe hostile names: %v", err)
		}
		for i, o := range obs {
			if !o.IsRegular() || o.SHA256 != sum([]byte(vals[i])) {
				t.Errorf("Observe %q: %+v", paths[i], o)
			}
		}
		for _, f := range paths {
			if err := h.Remove(ctx, f); err != nil {
				t.Fatalf("Remove %q: %v", f, err)
			}
		}
		sub := path.Join(d, "$(touch PWNED)", "`x`;y")
		if err := h.MkdirAll(ctx, sub, 0o755); err != nil {
			t.Fatalf("MkdirAll %q: %v", sub, err)
		}
		if o := observe1(t, h, sub); !o.IsDir() {
			t.Fatalf("MkdirAll %q made %+v", sub, o)
		}
		if o := observe1(t, h, pwned); o.Exists {
			t.Fatal("a hostile value ran a command: PWNED exists")
		}
	})

	t.Run("Atomic", func(t *testing.T) {
		f := p("atomic")
		const size = 256 << 10
		versions := [][]byte{bytes.Repeat([]byte{'a'}, size), bytes.Repeat([]byte{'b'}, size/2)}
		if err := h.WriteFile(ctx, f, versions[0], host.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var writeErr error
		go func() {
			defer close(done)
			for i := 1; i <= 20; i++ {
				if err := h.WriteFile(ctx, f, versions[i%2], host.WriteOptions{}); err != nil {
					writeErr = err
					return
				}
			}
		}()
		reads := 0
		for stop := false; !stop; {
			select {
			case <-done:
				stop = true // one last read below
			default:
			}
			b, err := h.ReadFile(ctx, f)
			if err != nil {
				t.Fatalf("read %d during writes: %v", reads, err)
			}
			if !bytes.Equal(b, versions[0]) && !bytes.Equal(b, versions[1]) {
				t.Fatalf("read %d saw a half-written file: %d bytes", reads, len(b))
			}
			reads++
		}
		if writeErr != nil {
			t.Fatal(writeErr)
		}
		t.Logf("%d reads during 20 replacements, all whole", reads)
	})

	t.Run("Concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				f := p(fmt.Sprintf("conc-%d", i))
				want := []byte(strings.Repeat(fmt.Sprint(i), 1000))
				if err := h.WriteFile(ctx, f, want, host.WriteOptions{}); err != nil {
					errs <- err
					return
				}
				got, err := h.ReadFile(ctx, f)
				if err == nil && !bytes.Equal(got, want) {
					err = fmt.Errorf("%s: read back %d bytes, want %d", f, len(got), len(want))
				}
				if err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("Context", func(t *testing.T) {
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		calls := map[string]func() error{
			"Run":       func() error { _, err := h.Run(cancelled, []string{"true"}, host.RunOptions{}); return err },
			"ReadFile":  func() error { _, err := h.ReadFile(cancelled, p("replace")); return err },
			"WriteFile": func() error { return h.WriteFile(cancelled, p("ctx"), nil, host.WriteOptions{}) },
			"Remove":    func() error { return h.Remove(cancelled, p("replace")) },
			"MkdirAll":  func() error { return h.MkdirAll(cancelled, p("ctxdir"), 0o755) },
			"Observe":   func() error { _, err := h.Observe(cancelled, []string{p("replace")}); return err },
			"WriteBatch": func() error {
				_, err := h.WriteBatch(cancelled, []host.BatchOp{host.FileOp(p("ctx"), nil, host.WriteOptions{})})
				return err
			},
			"ReadFiles": func() error { _, err := h.ReadFiles(cancelled, []string{p("replace")}); return err },
		}
		for name, call := range calls {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("%s with a cancelled context: %v, want context.Canceled", name, err)
			}
		}
		short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel2()
		if _, err := h.Run(short, []string{"sleep", "30"}, host.RunOptions{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("sleep 30 under a 300ms deadline: %v, want context.DeadlineExceeded", err)
		}
		if _, err := h.Run(ctx, []string{"true"}, host.RunOptions{}); err != nil {
			t.Errorf("Run after a cancelled command: %v", err)
		}
	})

	t.Run("InvalidPath", func(t *testing.T) {
		for _, bad := range []string{"", "relative/path", "/nul\x00byte"} {
			if _, err := h.ReadFile(ctx, bad); !errors.Is(err, host.ErrInvalidPath) {
				t.Errorf("ReadFile(%q): %v", bad, err)
			}
			if err := h.WriteFile(ctx, bad, nil, host.WriteOptions{}); !errors.Is(err, host.ErrInvalidPath) {
				t.Errorf("WriteFile(%q): %v", bad, err)
			}
			if err := h.Remove(ctx, bad); !errors.Is(err, host.ErrInvalidPath) {
				t.Errorf("Remove(%q): %v", bad, err)
			}
			if err := h.MkdirAll(ctx, bad, 0o755); !errors.Is(err, host.ErrInvalidPath) {
				t.Errorf("MkdirAll(%q): %v", bad, err)
			}
			if _, err := h.Observe(ctx, []string{"/ok", bad}); !errors.Is(err, host.ErrInvalidPath) {
				t.Errorf("Observe(%q): %v", bad, err)
			}
			ok := p("batch-valid")
			res, err := h.WriteBatch(ctx, []host.BatchOp{host.FileOp(ok, nil, host.WriteOptions{}), host.RemoveOp(bad)})
			if !errors.Is(err, host.ErrInvalidPath) || len(res) != 2 || res[0].Done {
				t.Errorf("WriteBatch(%q): %v, %+v; want ErrInvalidPath and nothing done", bad, err, res)
			}
			if o := observe1(t, h, ok); o.Exists {
				t.Errorf("WriteBatch with an invalid path wrote %s", ok)
			}
			if _, err := h.ReadFiles(ctx, []string{"/ok", bad}); !errors.Is(err, host.ErrInvalidPath) {
				t.Errorf("ReadFiles(%q): %v", bad, err)
			}
		}
	})

	t.Run("PermissionDenied", func(t *testing.T) {
		locked := p("locked")
		if err := h.MkdirAll(ctx, locked, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := h.WriteFile(ctx, path.Join(locked, "secret"), []byte("s"), host.WriteOptions{Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
		if o := observe1(t, h, locked); o.UID != 0 || o.Mode.Perm() != 0o700 {
			t.Fatalf("locked directory: %+v, want root-owned 0700", o)
		}
		tg.Denied(t, locked)
	})

	t.Run("DiskFull", func(t *testing.T) {
		if tg.FullDir == "" {
			t.Fatal("no FullDir: every driver can simulate a full disk (a small tmpfs)")
		}
		f := path.Join(tg.FullDir, "file")
		if err := h.WriteFile(ctx, f, []byte("old"), host.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		err := h.WriteFile(ctx, f, bytes.Repeat([]byte("x"), 4<<20), host.WriteOptions{})
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("WriteFile of 4 MiB onto a full disk: %v, want syscall.ENOSPC", err)
		}
		if b, err := h.ReadFile(ctx, f); err != nil || string(b) != "old" {
			t.Fatalf("after the failed write the file holds %q, %v; want the old contents", b, err)
		}
		res, err := h.WriteBatch(ctx, []host.BatchOp{
			host.FileOp(f, bytes.Repeat([]byte("x"), 4<<20), host.WriteOptions{}),
			host.FileOp(path.Join(tg.FullDir, "tiny"), []byte("t"), host.WriteOptions{}),
		})
		if !errors.Is(err, syscall.ENOSPC) || len(res) != 2 || res[0].Done || !errors.Is(res[0].Err, syscall.ENOSPC) || !res[1].Done {
			t.Fatalf("WriteBatch of 4 MiB and 1 byte onto a full disk: %v, %+v; want the large file to fail with ENOSPC, the small one done", err, res)
		}
		if b, err := h.ReadFile(ctx, f); err != nil || string(b) != "old" {
			t.Fatalf("after the failed batched write the file holds %q, %v; want the old contents", b, err)
		}
		// The failed write's temporary file is gone: the space is free again.
		if err := h.WriteFile(ctx, path.Join(tg.FullDir, "small"), bytes.Repeat([]byte("y"), 64<<10), host.WriteOptions{}); err != nil {
			t.Fatalf("a small write after the failed one: %v (temporary file left behind?)", err)
		}
	})

	t.Run("Unreachable", func(t *testing.T) {
		if tg.Unreachable == nil {
			t.Log("this driver acts on the machine it runs on; it cannot be unreachable")
			return
		}
		u := tg.Unreachable(t)
		defer u.Close()
		_, err := u.Run(ctx, []string{"true"}, host.RunOptions{})
		if !errors.Is(err, host.ErrUnreachable) {
			t.Fatalf("Run on an unreachable host: %v, want host.ErrUnreachable", err)
		}
		if _, err := u.Observe(ctx, []string{"/etc/hostname"}); !errors.Is(err, host.ErrUnreachable) {
			t.Fatalf("Observe on an unreachable host: %v, want host.ErrUnreachable", err)
		}
		if err := u.WriteFile(ctx, "/tmp/x", nil, host.WriteOptions{}); !errors.Is(err, host.ErrUnreachable) {
			t.Fatalf("WriteFile on an unreachable host: %v, want host.ErrUnreachable", err)
		}
		res, err := u.WriteBatch(ctx, []host.BatchOp{host.FileOp("/tmp/x", nil, host.WriteOptions{})})
		if !errors.Is(err, host.ErrUnreachable) || len(res) != 1 || res[0].Done || !errors.Is(res[0].Err, host.ErrUnreachable) {
			t.Fatalf("WriteBatch on an unreachable host: %v, %+v; want host.ErrUnreachable for the batch and its op", err, res)
		}
		if _, err := u.ReadFiles(ctx, []string{"/etc/hostname"}); !errors.Is(err, host.ErrUnreachable) {
			t.Fatalf("ReadFiles on an unreachable host: %v, want host.ErrUnreachable", err)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		c := tg.New(t)
		if _, err := c.Run(ctx, []string{"true"}, host.RunOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if _, err := c.ReadFile(ctx, p("replace")); !errors.Is(err, host.ErrClosed) {
			t.Fatalf("ReadFile after Close: %v, want host.ErrClosed", err)
		}
	})
}

// CheckDenied asserts that h, acting as a user who is not root, is refused
// with fs.ErrPermission by every method on locked: a root-owned directory of
// mode 0700 holding the file "secret" (mode 0600).
func CheckDenied(t *testing.T, h host.Host, locked string) {
	t.Helper()
	ctx := context.Background()
	secret := path.Join(locked, "secret")
	if _, err := h.ReadFile(ctx, secret); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("ReadFile in a directory of another user: %v, want fs.ErrPermission", err)
	}
	if err := h.WriteFile(ctx, path.Join(locked, "new"), []byte("x"), host.WriteOptions{}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("WriteFile in a directory of another user: %v, want fs.ErrPermission", err)
	}
	if err := h.MkdirAll(ctx, path.Join(locked, "sub"), 0o755); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("MkdirAll in a directory of another user: %v, want fs.ErrPermission", err)
	}
	if err := h.Remove(ctx, secret); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Remove in a directory of another user: %v, want fs.ErrPermission", err)
	}
	if _, err := h.Observe(ctx, []string{secret}); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("Observe in a directory of another user: %v, want fs.ErrPermission", err)
	}
	res, err := h.WriteBatch(ctx, []host.BatchOp{host.FileOp(path.Join(locked, "new"), []byte("x"), host.WriteOptions{}), host.DirOp(path.Join(locked, "dir"), host.WriteOptions{})})
	if !errors.Is(err, fs.ErrPermission) || len(res) != 2 || !errors.Is(res[0].Err, fs.ErrPermission) || !errors.Is(res[1].Err, fs.ErrPermission) {
		t.Errorf("WriteBatch in a directory of another user: %v, %+v; want fs.ErrPermission for each op", err, res)
	}
	files, err := h.ReadFiles(ctx, []string{secret})
	if err != nil || len(files) != 1 || !errors.Is(files[0].Err, fs.ErrPermission) {
		t.Errorf("ReadFiles in a directory of another user: %v, %+v; want fs.ErrPermission for the file", err, files)
	}
}

func observe1(t *testing.T, h host.Host, p string) host.Observation {
	t.Helper()
	obs, err := h.Observe(context.Background(), []string{p})
	if err != nil {
		t.Fatalf("Observe %s: %v", p, err)
	}
	return obs[0]
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
