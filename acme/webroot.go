package acme

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"

	"github.com/berthhq/berth/host"
)

// Webroot answers HTTP-01 challenges by writing the key authorization into
// Dir/.well-known/acme-challenge/TOKEN on every one of Hosts: the web
// servers of one site, each of which serves Dir under /.well-known/
// acme-challenge/ for the site's names. It implements lego's
// challenge.Provider.
type Webroot struct {
	Hosts []host.Host
	// Dir is an absolute path on every host.
	Dir string
}

// ChallengePath is the URL path prefix HTTP-01 validation requests.
const ChallengePath = "/.well-known/acme-challenge/"

// tokenRE is the base64url alphabet of RFC 8555 tokens.
var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func (w *Webroot) file(token string) (string, error) {
	if !tokenRE.MatchString(token) {
		return "", fmt.Errorf("the CA sent an HTTP-01 token %q outside the base64url alphabet; no file was written", token)
	}
	if !path.IsAbs(w.Dir) {
		return "", fmt.Errorf("challenge directory %q is not absolute", w.Dir)
	}
	return path.Join(w.Dir, ChallengePath, token), nil
}

// Present writes the key authorization of token on every host.
func (w *Webroot) Present(ctx context.Context, domain, token, keyAuth string) error {
	f, err := w.file(token)
	if err != nil {
		return err
	}
	if len(w.Hosts) == 0 {
		return fmt.Errorf("HTTP-01 for %s: no web server to write the challenge on", domain)
	}
	for _, h := range w.Hosts {
		if err := h.MkdirAll(ctx, path.Dir(f), 0o755); err != nil {
			return fmt.Errorf("HTTP-01 for %s: create %s on %s: %w", domain, path.Dir(f), h.Name(), err)
		}
		if err := h.WriteFile(ctx, f, []byte(keyAuth), host.WriteOptions{Mode: 0o644}); err != nil {
			return fmt.Errorf("HTTP-01 for %s: write %s on %s: %w", domain, f, h.Name(), err)
		}
	}
	return nil
}

// CleanUp removes the challenge file of token from every host.
func (w *Webroot) CleanUp(ctx context.Context, domain, token, _ string) error {
	f, err := w.file(token)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range w.Hosts {
		if err := h.Remove(ctx, f); err != nil {
			errs = append(errs, fmt.Errorf("HTTP-01 for %s: remove %s on %s: %w", domain, f, h.Name(), err))
		}
	}
	return errors.Join(errs...)
}
