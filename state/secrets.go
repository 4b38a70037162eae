package state

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/berthhq/berth/redact"
)

// Secret returns the secret stored under key. When there is none, it calls
// generate, stores its result under key and returns it.
//
// Secret is race-free: when several goroutines or processes ask for a
// missing key at once, generate may run more than once, but exactly one
// value is stored and every caller gets that stored value. generate is called
// outside any database lock, so it may be slow, and may use the Store.
//
// Secret honours ctx and is safe for concurrent use. A read-only Store
// returns stored secrets but fails, with an error wrapping ErrReadOnly, on a
// missing key; a nil generate makes a missing key an error wrapping
// ErrNotFound. The secret's value never appears in an error; its key may.
// Every value Secret returns is registered with package redact, so it is
// redacted from everything berth writes out.
func (s *Store) Secret(ctx context.Context, key string, generate func() (string, error)) (string, error) {
	if key == "" {
		return "", errors.New("read secret: empty key")
	}
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM secrets WHERE key = ?`, key).Scan(&v)
	if err == nil {
		redact.Add(v)
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("read secret %q: %w", key, err)
	}
	if err := s.writable(fmt.Sprintf("store new secret %q", key)); err != nil {
		return "", err
	}
	if generate == nil {
		return "", fmt.Errorf("secret %q: not stored and no generator given: %w", key, ErrNotFound)
	}
	gen, err := generate()
	if err != nil {
		return "", fmt.Errorf("generate secret %q: %w", key, err)
	}
	if gen == "" {
		return "", fmt.Errorf("generate secret %q: the generator returned an empty secret", key)
	}
	// The write connection is the only writer, so INSERT-then-SELECT in
	// one transaction returns whichever value was stored first.
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (key, value, created) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
			key, gen, time.Now().UnixNano()); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE key = ?`, key).Scan(&v)
	})
	if err != nil {
		return "", fmt.Errorf("store secret %q: %w", key, err)
	}
	redact.Add(v)
	return v, nil
}

// DeleteSecret forgets the secret stored under key. It returns nil when there
// is none, so it is safe to repeat.
//
// DeleteSecret honours ctx and is safe for concurrent use.
func (s *Store) DeleteSecret(ctx context.Context, key string) error {
	if err := s.writable(fmt.Sprintf("delete secret %q", key)); err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM secrets WHERE key = ?`, key); err != nil {
		return fmt.Errorf("delete secret %q: %w", key, err)
	}
	return nil
}

// passwordAlphabet is URL- and shell-safe: 64 symbols, so a random byte
// masked to 6 bits picks each with equal chance.
const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// GeneratePassword returns n characters drawn uniformly from A-Z, a-z, 0-9,
// '-' and '_' with crypto/rand: 6 bits of entropy per character, so n = 32
// gives 192 bits. It is a ready-made generate function for Secret:
//
//	pw, err := st.Secret(ctx, "db/example.com", func() (string, error) { return state.GeneratePassword(32) })
func GeneratePassword(n int) (string, error) {
	if n <= 0 {
		return "", fmt.Errorf("generate password: length %d is not positive", n)
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	for i := range b {
		b[i] = passwordAlphabet[b[i]&63]
	}
	return string(b), nil
}

// SecretsStamp returns a value that changes whenever a secret is stored
// or deleted (the number of secrets, the newest one's creation time and
// the total size of keys and values), without reading any value out. A
// caller that keeps what it built from secrets (the daemon's desired
// state of an unchanged revision) compares stamps to know that its copy
// still holds what the store holds.
func (s *Store) SecretsStamp(ctx context.Context) (string, error) {
	var n, newest, size int64
	err := s.r.QueryRowContext(ctx, `SELECT count(*), coalesce(max(created), 0), coalesce(sum(length(key) + length(value)), 0) FROM secrets`).Scan(&n, &newest, &size)
	if err != nil {
		return "", fmt.Errorf("read the secrets' stamp: %w", err)
	}
	return fmt.Sprintf("%d/%d/%d", n, newest, size), nil
}
