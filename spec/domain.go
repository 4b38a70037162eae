package spec

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"

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
// or an error that says in a few words what is wrong with it. A leading "*."
// is allowed when wildcard is true. The ASCII form satisfies RuleHostname
// (RuleHostnameAlias with wildcard): the rule render applies is the one that
// decides here too.
func ASCIIDomain(name string, wildcard bool) (string, error) {
	if name == "" {
		return "", errors.New("empty")
	}
	if strings.HasSuffix(name, ".") {
		return "", errors.New("it ends with a dot: write the name without it")
	}
	rest, star := strings.CutPrefix(name, "*.")
	if star && !wildcard {
		return "", errors.New("a wildcard is allowed in aliases only")
	}
	for _, r := range name {
		if invisible(r) || unicode.IsSpace(r) {
			return "", fmt.Errorf("%q is not allowed", r)
		}
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return "", errors.New("an IP address, not a domain name")
	}
	ascii, err := domainProfile.ToASCII(rest)
	if err != nil {
		return "", errors.New(strings.TrimPrefix(err.Error(), "idna: "))
	}
	if star {
		ascii = "*." + ascii
	}
	if err := asciiHostname(ascii, star); err != nil {
		return "", err
	}
	return ascii, nil
}
