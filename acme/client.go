package acme

import (
	"cmp"
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/acme/api"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/challenge"
	"github.com/go-acme/lego/v5/lego"
	"github.com/go-acme/lego/v5/registration"

	"github.com/berthhq/berth/state"
)

// ARIPoll is how often Ensure asks the CA's renewal information of a
// certificate that is not yet due, unless the CA asks for another interval
// (Retry-After, kept between one hour and one day).
const ARIPoll = 6 * time.Hour

// MaxNames is the most names one certificate holds (Let's Encrypt's limit).
const MaxNames = 100

// Config configures a Client: one CA directory and one account.
type Config struct {
	// DirectoryURL is the CA's ACME directory (https).
	DirectoryURL string
	// Email is the account's contact.
	Email string
	// Store keeps the account, the certificates and the orders.
	Store *state.Store
	// HTTPClient reaches the CA; its TLS roots are the operator's (a
	// private CA's). nil: a client with the system's roots.
	HTTPClient *http.Client
	// Limits are the CA's limits; zero fields take Let's Encrypt's.
	Limits Limits
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// IssuerDomain is the CA's identity in CAA records (letsencrypt.org
	// for Let's Encrypt). When set, Ensure checks before any order that
	// the CAA records of the names do not forbid it (CheckCAA).
	IssuerDomain string
	// Resolver is the resolver of the CAA check (address:port); "": the
	// first name server of /etc/resolv.conf.
	Resolver string
}

// Client obtains and renews certificates from one CA with one account.
// Ensure calls are serialized: a Client is berth's issuance queue for its
// CA, and sends one order at a time.
type Client struct {
	cfg  Config
	mu   sync.Mutex
	lego *lego.Client // created on the first request to the CA
}

// New returns a Client. It sends nothing to the CA: the first request is
// made by the first Ensure that needs one.
func New(cfg Config) (*Client, error) {
	switch {
	case !strings.HasPrefix(cfg.DirectoryURL, "https://"):
		return nil, fmt.Errorf("ACME directory %q: not an https URL; set acme.directory in berth.yaml", cfg.DirectoryURL)
	case cfg.Email == "":
		return nil, fmt.Errorf("ACME directory %s: no contact e-mail; set acme.email in berth.yaml", cfg.DirectoryURL)
	case cfg.Store == nil:
		return nil, errors.New("acme: no state store to keep the account and certificates in")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: time.Minute}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Limits = cfg.Limits.orDefaults()
	return &Client{cfg: cfg}, nil
}

// Request asks for one certificate.
type Request struct {
	// ID names the certificate in the state store, e.g.
	// "production/example.com".
	ID string
	// Names are the certificate's DNS names, the main one first; at most
	// MaxNames.
	Names []string
	// HTTP01 presents HTTP-01 challenges, e.g. a *Webroot.
	HTTP01 challenge.Provider
	// DNS01 presents DNS-01 challenges, e.g. a *DNSUpdate; a wildcard name
	// needs it. When both are set, the CA's choice decides per name.
	DNS01 challenge.Provider
	// Precheck, when set, runs before any order (ResolvesTo, a Webroot's
	// SelfTest); its error ends Ensure with a *PrecheckError, and nothing
	// is sent to the CA.
	Precheck func(ctx context.Context) error
}

// Result is what Ensure did.
type Result struct {
	// Certificate is the stored certificate, valid for the names.
	Certificate state.Certificate
	// Issued is true when Ensure obtained a new certificate.
	Issued bool
	// Replaced is the certificate the new one replaces, when Issued
	// renewed one (its ARI certificate ID, or "" without ARI).
	Replaced string
}

// WaitError is Ensure's error when it sends no order now: the certificate
// backs off after a failure, or the CA's limits are reached. Until is the
// earliest time of the next order.
type WaitError struct {
	ID     string
	Until  time.Time
	Reason string
	// Err is the failure that started the backoff, when Ensure just got it.
	Err error
}

func (e *WaitError) Error() string {
	msg := fmt.Sprintf("certificate %s: %s", e.ID, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + "; next order not before " + e.Until.UTC().Format(time.RFC3339)
}

func (e *WaitError) Unwrap() error { return e.Err }

// Ensure makes the certificate of req valid for req.Names, sending an order
// to the CA only when none is valid or the valid one is due for renewal
// (see the package documentation), within the CA's limits and outside any
// backoff.
func (c *Client) Ensure(ctx context.Context, req Request) (Result, error) {
	names, err := checkNames(req.Names)
	if err != nil {
		return Result{}, fmt.Errorf("certificate %s: %w", req.ID, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	cur, err := c.cfg.Store.Certificate(ctx, req.ID)
	found := err == nil
	if err != nil && !errors.Is(err, state.ErrNotFound) {
		return Result{}, err
	}
	var replaces string
	if found && cur.Directory == c.cfg.DirectoryURL && slices.Equal(cur.Names, names) && len(cur.CertPEM) > 0 && now.Before(cur.NotAfter) {
		due, id, err := c.due(ctx, &cur, now)
		if err != nil {
			return Result{Certificate: cur}, err
		}
		if !due {
			return Result{Certificate: cur}, nil
		}
		replaces = id
	}
	if found && now.Before(cur.NextAttempt) {
		return Result{Certificate: cur}, &WaitError{ID: req.ID, Until: cur.NextAttempt, Reason: backoffReason(cur)}
	}
	orders, err := c.cfg.Store.ACMEOrders(ctx, c.cfg.DirectoryURL, now.Add(-week))
	if err != nil {
		return Result{Certificate: cur}, err
	}
	if why, until := c.cfg.Limits.budget(orders, c.cfg.Email, names, now); why != "" {
		return Result{Certificate: cur}, &WaitError{ID: req.ID, Until: until, Reason: why}
	}
	// The request's own pre-check first (names point at us, the challenge
	// answers): CAA matters only for names that do, and a name that does
	// not is reported as such, without waiting on CAA lookups.
	if req.Precheck != nil {
		if err := req.Precheck(ctx); err != nil {
			return Result{Certificate: cur}, &PrecheckError{ID: req.ID, Err: err}
		}
	}
	if c.cfg.IssuerDomain != "" {
		if err := c.checkCAA(ctx, names); err != nil {
			return Result{Certificate: cur}, &PrecheckError{ID: req.ID, Err: err}
		}
	}
	return c.order(ctx, req, names, cur, found, replaces, now)
}

// due reports whether the valid certificate cur is to be renewed now, and
// the ARI ID of the certificate it replaces. It asks the CA's renewal
// information only when cur.CheckAt has come, and records when to ask
// next.
func (c *Client) due(ctx context.Context, cur *state.Certificate, now time.Time) (bool, string, error) {
	leaf, err := certcrypto.ParsePEMCertificate(cur.CertPEM)
	if err != nil {
		return false, "", fmt.Errorf("certificate %s in the state store does not parse: %w", cur.ID, err)
	}
	ariID, _ := api.MakeARICertID(leaf)
	if !now.Before(cur.RenewAt) {
		return true, ariID, nil
	}
	if now.Before(cur.CheckAt) {
		return false, "", nil
	}
	lc, err := c.client(ctx)
	if err != nil {
		return false, "", err
	}
	ri, err := lc.Certificate.GetRenewalInfo(ctx, leaf)
	next := now.Add(ARIPoll)
	switch {
	case errors.Is(err, api.ErrNoARI):
		next = cur.RenewAt
	case err != nil:
		// The CA's renewal information is advice: without it the
		// certificate stays until RenewAt, and berth asks again later.
		next = now.Add(time.Hour)
	default:
		if ri.RetryAfter > 0 {
			next = now.Add(min(max(ri.RetryAfter, time.Hour), 24*time.Hour))
		}
		// RFC 9773: a uniformly random time in the suggested window. Past:
		// renew now. Before the next poll: ask again at that time, when
		// it will be past (or the window has moved).
		if at := ri.ShouldRenewAt(now, ARIPoll); at != nil {
			if !at.After(now) {
				return true, ariID, nil
			}
			next = minTime(next, *at)
		}
		if s := ri.SuggestedWindow.Start; s.After(now) && s.Before(next) {
			next = s
		}
	}
	cur.CheckAt = minTime(next, cur.RenewAt)
	if err := c.cfg.Store.PutCertificate(ctx, *cur); err != nil {
		return false, "", err
	}
	return false, "", nil
}

// order sends one order and records its outcome.
func (c *Client) order(ctx context.Context, req Request, names []string, cur state.Certificate, found bool, replaces string, now time.Time) (Result, error) {
	if req.HTTP01 == nil && req.DNS01 == nil {
		return Result{Certificate: cur}, fmt.Errorf("certificate %s: no challenge provider", req.ID)
	}
	if i := slices.IndexFunc(names, func(n string) bool { return strings.HasPrefix(n, "*.") }); i >= 0 && req.DNS01 == nil {
		return Result{Certificate: cur}, fmt.Errorf("certificate %s: %s is a wildcard name, which the CA validates only by DNS-01, and the request has no DNS-01 provider: set tls.challenge to dns-01", req.ID, names[i])
	}
	lc, err := c.client(ctx)
	if err != nil {
		// The CA cannot be reached (or refuses the account): no order was
		// sent, but the certificate backs off all the same, so a CA that
		// is down is not asked again on every run.
		if !found {
			cur = state.Certificate{ID: req.ID, Directory: c.cfg.DirectoryURL, Names: names}
		}
		return c.failed(ctx, req, names, cur, now, err)
	}
	if err := setProviders(lc, req); err != nil {
		return Result{Certificate: cur}, fmt.Errorf("certificate %s: %w", req.ID, err)
	}
	res, err := lc.Certificate.Obtain(ctx, certificate.ObtainRequest{
		Domains: names, KeyType: certcrypto.EC256, Bundle: true, ReplacesCertID: replaces,
	})
	if err2 := c.cfg.Store.AddACMEOrder(ctx, state.ACMEOrder{Directory: c.cfg.DirectoryURL, Email: c.cfg.Email, Names: names, At: now, Issued: err == nil}); err2 != nil {
		return Result{Certificate: cur}, errors.Join(err, err2)
	}
	if !found {
		cur = state.Certificate{ID: req.ID, Directory: c.cfg.DirectoryURL, Names: names}
	}
	if err != nil {
		return c.failed(ctx, req, names, cur, now, err)
	}
	leaf, err := certcrypto.ParsePEMCertificate(res.Certificate)
	if err != nil {
		return Result{Certificate: cur}, fmt.Errorf("certificate %s: the CA's certificate does not parse: %w", req.ID, err)
	}
	renewed := found && len(cur.CertPEM) > 0
	cur = state.Certificate{
		ID: req.ID, Directory: c.cfg.DirectoryURL, Names: names,
		CertPEM: res.Certificate, KeyPEM: res.PrivateKey,
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter,
		RenewAt: renewAt(leaf.NotBefore, leaf.NotAfter),
	}
	cur.CheckAt = minTime(now.Add(ARIPoll), cur.RenewAt)
	if err := c.cfg.Store.PutCertificate(ctx, cur); err != nil {
		return Result{Certificate: cur}, err
	}
	r := Result{Certificate: cur, Issued: true}
	if renewed {
		r.Replaced = cmp.Or(replaces, "(no renewal information)")
	}
	return r, nil
}

// failed records a failed order (or a CA that could not be reached) of
// cur: it backs off (Backoff, or the CA's Retry-After when it rate-limits
// us) and returns the *WaitError that says until when.
func (c *Client) failed(ctx context.Context, req Request, names []string, cur state.Certificate, now time.Time, err error) (Result, error) {
	if ctx.Err() != nil {
		return Result{Certificate: cur}, fmt.Errorf("certificate %s: order for %s interrupted: %w", req.ID, strings.Join(names, ", "), err)
	}
	cur.Failures++
	cur.NextAttempt = now.Add(Backoff(cur.Failures))
	var rl *legoacme.RateLimitedError
	if errors.As(err, &rl) && rl.RetryAfter > 0 {
		cur.NextAttempt = maxTime(cur.NextAttempt, now.Add(rl.RetryAfter))
	}
	cur.LastError = err.Error()
	if len(cur.CertPEM) == 0 {
		cur.Directory, cur.Names = c.cfg.DirectoryURL, names
	}
	if err2 := c.cfg.Store.PutCertificate(ctx, cur); err2 != nil {
		return Result{Certificate: cur}, errors.Join(err, err2)
	}
	return Result{Certificate: cur}, &WaitError{ID: req.ID, Until: cur.NextAttempt,
		Reason: fmt.Sprintf("order for %s failed (%d in a row)", strings.Join(names, ", "), cur.Failures), Err: err}
}

// client returns the lego client, registering the account with the CA the
// first time.
func (c *Client) client(ctx context.Context) (*lego.Client, error) {
	if c.lego != nil {
		return c.lego, nil
	}
	acct, err := c.cfg.Store.ACMEAccount(ctx, c.cfg.DirectoryURL, c.cfg.Email, func() (string, error) {
		k, err := certcrypto.GeneratePrivateKey(certcrypto.EC256)
		if err != nil {
			return "", err
		}
		return string(certcrypto.PEMEncode(k)), nil
	})
	if err != nil {
		return nil, err
	}
	key, err := certcrypto.ParsePEMPrivateKey([]byte(acct.KeyPEM))
	if err != nil {
		return nil, fmt.Errorf("the key of the ACME account of %s at %s in the state store does not parse: %w", c.cfg.Email, c.cfg.DirectoryURL, err)
	}
	u := &user{email: c.cfg.Email, key: key}
	if acct.URL != "" {
		u.reg = &legoacme.ExtendedAccount{Location: acct.URL}
	}
	lc, err := lego.NewClient(&lego.Config{
		CADirURL: c.cfg.DirectoryURL, User: u, HTTPClient: c.cfg.HTTPClient, UserAgent: "berth",
	})
	if err != nil {
		return nil, fmt.Errorf("reach the ACME directory %s: %w", c.cfg.DirectoryURL, err)
	}
	if acct.URL == "" {
		reg, err := lc.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
		if err != nil {
			return nil, fmt.Errorf("register the ACME account of %s at %s: %w", c.cfg.Email, c.cfg.DirectoryURL, err)
		}
		if err := c.cfg.Store.SetACMEAccountURL(ctx, c.cfg.DirectoryURL, c.cfg.Email, reg.Location); err != nil {
			return nil, err
		}
	}
	c.lego = lc
	return lc, nil
}

// user is the account as lego sees it.
type user struct {
	email string
	key   crypto.Signer
	reg   *legoacme.ExtendedAccount
}

func (u *user) GetEmail() string                           { return u.email }
func (u *user) GetRegistration() *legoacme.ExtendedAccount { return u.reg }
func (u *user) GetPrivateKey() crypto.Signer               { return u.key }

// checkNames returns names lower-cased, the main one first and the others
// sorted, without duplicates.
func checkNames(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, errors.New("no names")
	}
	out := []string{strings.ToLower(names[0])}
	rest := []string{}
	for _, n := range names[1:] {
		n = strings.ToLower(n)
		if n != out[0] && !slices.Contains(rest, n) {
			rest = append(rest, n)
		}
	}
	slices.Sort(rest)
	out = append(out, rest...)
	if len(out) > MaxNames {
		return nil, fmt.Errorf("%d names; a certificate holds at most %d", len(out), MaxNames)
	}
	for _, n := range out {
		if n == "" || strings.ContainsAny(n, ", \t\n/") {
			return nil, fmt.Errorf("name %q is not a DNS name", n)
		}
	}
	return out, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// backoffReason says why cur waits after failed orders.
func backoffReason(cur state.Certificate) string {
	return fmt.Sprintf("backing off after %d failed orders (last: %s)", cur.Failures, cur.LastError)
}
