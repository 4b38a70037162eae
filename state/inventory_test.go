package state

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func ids(rs []Resource) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestInventory(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	vhost := func(site, host, hash string) Resource {
		return Resource{
			ID: "site/" + site + "/vhost@" + host, Host: host, Kind: "nginx-vhost",
			Path: "/etc/nginx/sites-enabled/" + site + ".conf", Hash: hash, Revision: "r1",
			Site: site, UpdatedAt: t0, Data: []byte(`{"reload":"nginx"}`),
		}
	}
	for _, c := range []struct {
		name   string
		before func(t *testing.T, s *Store)
		env    string
		want   []string
		check  func(t *testing.T, got []Resource)
	}{
		{
			name: "empty",
			env:  "prod",
			want: []string{},
		},
		{
			name: "sorted by ID, other environments apart",
			before: func(t *testing.T, s *Store) {
				must(t, s.SaveResources(ctx, "prod", []Resource{vhost("c.org", "web1", "h"), vhost("a.org", "web2", "h"), vhost("b.org", "web1", "h")}))
				must(t, s.SaveResources(ctx, "dev", []Resource{vhost("a.org", "web1", "h")}))
			},
			env:  "prod",
			want: []string{"site/a.org/vhost@web2", "site/b.org/vhost@web1", "site/c.org/vhost@web1"},
		},
		{
			name: "all environments",
			before: func(t *testing.T, s *Store) {
				must(t, s.SaveResources(ctx, "prod", []Resource{vhost("b.org", "web1", "h"), vhost("a.org", "web1", "h")}))
				must(t, s.SaveResources(ctx, "dev", []Resource{vhost("a.org", "web1", "h")}))
			},
			env:  "",
			want: []string{"site/a.org/vhost@web1", "site/a.org/vhost@web1", "site/b.org/vhost@web1"},
			check: func(t *testing.T, got []Resource) {
				if got[0].Env != "dev" || got[1].Env != "prod" {
					t.Errorf("envs %q %q, want dev prod", got[0].Env, got[1].Env)
				}
			},
		},
		{
			name: "round trip of every field",
			before: func(t *testing.T, s *Store) {
				must(t, s.SaveResources(ctx, "prod", []Resource{vhost("a.org", "web1", "h1")}))
			},
			env:  "prod",
			want: []string{"site/a.org/vhost@web1"},
			check: func(t *testing.T, got []Resource) {
				want := vhost("a.org", "web1", "h1")
				want.Env = "prod"
				if !reflect.DeepEqual(got[0], want) {
					t.Errorf("got %+v\nwant %+v", got[0], want)
				}
			},
		},
		{
			name: "upsert replaces and keeps the others",
			before: func(t *testing.T, s *Store) {
				must(t, s.SaveResources(ctx, "prod", []Resource{vhost("a.org", "web1", "h1"), vhost("b.org", "web1", "h1")}))
				r := vhost("a.org", "web1", "h2")
				r.Revision, r.UpdatedAt, r.Data = "r2", time.Time{}, nil
				must(t, s.SaveResources(ctx, "prod", []Resource{r}))
			},
			env:  "prod",
			want: []string{"site/a.org/vhost@web1", "site/b.org/vhost@web1"},
			check: func(t *testing.T, got []Resource) {
				a, b := got[0], got[1]
				if a.Hash != "h2" || a.Revision != "r2" || a.Data != nil || !a.UpdatedAt.After(t0) {
					t.Errorf("upserted resource = %+v", a)
				}
				if b.Hash != "h1" || !b.UpdatedAt.Equal(t0) {
					t.Errorf("untouched resource = %+v", b)
				}
			},
		},
		{
			name: "saving an unchanged resource keeps its UpdatedAt",
			before: func(t *testing.T, s *Store) {
				must(t, s.SaveResources(ctx, "prod", []Resource{vhost("a.org", "web1", "h1")}))
				r := vhost("a.org", "web1", "h1")
				r.UpdatedAt = time.Time{}
				must(t, s.SaveResources(ctx, "prod", []Resource{r}))
			},
			env:  "prod",
			want: []string{"site/a.org/vhost@web1"},
			check: func(t *testing.T, got []Resource) {
				if !got[0].UpdatedAt.Equal(t0) {
					t.Errorf("UpdatedAt = %v, want the original %v", got[0].UpdatedAt, t0)
				}
			},
		},
		{
			name: "delete, missing IDs ignored, other environment untouched",
			before: func(t *testing.T, s *Store) {
				must(t, s.SaveResources(ctx, "prod", []Resource{vhost("a.org", "web1", "h"), vhost("b.org", "web1", "h"), vhost("c.org", "web1", "h")}))
				must(t, s.SaveResources(ctx, "dev", []Resource{vhost("a.org", "web1", "h")}))
				must(t, s.DeleteResources(ctx, "prod", []string{"site/a.org/vhost@web1", "site/c.org/vhost@web1", "nope"}))
				must(t, s.DeleteResources(ctx, "prod", []string{"site/a.org/vhost@web1"}))
			},
			env:  "",
			want: []string{"site/a.org/vhost@web1", "site/b.org/vhost@web1"},
			check: func(t *testing.T, got []Resource) {
				if got[0].Env != "dev" {
					t.Errorf("deleted from the wrong environment: %+v", got)
				}
			},
		},
		{
			name: "invalid save saves nothing",
			before: func(t *testing.T, s *Store) {
				if err := s.SaveResources(ctx, "prod", []Resource{vhost("a.org", "web1", "h"), {}}); err == nil {
					t.Error("saving a resource without ID succeeded")
				}
				if err := s.SaveResources(ctx, "prod", []Resource{{ID: "x", Env: "dev"}}); err == nil {
					t.Error("saving a resource of another environment succeeded")
				}
			},
			env:  "prod",
			want: []string{},
		},
		{
			name: "cancelled save saves nothing",
			before: func(t *testing.T, s *Store) {
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				if err := s.SaveResources(cctx, "prod", []Resource{vhost("a.org", "web1", "h")}); err == nil {
					t.Error("cancelled save succeeded")
				}
			},
			env:  "prod",
			want: []string{},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, t.TempDir())
			if c.before != nil {
				c.before(t, s)
			}
			got, err := s.Inventory(ctx, c.env)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids(got), c.want) {
				t.Fatalf("IDs = %q, want %q", ids(got), c.want)
			}
			if c.check != nil {
				c.check(t, got)
			}
		})
	}
}

// TestInventoryGeneration: every save and deletion moves the generation,
// reads do not.
func TestInventoryGeneration(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	r := Resource{ID: "site/a.org/vhost@web1", Host: "web1", Kind: "file", Path: "/a.conf", Hash: "h"}
	for _, c := range []struct {
		name  string
		op    func() error
		moves bool
	}{
		{"read", func() error { _, err := s.Inventory(ctx, "prod"); return err }, false},
		{"save", func() error { return s.SaveResources(ctx, "prod", []Resource{r}) }, true},
		{"save unchanged", func() error { return s.SaveResources(ctx, "prod", []Resource{r}) }, true},
		{"read all", func() error { _, err := s.Inventory(ctx, ""); return err }, false},
		{"delete", func() error { return s.DeleteResources(ctx, "prod", []string{r.ID}) }, true},
		{"failed save", func() error { s.SaveResources(ctx, "prod", []Resource{{}}); return nil }, false},
	} {
		g := s.InventoryGeneration()
		must(t, c.op())
		if moved := s.InventoryGeneration() != g; moved != c.moves {
			t.Errorf("%s: generation moved = %v, want %v", c.name, moved, c.moves)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func inventory10k(env string) []Resource {
	rs := make([]Resource, 10000)
	for i := range rs {
		site := fmt.Sprintf("site%05d.example.com", i)
		rs[i] = Resource{
			ID: "site/" + site + "/vhost@web1", Env: env, Host: "web1", Kind: "nginx-vhost",
			Path: "/etc/nginx/sites-enabled/" + site + ".conf",
			Hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Revision: "0123456789abcdef0123456789abcdef01234567",
			Site: site, Data: []byte(`{"reload":"nginx","owner":"www-data"}`),
		}
	}
	return rs
}

// BenchmarkSaveInventory10k saves 10,000 resources that all changed (a new
// revision each time), in one call.
func BenchmarkSaveInventory10k(b *testing.B) {
	ctx := context.Background()
	s := open(b, b.TempDir())
	rs := inventory10k("prod")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		rev := fmt.Sprintf("rev%d", i)
		for j := range rs {
			rs[j].Revision = rev
		}
		if err := s.SaveResources(ctx, "prod", rs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSaveInventory10kUnchanged saves 10,000 resources already recorded
// as they are: the no-op run's case.
func BenchmarkSaveInventory10kUnchanged(b *testing.B) {
	ctx := context.Background()
	s := open(b, b.TempDir())
	rs := inventory10k("prod")
	if err := s.SaveResources(ctx, "prod", rs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.SaveResources(ctx, "prod", rs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadInventory10k(b *testing.B) {
	ctx := context.Background()
	s := open(b, b.TempDir())
	if err := s.SaveResources(ctx, "prod", inventory10k("prod")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rs, err := s.Inventory(ctx, "prod")
		if err != nil {
			b.Fatal(err)
		}
		if len(rs) != 10000 {
			b.Fatalf("%d resources", len(rs))
		}
	}
}
