package spec

import (
	"fmt"
	"io/fs"
	"maps"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Client is one of the agency's clients (berth.yaml clients, by a short
// name sites refer to): the dashboard it gets on its own hostname, with
// its name, logo and colours, where its viewer tokens see only its sites.
type Client struct {
	Name      string       `yaml:"name" json:"name,omitempty" berth:"required" doc:"The client's name as its dashboard shows it." rule:"text"`
	Hostname  string       `yaml:"hostname" json:"hostname,omitempty" doc:"The hostname the client's dashboard answers on (berth serve reached under that name, e.g. through a proxy); the client's tokens log in only there." rule:"domain"`
	Logo      string       `yaml:"logo" json:"logo,omitempty" doc:"A PNG, JPEG, WebP or SVG file of the repo (at most 256 KiB), shown on the client's dashboard." rule:"rel-path"`
	Colors    ClientColors `yaml:"colors" json:"colors,omitzero" doc:"The client's colours on its dashboard."`
	Support   string       `yaml:"support" json:"support,omitempty" doc:"The client's support contact, shown on its dashboard." rule:"email"`
	ShowBerth bool         `yaml:"show_berth" json:"show_berth,omitempty" doc:"Name berth on the client's dashboard (default: only the client's name shows)."`
}

// ClientColors are a client's dashboard colours.
type ClientColors struct {
	Primary    string `yaml:"primary" json:"primary,omitempty" doc:"The header's and links' colour, e.g. #0b5cad." rule:"color"`
	Background string `yaml:"background" json:"background,omitempty" doc:"The page's background colour, e.g. #ffffff." rule:"color"`
}

// RuleColor is a colour of a client's dashboard.
var RuleColor = newMatchRule("color", "a colour", "# and six hexadecimal digits, e.g. #0b5cad",
	regexp.MustCompile(`^#[0-9a-fA-F]{6}$`), 7, nil)

// MaxLogo is the largest logo file a client may have.
const MaxLogo = 256 << 10

// logoTypes are the logo files' extensions and their media types.
var logoTypes = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".svg": "image/svg+xml"}

// LogoType is the media type of a logo file name, "" for another.
func LogoType(name string) string { return logoTypes[strings.ToLower(path.Ext(name))] }

// ReadLogo reads a client's logo from the repo's tree (readRepoFile), of
// a known type, at most MaxLogo bytes.
func ReadLogo(fsys fs.FS, name string) ([]byte, string, error) {
	typ := LogoType(name)
	if typ == "" {
		return nil, "", fmt.Errorf("logo %q: not a .png, .jpg, .webp or .svg file", name)
	}
	b, err := readRepoFile(fsys, "logo", name, MaxLogo)
	if err != nil {
		return nil, "", err
	}
	return b, typ, nil
}

// clients checks berth.yaml's clients: logos readable, hostnames not
// shared.
func (c *checker) clients(cfg *Config) {
	m := &cfg.Meta
	hosts := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(cfg.Clients)) {
		cl := cfg.Clients[name]
		p := "clients." + name
		subject := subjectOf("client", name)
		if cl == nil {
			c.at(m, p, subject, "needs at least name: TEXT")
			continue
		}
		if cl.Hostname != "" {
			if h, err := ASCIIDomain(cl.Hostname, false); err == nil {
				if other, dup := hosts[h]; dup {
					c.at(m, p+".hostname", subject, "hostname %q is already client %q's dashboard", cl.Hostname, other)
				}
				hosts[h] = name
			}
		}
		if cl.Logo != "" && c.fsys != nil && RuleRelPath.Check(cl.Logo) == nil {
			if _, _, err := ReadLogo(c.fsys, cl.Logo); err != nil {
				c.at(m, p+".logo", subject, "%v", err)
			}
		}
	}
}

// siteClient checks that a site's client is declared.
func (c *checker) siteClient(s *Site) {
	if s.Client == "" || c.r.Config == nil {
		return
	}
	if c.r.Config.Clients[s.Client] == nil {
		c.missing(&s.Meta, "client", subjectOf("site", s.Name), "client %q is not declared in berth.yaml's clients%s", s.Client, didYouMean(s.Client, slices.Sorted(maps.Keys(c.r.Config.Clients))))
	}
}

// ResolvedBrand is what a client's sites' own pages show of it.
type ResolvedBrand struct {
	Name    string `json:"name"`
	Support string `json:"support,omitempty"`
	Color   string `json:"color,omitempty"`
}
