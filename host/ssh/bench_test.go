package ssh

import (
	"context"
	"testing"

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
// index and a vhost each) over SSH through sudo, in one session.
func BenchmarkWriteBatch3k(b *testing.B) {
	s := testenv.SSHD(b)
	h := newHost(b, config(s, true))
	ops, _ := siteOps(s.UserDir, 1000)
	ctx := context.Background()
	if _, err := h.Observe(ctx, []string{s.UserDir}); err != nil { // connect outside the timing
		b.Fatal(err)
	}
	sessions := h.sessions.Load()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.WriteBatch(ctx, ops); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(h.sessions.Load()-sessions)/float64(b.N), "sessions/batch")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/batch")
}
