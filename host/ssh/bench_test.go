package ssh

import (
	"archive/tar"
	"bytes"
	"context"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/internal/testenv"
)

// BenchmarkObserve10k observes 10,000 files of 1 KiB over SSH to a real
// sshd on 127.0.0.1, in one round trip per Observe (one session).
func BenchmarkObserve10k(b *testing.B) {
	for _, sudo := range []bool{false, true} {
		name := "login-user"
		if sudo {
			name = "sudo"
		}
		b.Run(name, func(b *testing.B) {
			s := testenv.SSHD(b)
			paths := testenv.SmallFiles(b, s.UserDir, 10_000, 1024)
			h := newHost(b, config(s, sudo))
			ctx := context.Background()
			if _, err := h.Observe(ctx, paths[:1]); err != nil { // connect outside the timing
				b.Fatal(err)
			}
			sessions := h.sessions.Load()
			b.ResetTimer()
			for b.Loop() {
				obs, err := h.Observe(ctx, paths)
				if err != nil {
					b.Fatal(err)
				}
				if !obs[len(obs)-1].IsRegular() || obs[len(obs)-1].SHA256 == "" {
					b.Fatalf("last file not observed: %+v", obs[len(obs)-1])
				}
			}
			b.ReportMetric(float64(h.sessions.Load()-sessions)/float64(b.N), "sessions/observe")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/observe")
		})
	}
}

// BenchmarkWriteBatch3k writes 3,000 ops (1,000 sites: a docroot, its
// index and a vhost each) over SSH through sudo, in one session; and, as
// its floor, the same tree as a tar stream unpacked by `sudo tar -x`
// through the same connection.
func BenchmarkWriteBatch3k(b *testing.B) {
	s := testenv.SSHD(b)
	h := newHost(b, config(s, true))
	ops, _ := siteOps(s.UserDir, 1000)
	ctx := context.Background()
	if _, err := h.Observe(ctx, []string{s.UserDir}); err != nil { // connect outside the timing
		b.Fatal(err)
	}
	b.Run("WriteBatch", func(b *testing.B) {
		sessions := h.sessions.Load()
		for b.Loop() {
			if _, err := h.WriteBatch(ctx, ops); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(h.sessions.Load()-sessions)/float64(b.N), "sessions/batch")
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/batch")
	})
	b.Run("tar-floor", func(b *testing.B) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, op := range ops {
			hdr := &tar.Header{Name: op.Path, Mode: int64(op.Opts.FileMode().Perm()), Uname: op.Opts.Owner, Format: tar.FormatPAX}
			if op.Kind == host.OpDir {
				hdr.Typeflag, hdr.Name = tar.TypeDir, op.Path+"/"
			} else {
				hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(op.Data))
			}
			if err := tw.WriteHeader(hdr); err != nil {
				b.Fatal(err)
			}
			if _, err := tw.Write(op.Data); err != nil {
				b.Fatal(err)
			}
		}
		if err := tw.Close(); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := h.Run(ctx, []string{"tar", "-x", "-P", "-f", "-"}, host.RunOptions{Stdin: bytes.NewReader(buf.Bytes())}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/batch")
	})
}
