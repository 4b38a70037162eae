package state

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/redact"
)

const testKey = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIJx3+berthtestaccountkeyZZZZZZZZZZZZZZoAoGCCqGSM49\n-----END EC PRIVATE KEY-----\n"

func TestACMEAccount(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	gens := 0
	gen := func() (string, error) { gens++; return testKey, nil }
	for _, tc := range []struct {
		name      string
		directory string
		wantGens  int
		wantCount int
	}{
		{"first use generates the key", "https://ca.example/dir", 1, 1},
		{"second use of the same directory and e-mail reuses it", "https://ca.example/dir", 1, 1},
		{"another directory is another account", "https://other.example/dir", 2, 2},
	} {
		a, err := s.ACMEAccount(ctx, tc.directory, "a@example.com", gen)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		n, _ := s.ACMEAccounts(ctx)
		if a.KeyPEM != testKey || gens != tc.wantGens || n != tc.wantCount {
			t.Fatalf("%s: key kept %v, %d generated (want %d), %d accounts (want %d)", tc.name, a.KeyPEM == testKey, gens, tc.wantGens, n, tc.wantCount)
		}
	}
	if strings.Contains(redact.String(testKey), "berthtestaccountkey") {
		t.Fatal("the account key is not registered with redact")
	}
	must(t, s.SetACMEAccountURL(ctx, "https://ca.example/dir", "a@example.com", "https://ca.example/acct/1"))
	s.Close()
	s = open(t, dir)
	defer s.Close()
	a, err := s.ACMEAccount(ctx, "https://ca.example/dir", "a@example.com", nil)
	if err != nil || a.URL != "https://ca.example/acct/1" {
		t.Fatalf("after reopen: %+v, %v", a, err)
	}
	if _, err := s.ACMEAccount(ctx, "https://third.example/dir", "a@example.com", func() (string, error) { return "", errors.New("no entropy") }); err == nil {
		t.Fatal("a failed key generation stored an account")
	}
	if _, err := s.ACMEAccount(ctx, "https://third.example/dir", "a@example.com", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing account without a generator: %v, want ErrNotFound", err)
	}
}

func TestCertificatesAndOrders(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer s.Close()
	if _, err := s.Certificate(ctx, "production/example.com"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing certificate: %v, want ErrNotFound", err)
	}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	c := Certificate{ID: "production/example.com", Directory: "https://ca.example/dir", Names: []string{"example.com", "www.example.com"},
		CertPEM: []byte("chain"), KeyPEM: []byte("certificate-key-secret-value"), NotBefore: at, NotAfter: at.Add(90 * 24 * time.Hour),
		RenewAt: at.Add(60 * 24 * time.Hour), CheckAt: at.Add(6 * time.Hour), Failures: 2, NextAttempt: at.Add(time.Hour), LastError: "timeout"}
	for range 2 { // the second put replaces
		must(t, s.PutCertificate(ctx, c))
	}
	got, err := s.Certificate(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.Updated = time.Time{}
	if !slices.Equal(got.Names, c.Names) || string(got.KeyPEM) != string(c.KeyPEM) || !got.NotAfter.Equal(c.NotAfter) || !got.RenewAt.Equal(c.RenewAt) ||
		!got.CheckAt.Equal(c.CheckAt) || got.Failures != 2 || !got.NextAttempt.Equal(c.NextAttempt) || got.LastError != "timeout" {
		t.Fatalf("round trip: got %+v, want %+v", got, c)
	}
	if strings.Contains(redact.String("certificate-key-secret-value"), "secret") {
		t.Fatal("the certificate key is not registered with redact")
	}
	for i, o := range []ACMEOrder{
		{Directory: "https://ca.example/dir", Email: "a@example.com", Names: []string{"example.com"}, At: at.Add(-8 * 24 * time.Hour), Issued: true},
		{Directory: "https://ca.example/dir", Email: "a@example.com", Names: []string{"example.com", "www.example.com"}, At: at, Issued: true},
		{Directory: "https://other.example/dir", Email: "a@example.com", Names: []string{"example.com"}, At: at},
	} {
		if err := s.AddACMEOrder(ctx, o); err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
	}
	orders, err := s.ACMEOrders(ctx, "https://ca.example/dir", at.Add(-7*24*time.Hour))
	if err != nil || len(orders) != 1 || !orders[0].Issued || strings.Join(orders[0].Names, " ") != "example.com www.example.com" {
		t.Fatalf("orders of the last week at ca.example: %+v, %v", orders, err)
	}
}
