package acme

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/state"
)

// Install writes c's chain to chainPath (0644) and its private key to
// keyPath (0600) on h, each atomically; the key first, so a web server
// never pairs a new chain with an old key for long. Errors name the paths,
// never the key.
func Install(ctx context.Context, h host.Host, c state.Certificate, chainPath, keyPath string) error {
	if len(c.CertPEM) == 0 || len(c.KeyPEM) == 0 {
		return fmt.Errorf("certificate %s: nothing issued yet to install on %s", c.ID, h.Name())
	}
	if !path.IsAbs(chainPath) || !path.IsAbs(keyPath) {
		return errors.New("install certificate: chain and key paths must be absolute")
	}
	if err := h.WriteFile(ctx, keyPath, c.KeyPEM, host.WriteOptions{Mode: 0o600}); err != nil {
		return fmt.Errorf("certificate %s: write its key %s on %s: %w", c.ID, keyPath, h.Name(), err)
	}
	if err := h.WriteFile(ctx, chainPath, c.CertPEM, host.WriteOptions{Mode: 0o644}); err != nil {
		return fmt.Errorf("certificate %s: write its chain %s on %s: %w", c.ID, chainPath, h.Name(), err)
	}
	return nil
}
