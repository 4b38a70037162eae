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
