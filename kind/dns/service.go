package dns

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/berthhq/berth/reconcile"
	"github.com/berthhq/berth/spec"
)

// ServiceBIND is the service of berth's include file on a DNS server:
// checked with named-checkconf and reloaded with `rndc reconfig`, which
// loads the zones the file adds and drops those it no longer lists,
// without reloading any other zone.
const ServiceBIND = "bind"

// AllowChanges is the name, in reconcile.PlanOptions.Allow, of the
// override of the DNS safety threshold for one run (the CLI's
// --allow-dns-changes).
const AllowChanges = "dns-changes"

// ServerBIND returns how berth reaches the BIND of s, whose bind service
// must be set: a local server's relative paths are made absolute under
// base, berth's state directory, and its commands run there.
func ServerBIND(s spec.ResolvedServer, base string) BIND {
	dir := ""
	if s.Local() {
		s = s.WithBase(base)
		dir = base
	}
	return BIND{ResolvedBIND: *s.BIND, Dir: dir}
}

// Service returns the bind service of a server for the engine's
// Desired.Service: named-checkconf, then rndc reconfig; false when the
// server has no bind service.
func Service(s spec.ResolvedServer, base string) (reconcile.Service, bool) {
	if s.BIND == nil {
		return reconcile.Service{}, false
	}
	b := ServerBIND(s, base)
	return reconcile.Service{Name: ServiceBIND, Test: slices.Clone(b.CheckConf), Reload: append(slices.Clone(b.RNDC), "reconfig"), Dir: b.Dir}, true
}

// KeyFile is where the TSIG key of an include file goes: beside it.
func KeyFile(include string) string { return strings.TrimSuffix(include, ".conf") + ".key" }

// NewTSIGSecret makes a TSIG secret: 32 random bytes, base64.
func NewTSIGSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}
