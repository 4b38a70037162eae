package spec

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/idna"
)

// domainProfile converts international names to punycode and enforces the
// rules for host names (letters, digits and hyphens; no leading or trailing
// hyphen; label and name lengths).
var domainProfile = idna.New(
	idna.MapForLookup(),
	idna.ValidateLabels(true),
	idna.StrictDomainName(true),
	idna.VerifyDNSLength(true),
	idna.BidiRule(),
	idna.Transitional(false),
)

// ASCIIDomain returns the lower-case ASCII (punycode) form of a domain name,
// or an error that says what is wrong with it. A leading "*." is allowed when
// wildcard is true.
func ASCIIDomain(name string, wildcard bool) (string, error) {
	if name == "" {
		return "", fmt.Errorf("domain name is empty")
	}
	if strings.HasSuffix(name, ".") {
		return "", fmt.Errorf("%q ends with a dot: write the name without it", name)
	}
	rest, star := strings.CutPrefix(name, "*.")
	if star && !wildcard {
		return "", fmt.Errorf("%q: a wildcard is allowed in aliases only", name)
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return "", fmt.Errorf("%q is an IP address, not a domain name", name)
	}
	ascii, err := domainProfile.ToASCII(rest)
	if err != nil {
		return "", fmt.Errorf("%q is not a valid domain name: %v", name, trimIDNA(err))
	}
	if !strings.Contains(ascii, ".") {
		return "", fmt.Errorf("%q is not a fully qualified domain name (it has no dot)", name)
	}
	if star {
		ascii = "*." + ascii
	}
	if len(ascii) > 253 {
		return "", fmt.Errorf("%q is longer than 253 characters", name)
	}
	return ascii, nil
}

func trimIDNA(err error) string {
	return strings.TrimPrefix(err.Error(), "idna: ")
}

// validHost reports whether s is a host name or an IP address berth can
// connect to.
func validHost(s string) error {
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	if _, err := domainProfile.ToASCII(s); err != nil || s == "" {
		return fmt.Errorf("%q is neither an IP address nor a valid host name", s)
	}
	return nil
}
