package spec

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Rule is a named allow-list for one kind of string: what characters and
// shape a value may have. Every string field of the sites repo types is bound
// to a rule by its struct tag (rule:"NAME" for the value, or for each element
// of a list or value of a mapping; keyrule:"NAME" for the keys of a mapping),
// and the decoder applies it to every value it reads, so a value that breaks
// its rule is a Problem at its file:line:column. render applies the same
// rules again to what it writes (defence in depth): one definition, two
// callers. The JSON Schema states each rule too, from its schema written
// next to its check (ruleSchema).
//
// Rules say what they allow, never what they forbid: anything not described
// by Allows is refused.
type Rule struct {
	Name   string // the name used in struct tags
	What   string // what a value is, for messages: "a listen address"
	Allows string // what a value may be, for messages
	// valid returns nil for an allowed value; its error, when it has a
	// message, says in a few words what is wrong.
	valid func(string) error
	// schema is what the JSON Schema says of the rule's values.
	schema ruleSchema
}

// ruleSchema is a rule as the JSON Schema (schema.go) states it: the
// closest a regular expression and a length come to the Go check without
// ever refusing a value the check allows. It is written next to the check,
// from the same regular expressions where there are some.
type ruleSchema struct {
	// pattern, unanchored, is a regular expression valid both in Go (RE2)
	// and in ECMA-262, with or without the u flag, that every allowed value
	// matches in full; "" when the rule has none. It uses no \p, \u,
	// \x{...}, \s or \d (whose meanings differ), only \xHH escapes and
	// literal characters.
	pattern string
	// maxLength bounds the characters of a value; 0 for no bound. A Go
	// check counts bytes, and a character is one byte or more, so a bound
	// in bytes is a sound bound in characters.
	maxLength int
	// number is the schema of the YAML numbers the rule allows, nil when
	// no plain decimal number is a value of the rule. The decoder reads a
	// number written where text is expected as it is written (php: 8.1 is
	// the text "8.1"), while an editor sees a number: the schema allows it.
	number map[string]any
	// exact is set when pattern and maxLength allow exactly what the Go
	// check does, for strings.
	exact bool
}

// Numbers a rule's text may be, for ruleSchema.number.
var (
	anyNumber      = map[string]any{"type": "number"}
	positiveNumber = map[string]any{"type": "number", "minimum": 0}
	positiveInt    = map[string]any{"type": "integer", "minimum": 0}
)

// Check returns nil when s is allowed, else a *RuleError that says what the
// rule allows.
func (r *Rule) Check(s string) error {
	if err := r.valid(s); err != nil {
		return &RuleError{Rule: r, Value: s, Detail: err.Error()}
	}
	return nil
}

// RuleError is a value that breaks its rule.
type RuleError struct {
	Rule   *Rule
	Value  string
	Detail string // "" or a few words on what is wrong
}

func (e *RuleError) Error() string {
	msg := shown(e.Value) + " is not " + e.Rule.What
	if e.Detail != "" {
		msg += " (" + e.Detail + ")"
	}
	return msg + "; allowed: " + e.Rule.Allows
}

// shown quotes a value for a message, shortened when long; control
// characters and bytes that are not UTF-8 are escaped.
func shown(s string) string {
	const most = 64
	if len(s) <= most {
		return strconv.Quote(s)
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("… (%d bytes)", len(s))
}

// errShape is a rule's refusal without detail: the value does not have
// the shape Allows describes.
var errShape = errors.New("")

var rules = map[string]*Rule{}

func newRule(name, what, allows string, valid func(string) error, schema ruleSchema) *Rule {
	if rules[name] != nil {
		panic("spec: rule " + name + " defined twice")
	}
	r := &Rule{Name: name, What: what, Allows: allows, valid: valid, schema: schema}
	rules[name] = r
	return r
}

// newMatchRule is a rule that allows what re matches, up to most bytes:
// its schema pattern is re itself, its maxLength most.
func newMatchRule(name, what, allows string, re *regexp.Regexp, most int, number map[string]any) *Rule {
	return newRule(name, what, allows, matches(re, most),
		ruleSchema{pattern: unanchored(re), maxLength: most, number: number, exact: true})
}

// unanchored returns the body of a regular expression written ^BODY$ with
// no alternation outside parentheses, the form every rule expression has.
func unanchored(re *regexp.Regexp) string {
	s := re.String()
	body, ok := strings.CutPrefix(s, "^")
	if ok {
		body, ok = strings.CutSuffix(body, "$")
	}
	depth, class := 0, false
	for i := 0; ok && i < len(body); i++ {
		switch c := body[i]; {
		case c == '\\':
			i++
		case class:
			class = c != ']'
		case c == '[':
			class = true
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '|' && depth == 0:
			ok = false
		}
	}
	if !ok {
		panic("spec: rule expression " + s + " is not ^BODY$ without top-level |")
	}
	return body
}

// class writes a character class of the ASCII bytes in lists, or of every
// character but them when negated, with \xHH escapes (read the same by RE2
// and ECMA-262), then the extra characters given literally.
func class(negated bool, lists func(byte) bool, extra string) string {
	var b strings.Builder
	b.WriteByte('[')
	if negated {
		b.WriteByte('^')
	}
	for c := 0; c < 0x80; c++ {
		if !lists(byte(c)) {
			continue
		}
		end := c
		for end+1 < 0x80 && lists(byte(end+1)) {
			end++
		}
		fmt.Fprintf(&b, `\x%02X`, c)
		if end > c {
			fmt.Fprintf(&b, `-\x%02X`, end)
		}
		c = end
	}
	b.WriteString(extra)
	b.WriteByte(']')
	return b.String()
}

// unicodeRanges writes the characters of tables below U+10000 as literal
// class members (ranges where they are consecutive); characters above are
// left out, since ECMA-262 without the u flag reads them as two.
func unicodeRanges(skipASCII bool, tables ...*unicode.RangeTable) string {
	var rs []rune
	for _, t := range tables {
		for _, r16 := range t.R16 {
			for c := rune(r16.Lo); c <= rune(r16.Hi); c += rune(r16.Stride) {
				if c >= 0x80 || !skipASCII {
					rs = append(rs, c)
				}
			}
		}
	}
	slices.Sort(rs)
	rs = slices.Compact(rs)
	var b strings.Builder
	for i := 0; i < len(rs); i++ {
		j := i
		for j+1 < len(rs) && rs[j+1] == rs[j]+1 {
			j++
		}
		if rs[i] < 0x80 {
			fmt.Fprintf(&b, `\x%02X`, rs[i])
		} else {
			b.WriteRune(rs[i])
		}
		if j > i {
			b.WriteByte('-')
			if rs[j] < 0x80 {
				fmt.Fprintf(&b, `\x%02X`, rs[j])
			} else {
				b.WriteRune(rs[j])
			}
		}
		i = j
	}
	return b.String()
}

// notPrefixed writes a pattern of one or more of the ASCII bytes in that
// does not start with prefix: RE2 has no lookahead, so each place of the
// prefix is spelt out.
func notPrefixed(prefix string, in func(byte) bool) string {
	all := class(false, in, "")
	var alts []string
	for i := range prefix {
		other := class(false, func(c byte) bool { return in(c) && c != prefix[i] }, "")
		alts = append(alts, regexp.QuoteMeta(prefix[:i])+other+all+"*")
	}
	for i := 1; i < len(prefix); i++ {
		alts = append(alts, regexp.QuoteMeta(prefix[:i]))
	}
	return "(?:" + strings.Join(alts, "|") + ")"
}

// ruleNamed returns the rule of a struct tag; an unknown name is a bug.
func ruleNamed(name string) *Rule {
	r := rules[name]
	if r == nil {
		panic("spec: no rule named " + name)
	}
	return r
}

// matches returns a validator that allows what re matches, up to most bytes.
func matches(re *regexp.Regexp, most int) func(string) error {
	return func(s string) error {
		if len(s) > most || !re.MatchString(s) {
			return errShape
		}
		return nil
	}
}

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envNameRE   = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$`)
	labelRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	hostLabelRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)
	zoneRE      = regexp.MustCompile(`^[A-Za-z0-9._-]{1,15}$`)
	portRE      = regexp.MustCompile(`^[1-9][0-9]{0,4}$`)
	unixNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9._-]{0,31}$`)
	dbUserRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._@-]{0,63}$`)
	dbNameRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	phpRE       = regexp.MustCompile(`^[5-9]\.[0-9]{1,2}$`)
	sizeRE      = regexp.MustCompile(`^[0-9]{1,6}[kKmMgG]?$`)
	headerRE    = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	htUserRE    = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)
	htHashRE    = regexp.MustCompile(`^\$(2[aby]|apr1|5|6)\$[A-Za-z0-9./$=]{1,200}$`)
	urlPathRE   = regexp.MustCompile(`^/[A-Za-z0-9._~!&'()+,;=:@/-]*$`)
	urlRE       = regexp.MustCompile(`^[A-Za-z0-9._~:/?#\[\]@!&'()*+,;=%-]+$`)
	scpLikeRE   = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/@+-]+$`)
	gitRefRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._/+-]*$`)
	segmentRE   = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	envVarRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	programRE   = regexp.MustCompile(`^[A-Za-z0-9_/][A-Za-z0-9._/+-]{0,254}$`)
	contactRE   = regexp.MustCompile(`^[A-Za-z0-9_+-]{1,64}@`)
	dnsLabelRE  = regexp.MustCompile(`^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$`)
	acmeDirRE   = regexp.MustCompile(`^https://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/-]*)?$`)
	emailRE     = regexp.MustCompile(`^[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@`)
)

// The rules of the sites repo. Their names are the values of the rule and
// keyrule struct tags.
var (
	RuleName = newMatchRule("name", "a name",
		"lower-case letters, digits and hyphens, at most 63 characters, starting and ending with a letter or digit",
		nameRE, 63, positiveInt)
	RuleEnvironment = newMatchRule("environment", "an environment name",
		"lower-case letters, digits and hyphens, starting with a letter, at most 32 characters",
		envNameRE, 32, nil)
	RuleDomain = newRule("domain", "a domain name", domainAllows,
		func(s string) error { _, err := ASCIIDomain(s, false); return err },
		ruleSchema{pattern: domainPattern})
	RuleDomainAlias = newRule("domain-alias", "a domain name", domainAllows+"; a leading *. makes a wildcard",
		func(s string) error { _, err := ASCIIDomain(s, true); return err },
		ruleSchema{pattern: `(?:\*\.)?` + domainPattern})
	RuleDomainSuffix = newRule("domain-suffix", "a domain suffix",
		"a dot followed by a domain name, e.g. .staging.example.net",
		func(s string) error {
			rest, ok := strings.CutPrefix(s, ".")
			if !ok {
				return errors.New("it must start with a dot")
			}
			_, err := ASCIIDomain(rest, false)
			return err
		},
		ruleSchema{pattern: `\.` + domainPattern})
	// RuleHostname is the ASCII form of a domain, as render writes it.
	RuleHostname = newRule("hostname", "a lower-case ASCII domain name", hostnameAllows,
		func(s string) error { return asciiHostname(s, false) },
		ruleSchema{pattern: hostnamePattern, maxLength: 253})
	// RuleHostnameAlias is RuleHostname with an optional leading "*.".
	RuleHostnameAlias = newRule("hostname-alias", "a lower-case ASCII domain name", hostnameAllows+"; a leading *. makes a wildcard",
		func(s string) error { return asciiHostname(s, true) },
		ruleSchema{pattern: `(?:\*\.)?` + hostnamePattern, maxLength: 253})
	RuleAddress = newRule("address", "a server address",
		`"local" (the machine berth runs on), `+hostAllows,
		func(s string) error {
			if s == "local" {
				return nil
			}
			return validHost(s)
		},
		ruleSchema{pattern: "local|" + hostPattern, maxLength: 253})
	RuleHost = newRule("host", "a host", hostAllows, validHost,
		ruleSchema{pattern: hostPattern, maxLength: 253})
	RuleListen = newRule("listen", "a listen address",
		"a port from 1 to 65535 (80) or IP:port (127.0.0.1:8080, [::1]:8080), without zone",
		func(s string) error { _, _, err := SplitListen(s); return err },
		ruleSchema{pattern: `(?:` + ipv4Pattern + `:|\[` + ipv6Pattern + `\]:)?` + portPattern,
			number: map[string]any{"type": "integer", "minimum": 1, "maximum": 65535}})
	RuleUnixName = newMatchRule("unix-name", "a user or group name",
		"letters, digits, '.', '_' and '-', starting with a letter or '_', at most 32 characters",
		unixNameRE, 32, nil)
	RuleDBUser = newMatchRule("db-user", "a database user name",
		"letters, digits, '.', '_', '@' and '-', starting with a letter, digit or '_', at most 64 characters",
		dbUserRE, 64, positiveNumber)
	RuleDBName = newMatchRule("db-name", "a database name",
		"letters, digits and underscores, starting with a letter or '_', at most 63 characters",
		dbNameRE, 63, nil)
	// RulePHPVersion's value may be written unquoted (php: 8.1): the
	// decoder reads the number as it is written, so 8.10 stays 8.10.
	RulePHPVersion = newMatchRule("php-version", "a PHP version",
		"major.minor like 8.2, quoted or not",
		phpRE, 5, map[string]any{"type": "number", "minimum": 5, "exclusiveMaximum": 10})
	RuleSize = newMatchRule("size", "a size",
		"a number of at most 6 digits with an optional k, m or g, e.g. 64m",
		sizeRE, 7, map[string]any{"type": "integer", "minimum": 0, "maximum": 999999})
	RuleHeaderName = newMatchRule("header-name", "a header name",
		"letters, digits and hyphens, at most 64 characters",
		headerRE, 64, map[string]any{"type": "integer"})
	RuleHeaderValue = newRule("header-value", "a header value",
		"ASCII letters, digits, spaces and ! # % & ' ( ) * + , - . / : ; < = > ? @ [ ] ^ _ | ~ and the backquote, not empty, not starting with expr=, at most 1024 characters",
		func(s string) error {
			switch {
			case s == "":
				return errors.New("empty")
			case strings.HasPrefix(s, "expr="):
				return errors.New("apache reads expr= as an expression")
			}
			return asciiText(s, 1024, headerValueDeny)
		},
		ruleSchema{pattern: notPrefixed("expr=", printableBut(headerValueDeny)), maxLength: 1024, number: anyNumber, exact: true})
	RuleText = newRule("text", "plain text",
		`letters, digits, spaces and . , : - _ ' ( ) / @ ! ? & + #, at most 100 characters`,
		func(s string) error {
			if len(s) > 100 {
				return errors.New("longer than 100 characters")
			}
			for _, r := range s {
				if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(textPunct, r) {
					return fmt.Errorf("%q is not allowed", r)
				}
			}
			return nil
		},
		// Any character outside ASCII is let through: the schema has no
		// portable letter class.
		ruleSchema{pattern: class(true, func(c byte) bool {
			return !isAlnum(c) && strings.IndexByte(textPunct, c) < 0
		}, "") + "*", maxLength: 100, number: anyNumber})
	RuleHtpasswd = newRule("htpasswd", "an htpasswd line",
		"name:hash, the name of letters, digits and . _ @ -, the hash made with bcrypt, apr1 or SHA-crypt (htpasswd -nB NAME)",
		func(s string) error {
			name, hash, ok := strings.Cut(s, ":")
			if !ok || !htUserRE.MatchString(name) {
				return errShape
			}
			if !htHashRE.MatchString(hash) {
				return fmt.Errorf("the password of %q is not hashed; never put a plain password in the repo", name)
			}
			return nil
		},
		// Neither expression holds a colon, so the first one ends the name.
		ruleSchema{pattern: unanchored(htUserRE) + ":" + unanchored(htHashRE), exact: true})
	RuleURLPath = newRule("url-path", "a URL path",
		"a path starting with /, of letters, digits and - . _ ~ ! & ' ( ) + , ; = : @ /, written without %-escapes; a trailing * matches the prefix",
		func(s string) error {
			if len(s) > 2048 {
				return errors.New("longer than 2048 characters")
			}
			if !urlPathRE.MatchString(strings.TrimSuffix(s, "*")) {
				return errShape
			}
			return nil
		},
		ruleSchema{pattern: unanchored(urlPathRE) + `\*?`, maxLength: 2048, exact: true})
	RuleRedirectTarget = newRule("redirect-target", "a redirect target",
		"a URL path starting with a single / (letters, digits and - . _ ~ ! & ' ( ) + , ; = : @ /) or an absolute http(s) URL of letters, digits and - . _ ~ : / ? # [ ] @ ! & ' ( ) * + , ; = %, either of them ending with $1 (the rest of the path a wildcard from matched) if its from ends with *",
		func(s string) error {
			if len(s) > 2048 {
				return errors.New("longer than 2048 characters")
			}
			// $1 only at the end, after a path: no other $ anywhere.
			if rest, ok := strings.CutSuffix(s, "$1"); ok {
				if !strings.HasSuffix(rest, "/") || strings.ContainsAny(rest, "?#") {
					return errors.New("$1 must follow a / and come last, after the path, not in a query or fragment")
				}
				s = rest
			}
			if strings.HasPrefix(s, "/") {
				if !urlPathRE.MatchString(s) || strings.HasPrefix(s, "//") {
					return errShape
				}
				return nil
			}
			u, err := url.Parse(s)
			if err != nil || !urlRE.MatchString(s) || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return errShape
			}
			return nil
		},
		ruleSchema{pattern: `/(?:` + urlPathChar + `(?:` + unanchored(urlPathRE)[1:] + `)?)?|` +
			anyCase("http") + `[Ss]?://` + unanchored(urlRE), maxLength: 2048})
	RuleGitURL = newRule("git-url", "a Git URL",
		"an https://, http://, ssh://, git:// or file:// URL, or user@host:path, of letters, digits and - . _ ~ : / ? # [ ] @ ! & ' ( ) * + , ; = %",
		validGitURL,
		ruleSchema{pattern: unanchored(scpLikeRE) + `|(?:` + anyCase("http") + `[Ss]?|` + anyCase("ssh") + `|` + anyCase("git") + `|` + anyCase("file") + `):` + unanchored(urlRE),
			maxLength: 2048})
	RuleGitRef = newRule("git-ref", "a Git branch, tag or commit",
		"letters, digits and . _ / + -, starting with a letter, digit or '_', at most 200 characters, without .., //, a trailing / or .lock",
		func(s string) error {
			if len(s) > 200 {
				return errors.New("longer than 200 characters")
			}
			if !gitRefRE.MatchString(s) || strings.Contains(s, "..") || strings.Contains(s, "//") ||
				strings.HasSuffix(s, "/") || strings.HasSuffix(s, ".lock") || strings.HasSuffix(s, ".") {
				return errShape
			}
			return nil
		},
		// Words joined by . and / that never repeat: no .., no //, nothing
		// after the last word; only the .lock suffix is left to the check.
		ruleSchema{pattern: `[A-Za-z0-9_](?:[A-Za-z0-9_+-]|(?:\.(?:/\.)*/?|/(?:\./)*\.?)[A-Za-z0-9_+-])*`,
			maxLength: 200, number: positiveNumber})
	RuleRelPath = newRule("rel-path", "a relative path inside the tree",
		segmentAllows+", separated by single /; no leading /, no . or .. names",
		func(s string) error { return cleanPath(s, false, false) },
		ruleSchema{pattern: pathPattern(segmentPattern), maxLength: 1024, number: anyNumber, exact: true})
	RuleServerPath = newRule("server-path", "a server path",
		"an absolute path (or, on a local server, a path relative to berth's state directory): "+segmentAllows+", separated by single /; no . or .. names",
		func(s string) error { return cleanPath(s, true, false) },
		ruleSchema{pattern: "/?" + pathPattern(segmentPattern), maxLength: 1024, number: anyNumber, exact: true})
	RuleServerPathPHP = newRule("server-path-php", "a server path",
		"an absolute path (or, on a local server, a path relative to berth's state directory): "+segmentAllows+", separated by single /, where {version} stands for the PHP version; no . or .. names",
		func(s string) error { return cleanPath(strings.ReplaceAll(s, "{version}", "8.2"), true, false) },
		// {version} is shorter once replaced: no bound on the written length.
		ruleSchema{pattern: "/?" + pathPattern(placeholderSegment(`\{version\}`)), number: anyNumber})
	RuleServerPathEnv = newRule("server-path-env", "a server path",
		"an absolute path (or, on a local server, a path relative to berth's state directory): "+segmentAllows+", separated by single /, where {env} stands for the environment's name; no . or .. names",
		func(s string) error { return cleanPath(strings.ReplaceAll(s, "{env}", "production"), true, false) },
		ruleSchema{pattern: "/?" + pathPattern(placeholderSegment(`\{env\}`)), maxLength: 1024, number: anyNumber})
	RuleAbsPath = newRule("abs-path", "an absolute path",
		"a path starting with /: "+segmentAllows+", separated by single /; no . or .. names",
		func(s string) error { return cleanPath(s, true, true) },
		ruleSchema{pattern: "/" + pathPattern(segmentPattern), maxLength: 1024, exact: true})
	RuleCronSchedule = newRule("cron-schedule", "a schedule",
		"hourly, daily, weekly, or every N minutes or hours: every 15m, every 6h (at least 1m, at most 168h)",
		func(s string) error {
			_, err := CronEvery(s)
			return err
		},
		ruleSchema{pattern: "hourly|daily|weekly|every [1-9][0-9]{0,4}[mh]", maxLength: 12})
	RuleArgv = newRule("argv", "a command argument",
		"one line of printable text (no control characters), not empty, at most 4096 bytes; a command is a list of such words, e.g. [nginx, -t]",
		func(s string) error {
			if s == "" {
				return errors.New("empty")
			}
			return printableLine(s, 4096)
		},
		ruleSchema{pattern: printableLinePattern + "+", maxLength: 4096, number: anyNumber})
	RuleShellCommand = newRule("shell-command", "a build command",
		"one line of printable text (no control characters), not blank, at most 4096 bytes",
		func(s string) error {
			if strings.TrimSpace(s) == "" {
				return errors.New("empty")
			}
			return printableLine(s, 4096)
		},
		ruleSchema{pattern: printableLinePattern + "*" + class(true, func(c byte) bool { return invisible(rune(c)) || unicode.IsSpace(rune(c)) },
			unicodeRanges(true, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.White_Space)) + printableLinePattern + "*",
			maxLength: 4096, number: anyNumber})
	RuleEnvVar = newMatchRule("env-var", "an environment variable name",
		"letters, digits and underscores, not starting with a digit",
		envVarRE, 128, nil)
	RuleIP = newRule("ip", "an IP address",
		"an IPv4 address (203.0.113.10) or an IPv6 address (2001:db8::10), without zone",
		func(s string) error {
			a, err := netip.ParseAddr(s)
			if err != nil || a.Zone() != "" || a.Is4In6() {
				return errShape
			}
			return nil
		},
		ruleSchema{pattern: ipv4Pattern + "|" + ipv6Pattern})
	RuleZoneContact = newRule("zone-contact", "a zone contact address",
		"an e-mail address whose local part has letters, digits and _ + - (no dot), at a domain name, e.g. hostmaster@example.com",
		func(s string) error {
			_, domain, ok := strings.Cut(s, "@")
			if !ok || !contactRE.MatchString(s) {
				return errShape
			}
			_, err := ASCIIDomain(domain, false)
			return err
		},
		ruleSchema{pattern: strings.TrimPrefix(contactRE.String(), "^") + `(?:` + domainPattern + `)`})
	RuleEmail = newRule("email", "an e-mail address",
		"a local part of letters, digits and . _ + - (no leading, trailing or double dot, at most 64 characters) at a domain name, e.g. hostmaster@example.com",
		func(s string) error {
			local, domain, ok := strings.Cut(s, "@")
			if !ok || len(local) > 64 || !emailRE.MatchString(s) {
				return errShape
			}
			_, err := ASCIIDomain(domain, false)
			return err
		},
		ruleSchema{pattern: strings.TrimPrefix(emailRE.String(), "^") + `(?:` + domainPattern + `)`})
	RuleACMEDirectory = newRule("acme-directory", "an ACME directory",
		"letsencrypt, letsencrypt-staging, or an https:// URL: a host (name, IP address or [IPv6]) with an optional :port, and a path of letters, digits and - . _ ~ /, without query, user or fragment, at most 2048 characters",
		func(s string) error {
			if _, ok := ACMEDirectories[s]; ok {
				return nil
			}
			if len(s) > 2048 {
				return errors.New("longer than 2048 characters")
			}
			if strings.HasPrefix(s, "http://") {
				return errors.New("an ACME directory is reached over https only")
			}
			u, err := url.Parse(s)
			if err != nil || !acmeDirRE.MatchString(s) || u.Hostname() == "" {
				return errShape
			}
			return nil
		},
		ruleSchema{pattern: acmeShorthands() + "|" + unanchored(acmeDirRE), maxLength: 2048})
	RuleRecordName = newRule("record-name", "a record name",
		"@ for the zone's apex, or a name relative to the zone: dot-separated labels of lower-case letters, digits, _ and - (at most 63 characters each, no hyphen first or last), optionally starting with *. or being *",
		func(s string) error {
			if s == "@" || s == "*" {
				return nil
			}
			return dnsName(strings.TrimPrefix(s, "*."), 200)
		},
		ruleSchema{pattern: `@|\*|(?:\*\.)?` + dnsNamePattern, maxLength: 202, number: positiveNumber})
	RuleRecordValue = newRule("record-value", "a record value",
		`printable ASCII without " and \, not empty, at most 1024 characters`,
		func(s string) error {
			if s == "" {
				return errors.New("empty")
			}
			return asciiText(s, 1024, recordValueDeny)
		},
		ruleSchema{pattern: class(false, printableBut(recordValueDeny), "") + "+", maxLength: 1024, number: anyNumber, exact: true})
	// RuleDNSName is a fully qualified name as render writes it in a zone
	// file (without the final dot): RuleHostname's labels, with _ allowed
	// (_sip._tcp) and an optional leading *.
	RuleDNSName = newRule("dns-name", "a DNS name",
		"dot-separated labels of lower-case letters, digits, _ and - (at most 63 characters each, no hyphen first or last), 253 characters in all, optionally starting with *.",
		func(s string) error { return dnsName(strings.TrimPrefix(s, "*."), 253) },
		ruleSchema{pattern: `(?:\*\.)?` + dnsNamePattern, maxLength: 255, number: positiveNumber})
	RuleProgram = newMatchRule("program", "a program name or path",
		"letters, digits and . _ / + -, not starting with '-' or '.', at most 255 characters",
		programRE, 255, positiveNumber)
)

const (
	domainAllows = "letters, digits and hyphens in dot-separated labels of at most 63 characters (no hyphen first or last), " +
		"253 characters in all, at least two labels, the last one not all digits; international names are converted to punycode"
	hostnameAllows = "lower-case a-z, digits and hyphens in dot-separated labels of at most 63 characters (no hyphen first or last), " +
		"253 characters in all, at least two labels, the last one not all digits"
	hostAllows = "an IP address (IPv6 with an optional zone of letters, digits and . _ -, e.g. fe80::1%eth0) or a host name " +
		"(letters, digits and hyphens in dot-separated labels, the last one not all digits)"
	segmentAllows = "names of letters, digits and . _ -"
)

// The characters asciiText and RuleText refuse or allow.
const (
	headerValueDeny = `"\${}`
	recordValueDeny = `"\`
	textPunct       = ` .,:-_'()/@!?&+#`
)

// Schema patterns of the rules that are more than one expression. Each is
// the closest RE2 and ECMA-262 come to the Go check without refusing a
// value it allows.
var (
	ipv4Pattern = `(?:[0-9]{1,3}\.){3}[0-9]{1,3}`
	// ipv6Pattern is hex digits, dots and at least one colon.
	ipv6Pattern = `[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*`
	// portPattern is 1 to 65535, exactly.
	portPattern = `(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])`
	// hostPattern is validHost: an IPv4 address, an IPv6 address with an
	// optional zone, or host name labels, the last one not all digits.
	hostPattern = ipv4Pattern + `|` + ipv6Pattern + `(?:%` + unanchored(zoneRE) + `)?|(?:(?:` + unanchored(hostLabelRE) + `)\.)*(?:` + lastLabel("A-Za-z") + `)`
	// hostnamePattern is asciiHostname: two labels or more.
	hostnamePattern = `(?:(?:` + unanchored(labelRE) + `)\.)+(?:` + lastLabel("a-z") + `)`
	// domainPattern is ASCIIDomain before the conversion to punycode:
	// ASCII letters, digits and hyphens in labels that start and end with
	// a letter or digit, the last one not all digits; any character
	// outside ASCII may be a letter or, mapped, a dot (U+3002), so a name
	// with one is let through as one label, and no label length is
	// checked (some characters map to nothing). The invisible and space
	// characters ASCIIDomain refuses first are refused anywhere.
	domainPattern = func() string {
		refused := unicodeRanges(true, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.White_Space)
		alnum := class(true, func(c byte) bool { return !isAlnum(c) }, refused)
		inner := class(true, func(c byte) bool { return !isAlnum(c) && c != '-' }, refused)
		letter := class(true, func(c byte) bool { return !isLetter(c) }, refused)
		nonDigit := class(true, func(c byte) bool { return !isLetter(c) && c != '-' }, refused)
		nonASCII := class(true, func(byte) bool { return true }, refused)
		label := alnum + `(?:` + inner + `*` + alnum + `)?`
		last := letter + `(?:` + inner + `*` + alnum + `)?|[0-9]+(?:` + letter + `|` + nonDigit + inner + `*` + alnum + `)`
		return `(?:` + label + `\.)+(?:` + last + `)|` + inner + `*` + nonASCII + inner + `*`
	}()
	// dnsNamePattern is dnsName's labels.
	dnsNamePattern = `(?:` + unanchored(dnsLabelRE) + `)(?:\.(?:` + unanchored(dnsLabelRE) + `))*`
	// segmentPattern is a name of segmentRE's characters but . and ..
	segmentPattern = `(?:[A-Za-z0-9_-][A-Za-z0-9._-]*|\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\.\.[A-Za-z0-9._-]+)`
	// urlPathChar is a character of urlPathRE but /.
	urlPathChar = `[A-Za-z0-9._~!&'()+,;=:@-]`
	// printableLinePattern is a character printableLine allows (of the
	// Basic Multilingual Plane; the schema lets others through).
	printableLinePattern = class(true, func(c byte) bool { return invisible(rune(c)) },
		unicodeRanges(true, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp))
)

// lastLabel is a host name label of the letters given (a class body), digits
// and hyphens, not all digits: a letter first, or digits then a letter or a
// hyphen.
func lastLabel(letters string) string {
	l, ld, ldh := `[`+letters+`]`, `[`+letters+`0-9]`, `[`+letters+`0-9-]`
	return l + `(?:` + ldh + `{0,61}` + ld + `)?|[0-9]+(?:` + l + `|[` + letters + `-]` + ldh + `*` + ld + `)`
}

// pathPattern is segments joined by single slashes.
func pathPattern(segment string) string {
	return segment + `(?:/` + segment + `)*`
}

// placeholderSegment is a path segment that may hold placeholder, which
// the check replaces by a plain name before it looks.
func placeholderSegment(placeholder string) string {
	c := `(?:[A-Za-z0-9._-]|` + placeholder + `)*`
	return `(?:` + segmentPattern + `|` + c + placeholder + c + `)`
}

// anyCase matches word in any case, as url.Parse reads a scheme.
func anyCase(word string) string {
	var b strings.Builder
	for _, r := range word {
		fmt.Fprintf(&b, "[%c%c]", unicode.ToUpper(r), r)
	}
	return b.String()
}

// acmeShorthands is an alternation of the ACMEDirectories names.
func acmeShorthands() string {
	var names []string
	for _, k := range slices.Sorted(maps.Keys(ACMEDirectories)) {
		names = append(names, regexp.QuoteMeta(k))
	}
	return strings.Join(names, "|")
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool  { return isLetter(c) || '0' <= c && c <= '9' }

// printableBut is printable ASCII but the bytes of deny, as asciiText allows.
func printableBut(deny string) func(byte) bool {
	return func(c byte) bool { return c >= 0x20 && c <= 0x7e && strings.IndexByte(deny, c) < 0 }
}

// dnsName checks dot-separated DNS labels of lower-case letters, digits,
// _ and -, up to most bytes.
func dnsName(s string, most int) error {
	if len(s) > most {
		return fmt.Errorf("longer than %d characters", most)
	}
	for l := range strings.SplitSeq(s, ".") {
		if !dnsLabelRE.MatchString(l) {
			return errShape
		}
	}
	return nil
}

// asciiHostname checks the ASCII form of a domain name.
func asciiHostname(s string, wildcard bool) error {
	rest := s
	if wildcard {
		rest = strings.TrimPrefix(s, "*.")
	}
	if len(s) > 253 {
		return errors.New("longer than 253 characters")
	}
	labels := strings.Split(rest, ".")
	if len(labels) < 2 {
		return errors.New("it has no dot")
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			if len(l) > 63 {
				return fmt.Errorf("label %s is longer than 63 characters", shown(l))
			}
			return errShape
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return errors.New("its last label is all digits")
	}
	return nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// validHost allows an IP address, with a zone of plain characters for
// IPv6, or an ASCII host name.
func validHost(s string) error {
	if a, err := netip.ParseAddr(s); err == nil {
		if z := a.Zone(); z != "" && !zoneRE.MatchString(z) {
			return errors.New("the zone after % is not an interface name")
		}
		return nil
	}
	if len(s) > 253 {
		return errors.New("longer than 253 characters")
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if !hostLabelRE.MatchString(l) {
			return errShape
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return errors.New("neither an IP address nor a host name")
	}
	return nil
}

// SplitListen splits a listen value, "80" or "addr:port", into the address
// ("" for every address) and the port, refusing what RuleListen does not
// allow.
func SplitListen(s string) (addr, port string, err error) {
	port = s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		addr, port = s[:i], s[i+1:]
		if inner, ok := strings.CutPrefix(addr, "["); ok {
			inner, ok = strings.CutSuffix(inner, "]")
			a, err := netip.ParseAddr(inner)
			if !ok || err != nil || !a.Is6() || a.Zone() != "" || a.Is4In6() {
				return "", "", errors.New("an IPv6 address goes in brackets, without zone")
			}
			addr = inner
		} else if a, err := netip.ParseAddr(addr); err != nil || !a.Is4() {
			return "", "", errors.New("the address is not an IPv4 address or a bracketed IPv6 address")
		}
	}
	n, err := strconv.Atoi(port)
	if !portRE.MatchString(port) || err != nil || n > 65535 {
		return "", "", errors.New("the port is not a number from 1 to 65535")
	}
	return addr, port, nil
}

// asciiText allows printable ASCII but the characters of deny, up to most
// bytes.
func asciiText(s string, most int, deny string) error {
	if len(s) > most {
		return fmt.Errorf("longer than %d characters", most)
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e || strings.ContainsRune(deny, r) {
			return fmt.Errorf("%q is not allowed", r)
		}
	}
	return nil
}

// printableLine allows valid UTF-8 without control, format (invisible)
// or line-separating characters.
func printableLine(s string, most int) error {
	if len(s) > most {
		return fmt.Errorf("longer than %d bytes", most)
	}
	if !utf8.ValidString(s) {
		return errors.New("not UTF-8 text")
	}
	for _, r := range s {
		if invisible(r) {
			return fmt.Errorf("%q is not allowed", r)
		}
	}
	return nil
}

// invisible reports control, format (zero-width, bidi) and line or
// paragraph separator characters.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
}

// cleanPath allows a clean slash-separated path of plain names; absolute
// when abs, and with a leading / allowed when rooted.
func cleanPath(s string, rooted, abs bool) error {
	if len(s) > 1024 {
		return errors.New("longer than 1024 characters")
	}
	rest, isAbs := strings.CutPrefix(s, "/")
	switch {
	case abs && !isAbs:
		return errShape
	case isAbs && !rooted:
		return errors.New("it starts with /")
	case rest == "":
		return errShape
	}
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == "." || seg == ".." {
			return errors.New("it has a . or .. name")
		}
		if !segmentRE.MatchString(seg) {
			return errShape
		}
	}
	return nil
}

func validGitURL(s string) error {
	if len(s) > 2048 {
		return errors.New("longer than 2048 characters")
	}
	if scpLikeRE.MatchString(s) {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || !urlRE.MatchString(s) {
		return errShape
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git":
		if u.Host != "" {
			return nil
		}
	case "file":
		if u.Path != "" {
			return nil
		}
	}
	return errShape
}

// CronEvery is how often a cron schedule (RuleCronSchedule) runs.
func CronEvery(s string) (time.Duration, error) {
	switch s {
	case "hourly":
		return time.Hour, nil
	case "daily":
		return 24 * time.Hour, nil
	case "weekly":
		return 7 * 24 * time.Hour, nil
	}
	n, ok := strings.CutPrefix(s, "every ")
	if !ok || len(n) < 2 || len(n) > 6 {
		return 0, errShape
	}
	unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour}[n[len(n)-1]]
	v, err := strconv.Atoi(n[:len(n)-1])
	if unit == 0 || err != nil || v < 1 || n[0] == '0' || n[0] == '+' {
		return 0, errShape
	}
	d := time.Duration(v) * unit
	if d > 7*24*time.Hour {
		return 0, errors.New("longer than a week (168h)")
	}
	return d, nil
}
