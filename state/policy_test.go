package state

import (
	"context"
	"testing"
)

func TestAppliedPolicy(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	if _, ok, err := s.AppliedPolicy(ctx, "production"); err != nil || ok {
		t.Fatalf("fresh store: ok=%v err=%v, want none recorded", ok, err)
	}
	for _, p := range []AppliedPolicy{
		{Env: "production", Revision: "r1", Policy: []byte(`{"max_deletions":5}`)},
		{Env: "production", Revision: "r2", Policy: []byte(`{"max_deletions":2}`)},
		{Env: "staging", Revision: "s1", Policy: []byte(`{"max_deletions":9}`)},
	} {
		if err := s.SetAppliedPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = open(t, dir) // survives a restart
	for env, want := range map[string]string{"production": `r2 {"max_deletions":2}`, "staging": `s1 {"max_deletions":9}`} {
		p, ok, err := s.AppliedPolicy(ctx, env)
		if err != nil || !ok {
			t.Fatalf("%s: ok=%v err=%v", env, ok, err)
		}
		if got := p.Revision + " " + string(p.Policy); got != want {
			t.Errorf("%s: %s, want %s", env, got, want)
		}
	}
	if err := s.SetAppliedPolicy(ctx, AppliedPolicy{Policy: []byte(`{}`)}); err == nil {
		t.Error("a policy without an environment was recorded")
	}
}
