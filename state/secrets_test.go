package state

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestSecret(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())

	calls := 0
	gen := func() (string, error) { calls++; return GeneratePassword(32) }
	first, err := s.Secret(ctx, "db/example.com", gen)
	must(t, err)
	again, err := s.Secret(ctx, "db/example.com", gen)
	must(t, err)
	if first != again || calls != 1 {
		t.Errorf("second Secret returned a different value or generated again (%d calls)", calls)
	}
	other, err := s.Secret(ctx, "db/other.org", gen)
	must(t, err)
	if other == first {
		t.Error("two keys share a secret")
	}

	// A failing generator stores nothing, and its error is passed on.
	boom := errors.New("entropy ran out")
	if _, err := s.Secret(ctx, "k", func() (string, error) { return "", boom }); !errors.Is(err, boom) {
		t.Errorf("Secret with failing generator = %v", err)
	}
	if _, err := s.Secret(ctx, "k", func() (string, error) { return "", nil }); err == nil {
		t.Error("empty generated secret accepted")
	}
	if _, err := s.Secret(ctx, "k", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Secret of missing key without generator = %v, want ErrNotFound", err)
	}

	// Delete, then a new value is generated; deleting twice is fine.
	must(t, s.DeleteSecret(ctx, "db/example.com"))
	must(t, s.DeleteSecret(ctx, "db/example.com"))
	fresh, err := s.Secret(ctx, "db/example.com", gen)
	must(t, err)
	if fresh == first {
		t.Error("deleted secret came back")
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	const value = "hunter2-very-secret"
	_, err := s.Secret(ctx, "k", func() (string, error) { return value, nil })
	must(t, err)
	s.Close()
	// Every path that fails after the secret exists.
	_, err = s.Secret(ctx, "k", func() (string, error) { return value, nil })
	if err == nil || strings.Contains(err.Error(), value) {
		t.Errorf("error after Close = %v", err)
	}
}

func TestSecretConcurrent(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	const n = 16
	var (
		wg        sync.WaitGroup
		generated atomic.Int32
		got       [n]string
		errs      [n]error
		start     = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.Secret(ctx, "shared", func() (string, error) {
				generated.Add(1)
				return GeneratePassword(32)
			})
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if got[i] != got[0] {
			t.Fatalf("goroutine %d got a different secret than goroutine 0 (%d generated)", i, generated.Load())
		}
	}
	stored, err := s.Secret(ctx, "shared", nil)
	must(t, err)
	if stored != got[0] {
		t.Error("stored secret differs from the one returned")
	}
}

func TestGeneratePassword(t *testing.T) {
	for _, n := range []int{1, 16, 32, 100} {
		p, err := GeneratePassword(n)
		must(t, err)
		if len(p) != n {
			t.Errorf("len = %d, want %d", len(p), n)
		}
		if strings.Trim(p, passwordAlphabet) != "" {
			t.Errorf("password has characters outside the alphabet")
		}
	}
	for _, n := range []int{0, -1} {
		if _, err := GeneratePassword(n); err == nil {
			t.Errorf("GeneratePassword(%d) succeeded", n)
		}
	}
	// Every symbol of the alphabet turns up in a long password.
	p, err := GeneratePassword(10000)
	must(t, err)
	for _, c := range passwordAlphabet {
		if !strings.ContainsRune(p, c) {
			t.Errorf("%q never generated", c)
		}
	}
}

// TestSecretsStamp: the stamp changes with every secret stored or
// deleted, and only then; reading a secret leaves it as it is.
func TestSecretsStamp(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	gen := func() (string, error) { return GeneratePassword(32) }
	stamp := func() string {
		t.Helper()
		v, err := s.SecretsStamp(ctx)
		must(t, err)
		return v
	}
	steps := []struct {
		name    string
		do      func() error
		changes bool
	}{
		{"a new secret", func() error { _, err := s.Secret(ctx, "db/a", gen); return err }, true},
		{"the same secret read", func() error { _, err := s.Secret(ctx, "db/a", gen); return err }, false},
		{"another new secret", func() error { _, err := s.Secret(ctx, "db/b", gen); return err }, true},
		{"a secret deleted", func() error { return s.DeleteSecret(ctx, "db/a") }, true},
		{"the deleted secret generated again", func() error { _, err := s.Secret(ctx, "db/a", gen); return err }, true},
		{"a missing secret deleted", func() error { return s.DeleteSecret(ctx, "db/none") }, false},
	}
	prev := stamp()
	for _, st := range steps {
		must(t, st.do())
		now := stamp()
		if changed := now != prev; changed != st.changes {
			t.Errorf("%s: stamp %q -> %q, changed %v, want %v", st.name, prev, now, changed, st.changes)
		}
		prev = now
	}
}
