package state

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berthhq/berth/redact"
)

// ACMEAccount is an account at an ACME CA: one per directory URL and
// contact e-mail. KeyPEM is its private key (a secret: registered with
// package redact whenever it is read or stored); URL is the account's URL
// at the CA, empty until the CA registered it.
type ACMEAccount struct {
	Directory, Email string
	KeyPEM           string
	URL              string
	Created          time.Time
}

// ACMEAccount returns the account of directory and email. When there is
// none, it calls newKey for a private key (PEM), stores an account with that
// key and no URL, and returns it; like Secret, concurrent callers all get
// the one account stored. A nil newKey makes a missing account an error
// wrapping ErrNotFound.
//
// ACMEAccount honours ctx and is safe for concurrent use.
func (s *Store) ACMEAccount(ctx context.Context, directory, email string, newKey func() (string, error)) (ACMEAccount, error) {
	a, err := s.readACMEAccount(ctx, s.r, directory, email)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return a, err
	}
	if err := s.writable(fmt.Sprintf("store the ACME account of %s at %s", email, directory)); err != nil {
		return ACMEAccount{}, err
	}
	if newKey == nil {
		return ACMEAccount{}, fmt.Errorf("ACME account of %s at %s: not stored and no key generator given: %w", email, directory, ErrNotFound)
	}
	key, err := newKey()
	if err != nil {
		return ACMEAccount{}, fmt.Errorf("generate the key of the ACME account of %s at %s: %w", email, directory, err)
	}
	redact.Add(key)
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO acme_accounts (directory, email, key_pem, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			directory, email, key, time.Now().UnixNano()); err != nil {
			return err
		}
		a, err = s.readACMEAccount(ctx, tx, directory, email)
		return err
	})
	if err != nil {
		return ACMEAccount{}, fmt.Errorf("store the ACME account of %s at %s: %w", email, directory, err)
	}
	return a, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) readACMEAccount(ctx context.Context, q queryer, directory, email string) (ACMEAccount, error) {
	a := ACMEAccount{Directory: directory, Email: email}
	var created int64
	err := q.QueryRowContext(ctx, `SELECT key_pem, url, created FROM acme_accounts WHERE directory = ? AND email = ?`, directory, email).
		Scan(&a.KeyPEM, &a.URL, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return ACMEAccount{}, fmt.Errorf("ACME account of %s at %s: %w", email, directory, ErrNotFound)
	}
	if err != nil {
		return ACMEAccount{}, fmt.Errorf("read the ACME account of %s at %s: %w", email, directory, err)
	}
	redact.Add(a.KeyPEM)
	a.Created = fromDB(created)
	return a, nil
}

// SetACMEAccountURL records the URL the CA gave the account of directory
// and email.
func (s *Store) SetACMEAccountURL(ctx context.Context, directory, email, url string) error {
	if err := s.writable("record an ACME account's URL"); err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE acme_accounts SET url = ? WHERE directory = ? AND email = ?`, url, directory, email); err != nil {
		return fmt.Errorf("record the URL of the ACME account of %s at %s: %w", email, directory, err)
	}
	return nil
}

// ACMEAccounts returns how many ACME accounts are stored.
func (s *Store) ACMEAccounts(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM acme_accounts`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count ACME accounts: %w", err)
	}
	return n, nil
}

// Certificate is what berth knows of one certificate it manages: the last
// one issued (CertPEM, the chain, and KeyPEM, its private key, a secret
// registered with package redact), when to act on it next, and its
// failures.
type Certificate struct {
	// ID names the certificate, e.g. "production/example.com".
	ID        string
	Directory string
	// Names are the certificate's DNS names, the first the main one.
	Names           []string
	CertPEM, KeyPEM []byte
	NotBefore       time.Time
	NotAfter        time.Time
	// RenewAt is when the certificate is renewed without renewal
	// information from the CA; CheckAt when berth next asks the CA for it.
	RenewAt, CheckAt time.Time
	// Failures counts the orders that failed since the last success;
	// NextAttempt is the earliest time of the next order, LastError why
	// the last one failed.
	Failures    int
	NextAttempt time.Time
	LastError   string
	Updated     time.Time
}

// Certificate returns the certificate id; an error wrapping ErrNotFound
// when berth has none.
func (s *Store) Certificate(ctx context.Context, id string) (Certificate, error) {
	c := Certificate{ID: id}
	var names string
	var nb, na, ra, ca, next, upd int64
	err := s.r.QueryRowContext(ctx, `SELECT directory, names, cert_pem, key_pem, not_before, not_after, renew_at, check_at, failures, next_attempt, last_error, updated
		FROM certificates WHERE id = ?`, id).
		Scan(&c.Directory, &names, &c.CertPEM, &c.KeyPEM, &nb, &na, &ra, &ca, &c.Failures, &next, &c.LastError, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		return Certificate{}, fmt.Errorf("certificate %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Certificate{}, fmt.Errorf("read certificate %q: %w", id, err)
	}
	if len(c.KeyPEM) > 0 {
		redact.Add(string(c.KeyPEM))
	}
	c.Names = strings.Split(names, ",")
	c.NotBefore, c.NotAfter, c.RenewAt, c.CheckAt, c.NextAttempt, c.Updated = fromDB(nb), fromDB(na), fromDB(ra), fromDB(ca), fromDB(next), fromDB(upd)
	return c, nil
}

// PutCertificate stores c, replacing what was stored under c.ID.
func (s *Store) PutCertificate(ctx context.Context, c Certificate) error {
	if err := s.writable(fmt.Sprintf("store certificate %q", c.ID)); err != nil {
		return err
	}
	if len(c.KeyPEM) > 0 {
		redact.Add(string(c.KeyPEM))
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO certificates (id, directory, names, cert_pem, key_pem, not_before, not_after, renew_at, check_at, failures, next_attempt, last_error, updated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET directory = excluded.directory, names = excluded.names, cert_pem = excluded.cert_pem, key_pem = excluded.key_pem,
			not_before = excluded.not_before, not_after = excluded.not_after, renew_at = excluded.renew_at, check_at = excluded.check_at,
			failures = excluded.failures, next_attempt = excluded.next_attempt, last_error = excluded.last_error, updated = excluded.updated`,
		c.ID, c.Directory, strings.Join(c.Names, ","), c.CertPEM, c.KeyPEM, toDB(c.NotBefore), toDB(c.NotAfter), toDB(c.RenewAt), toDB(c.CheckAt),
		c.Failures, toDB(c.NextAttempt), c.LastError, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("store certificate %q: %w", c.ID, err)
	}
	return nil
}

// ACMEOrder is one order berth sent to an ACME CA, issued or not.
type ACMEOrder struct {
	Directory, Email string
	Names            []string
	At               time.Time
	Issued           bool
}

// AddACMEOrder records an order sent to a CA.
func (s *Store) AddACMEOrder(ctx context.Context, o ACMEOrder) error {
	if err := s.writable("record an ACME order"); err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO acme_orders (directory, email, names, at, issued) VALUES (?, ?, ?, ?, ?)`,
		o.Directory, o.Email, strings.Join(o.Names, ","), toDB(o.At), o.Issued); err != nil {
		return fmt.Errorf("record an ACME order for %s: %w", strings.Join(o.Names, ", "), err)
	}
	return nil
}

// ACMEOrders returns the orders sent to directory at or after since, oldest
// first.
func (s *Store) ACMEOrders(ctx context.Context, directory string, since time.Time) ([]ACMEOrder, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT email, names, at, issued FROM acme_orders WHERE directory = ? AND at >= ? ORDER BY at, id`, directory, toDB(since))
	if err != nil {
		return nil, fmt.Errorf("read the ACME orders sent to %s: %w", directory, err)
	}
	defer rows.Close()
	out := []ACMEOrder{}
	for rows.Next() {
		o := ACMEOrder{Directory: directory}
		var names string
		var at int64
		if err := rows.Scan(&o.Email, &names, &at, &o.Issued); err != nil {
			return nil, fmt.Errorf("read the ACME orders sent to %s: %w", directory, err)
		}
		o.Names, o.At = strings.Split(names, ","), fromDB(at)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the ACME orders sent to %s: %w", directory, err)
	}
	return out, nil
}
