package local_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/internal/testenv"
)

// BenchmarkObserve10k observes 10,000 files of 1 KiB (stat + SHA-256).
func BenchmarkObserve10k(b *testing.B) {
	paths := testenv.SmallFiles(b, b.TempDir(), 10_000, 1024)
	h := local.New()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		obs, err := h.Observe(ctx, paths)
		if err != nil {
			b.Fatal(err)
		}
		if !obs[len(obs)-1].IsRegular() {
			b.Fatalf("last file not observed: %+v", obs[len(obs)-1])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/observe")
}

// BenchmarkWriteBatch3k writes 3,000 ops (1,000 sites: a docroot, its
// index and a vhost each) on the local host.
func BenchmarkWriteBatch3k(b *testing.B) {
	dir := b.TempDir()
	sites := filepath.Join(dir, "sites")
	ops := []host.BatchOp{host.DirOp(sites, host.WriteOptions{Mode: 0o755})}
	for i := range 1000 {
		root := filepath.Join(dir, "www", fmt.Sprintf("site%05d.example", i))
		index, vhost := filepath.Join(root, "index.html"), filepath.Join(sites, fmt.Sprintf("site%05d.conf", i))
		ops = append(ops,
			host.DirOp(root, host.WriteOptions{Mode: 0o755}),
			host.FileOp(index, []byte(index), host.WriteOptions{Mode: 0o644}),
			host.FileOp(vhost, []byte(vhost), host.WriteOptions{Mode: 0o644}))
	}
	h := local.New()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.WriteBatch(ctx, ops); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/batch")
}
