package local_test

import (
	"context"
	"testing"

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
