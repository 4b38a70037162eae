package state

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Token is an API and dashboard token as the store keeps it: its name,
// role and client, never the token itself (only its SHA-256: a token is
// 32 random bytes, so a fast hash is enough to make a stolen database
// useless for logging in).
type Token struct {
	Name string
	// Role is "viewer", "operator" or "admin".
	Role string
	// Client, when set, confines the token to that client's sites (the
	// dashboard on the client's hostname, viewer only).
	Client  string
	Created time.Time
}

// TokenPrefix starts every token berth makes, so a leaked one is
// recognisable (secret scanners, logs).
const TokenPrefix = "berth_"

// HashToken is the hash the store keeps of a token.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ErrTokenExists is wrapped by CreateToken's error for a name in use.
var ErrTokenExists = errors.New("a token of that name exists")

// CreateToken makes a new random token for t (Created is set) and
// returns it: the only time it is seen.
func (s *Store) CreateToken(ctx context.Context, t Token) (string, error) {
	if err := s.writable("create token " + t.Name); err != nil {
		return "", err
	}
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	_, err := s.w.ExecContext(ctx, `INSERT INTO api_tokens (name, role, client, hash, created) VALUES (?, ?, ?, ?, ?)`,
		t.Name, t.Role, t.Client, HashToken(token), time.Now().UnixNano())
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return "", fmt.Errorf("create token %s: %w: revoke it first (berth token revoke %s)", t.Name, ErrTokenExists, t.Name)
		}
		return "", fmt.Errorf("create token %s: %w", t.Name, err)
	}
	return token, nil
}

// LookupToken returns the token whose hash is hash, ErrNotFound for
// none.
func (s *Store) LookupToken(ctx context.Context, hash []byte) (Token, error) {
	var t Token
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT name, role, client, created FROM api_tokens WHERE hash = ?`, hash).Scan(&t.Name, &t.Role, &t.Client, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrNotFound
	} else if err != nil {
		return Token{}, fmt.Errorf("look up a token: %w", err)
	}
	t.Created = time.Unix(0, created)
	return t, nil
}

// Tokens lists the tokens, by name.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, role, client, created FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var t Token
		var created int64
		if err := rows.Scan(&t.Name, &t.Role, &t.Client, &created); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.Created = time.Unix(0, created)
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken deletes the token name; ErrNotFound when there is none.
func (s *Store) RevokeToken(ctx context.Context, name string) error {
	if err := s.writable("revoke token " + name); err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, `DELETE FROM api_tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke token %s: %w", name, ErrNotFound)
	}
	return nil
}
