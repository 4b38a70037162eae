package state

import (
	"context"
	"fmt"
	"testing"
)

func pendingNames(t *testing.T, s *Store, env string) string {
	t.Helper()
	ps, err := s.PendingReloads(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		if p.Env != env || p.Since.IsZero() {
			t.Errorf("pending reload %+v: wrong env or no Since", p)
		}
		out = append(out, p.Host+"/"+p.Service)
	}
	return fmt.Sprint(out)
}

func TestPendingReloads(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		steps func(s *Store) error
		prod  string
		dev   string
	}{
		{"none", func(*Store) error { return nil }, "[]", "[]"},
		{"added", func(s *Store) error {
			return s.AddPendingReloads(ctx, "prod", "web2", []string{"php8.2", "nginx"})
		}, "[web2/nginx web2/php8.2]", "[]"},
		{"added twice is once", func(s *Store) error {
			must(t, s.AddPendingReloads(ctx, "prod", "web1", []string{"nginx"}))
			return s.AddPendingReloads(ctx, "prod", "web1", []string{"nginx"})
		}, "[web1/nginx]", "[]"},
		{"cleared per host and env", func(s *Store) error {
			must(t, s.AddPendingReloads(ctx, "prod", "web1", []string{"nginx", "php8.2"}))
			must(t, s.AddPendingReloads(ctx, "prod", "web2", []string{"nginx"}))
			must(t, s.AddPendingReloads(ctx, "dev", "web1", []string{"nginx"}))
			return s.ClearPendingReloads(ctx, "prod", "web1", []string{"nginx", "apache"})
		}, "[web1/php8.2 web2/nginx]", "[web1/nginx]"},
		{"nothing to add", func(s *Store) error { return s.AddPendingReloads(ctx, "prod", "web1", nil) }, "[]", "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			if err := tc.steps(s); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = open(t, dir) // survives a reopen
			defer s.Close()
			if got := pendingNames(t, s, "prod"); got != tc.prod {
				t.Errorf("prod pending = %s, want %s", got, tc.prod)
			}
			if got := pendingNames(t, s, "dev"); got != tc.dev {
				t.Errorf("dev pending = %s, want %s", got, tc.dev)
			}
		})
	}
}

func TestPendingReloadsNeedEnvAndHost(t *testing.T) {
	s := open(t, t.TempDir())
	defer s.Close()
	for _, c := range [][2]string{{"", "web1"}, {"prod", ""}} {
		if err := s.AddPendingReloads(context.Background(), c[0], c[1], []string{"nginx"}); err == nil {
			t.Errorf("AddPendingReloads(%q, %q) = nil, want an error", c[0], c[1])
		}
	}
}
