package state

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	tok, err := s.CreateToken(ctx, Token{Name: "acme-viewer", Role: "viewer", Client: "acme"})
	must(t, err)
	if !strings.HasPrefix(tok, TokenPrefix) || len(tok) < len(TokenPrefix)+43 {
		t.Fatalf("token %q", tok)
	}
	got, err := s.LookupToken(ctx, HashToken(tok))
	must(t, err)
	if got.Name != "acme-viewer" || got.Role != "viewer" || got.Client != "acme" || got.Created.IsZero() {
		t.Errorf("lookup: %+v", got)
	}
	if _, err := s.LookupToken(ctx, HashToken(tok+"x")); !errors.Is(err, ErrNotFound) {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := s.CreateToken(ctx, Token{Name: "acme-viewer", Role: "admin"}); !errors.Is(err, ErrTokenExists) {
		t.Errorf("same name again: %v", err)
	}
	other, err := s.CreateToken(ctx, Token{Name: "ops", Role: "operator"})
	must(t, err)
	if other == tok {
		t.Fatal("two tokens are the same")
	}
	list, err := s.Tokens(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Name != "acme-viewer" || list[1].Name != "ops" {
		t.Errorf("list: %+v", list)
	}
	// The database holds no token, only hashes.
	var n int
	must(t, s.r.QueryRowContext(ctx, `SELECT count(*) FROM api_tokens WHERE hash = ? OR CAST(hash AS TEXT) LIKE '%berth_%'`, tok).Scan(&n))
	if n != 0 {
		t.Error("a token is stored in clear")
	}
	must(t, s.RevokeToken(ctx, "ops"))
	if _, err := s.LookupToken(ctx, HashToken(other)); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked token still found: %v", err)
	}
	if err := s.RevokeToken(ctx, "ops"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke twice: %v", err)
	}
}
