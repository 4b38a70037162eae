package acme

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// PrecheckError is Ensure's error when a request's Precheck failed: nothing
// was sent to the CA and no backoff was recorded; the next call checks
// again.
type PrecheckError struct {
	ID  string
	Err error
}

func (e *PrecheckError) Error() string {
	return fmt.Sprintf("certificate %s: pre-check failed, nothing sent to the CA: %v", e.ID, e.Err)
}

func (e *PrecheckError) Unwrap() error { return e.Err }

// ResolvesTo checks, with resolver (the resolvers berth is configured
// with), that every name resolves to addresses all among want (the
// public addresses of the site's web servers or load balancer): HTTP-01
// validation reaches the name's addresses, so a name that points elsewhere
// would only burn a failed validation.
func ResolvesTo(ctx context.Context, resolver *net.Resolver, names []string, want []netip.Addr) error {
	return resolvesTo(ctx, resolver, names, want, "one of the site's web servers")
}

// ResolvesToLB is ResolvesTo for a site behind load balancer lb, which
// terminates its TLS and answers its HTTP-01 challenges: want are the
// load balancer's public addresses, and only they.
func ResolvesToLB(ctx context.Context, resolver *net.Resolver, names []string, want []netip.Addr, lb string) error {
	return resolvesTo(ctx, resolver, names, want, "the site's load balancer "+lb)
}

func resolvesTo(ctx context.Context, resolver *net.Resolver, names []string, want []netip.Addr, what string) error {
	var errs []error
	for _, n := range names {
		addrs, err := resolver.LookupNetIP(ctx, "ip", n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s does not resolve: %w", n, err))
			continue
		}
		for _, a := range addrs {
			if !slices.Contains(want, a.Unmap()) {
				errs = append(errs, fmt.Errorf("%s resolves to %s, not to %s (%s)", n, a, what, joinAddrs(want)))
				break
			}
		}
	}
	return errors.Join(errs...)
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// SelfTest writes a probe answer through w on every host and asks each
// web server address (host:port) for it under every name, as the CA
// would: it fails unless every one answers 200 with the probe. The probe
// is removed afterwards.
func (w *Webroot) SelfTest(ctx context.Context, client *http.Client, addrs, names []string) error {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	token := "berth-selftest-" + base64.RawURLEncoding.EncodeToString(b)
	want := "berth self-test " + token
	if err := w.Present(ctx, names[0], token, want); err != nil {
		return err
	}
	defer w.CleanUp(context.WithoutCancel(ctx), names[0], token, want)
	var errs []error
	for _, addr := range addrs {
		for _, n := range names {
			if err := probe(ctx, client, addr, n, token, want); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func probe(ctx context.Context, client *http.Client, addr, name, token, want string) error {
	u := "http://" + addr + ChallengePath + token
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Host = name
	client = noRedirects(client)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("challenge path of %s on %s: %w", name, addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || string(body) != want {
		return fmt.Errorf("challenge path of %s on %s answers %s, not the challenge file: the vhost does not serve %s for %s yet", name, addr, resp.Status, ChallengePath, name)
	}
	return nil
}

// noRedirects is client without following redirects: the self-test checks
// what the web server itself answers.
func noRedirects(c *http.Client) *http.Client {
	if c == nil {
		c = http.DefaultClient
	}
	cc := *c
	cc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cc
}
