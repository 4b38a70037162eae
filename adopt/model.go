package adopt

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/berthhq/berth/kind/database"
	"github.com/berthhq/berth/render"
	"github.com/berthhq/berth/spec"
)

// Input is what Model needs: what Read found, and the repo's side.
type Input struct {
	Found *Found
	// Server is the server imported, resolved for Env (a local server's
	// paths absolute, as Read had them).
	Server spec.ResolvedServer
	Env    string
	// Suffix is Env's domain_suffix: the names on the server carry it,
	// the repo's do not.
	Suffix string
	// PHP is the PHP version whose pools were read.
	PHP string
	// Pairs gives sites their database: site name -> database name.
	Pairs map[string]string
	// Taken holds the site and platform names the repo already declares
	// ("site/NAME", "platform/NAME") and its files ("sites/x.yaml").
	Taken map[string]bool
}

// Skip is something on the server berth import did not model, and why.
type Skip struct {
	What   string
	Reason string
}

// Site is a modelled site: its documents and what berth adopts of it.
type Site struct {
	Name     string // the site's name in the repo
	Domain   string // its name on the server (with the environment's suffix)
	Platform string
	PHP      bool
	// Vhost is the hand-made vhost file, at the path berth keeps the
	// site's vhost: adopted, kept as found until the repo changes it.
	Vhost string
	// Pool is the hand-made pool the vhost passes PHP to ("" for a static
	// site); berth adds the site's own pool beside it and leaves it alone.
	Pool string
	// Database is the adopted database, "" for none.
	Database string

	aliases []string // the site's other names
	maxBody string   // its client_max_body_size
}

// File is a repo file to write, relative to the repo's top.
type File struct {
	Path string
	Data []byte
}

// Result is what Model made of a server.
type Result struct {
	Sites   []Site
	Files   []File
	Skipped []Skip
}

// Model turns what Read found into Platform and Site documents, one
// platform per site (its document root, served in place), and lists
// everything it cannot model with the reason.
func Model(in Input) *Result {
	r := &Result{Skipped: slices.Clone(in.Found.Problems)}
	if in.Taken == nil {
		in.Taken = map[string]bool{}
	}
	pools := map[string]Pool{}
	for _, p := range in.Found.Pools {
		pools[p.Listen] = p
	}
	usedPools := map[string]bool{}
	seen := map[string]int{}
	for _, v := range in.Found.Vhosts {
		if len(v.Names) > 0 {
			seen[v.Names[0]]++
		}
	}
	for _, v := range in.Found.Vhosts {
		what := fmt.Sprintf("vhost %s:%d", v.File, v.Line)
		if len(v.Names) > 0 {
			what += " (" + strings.Join(v.Names, " ") + ")"
		}
		if v.PHP != "" {
			if _, ok := pools[v.PHP]; ok {
				usedPools[v.PHP] = true
			}
		}
		site, files, why := in.site(v, pools, seen)
		if why != "" {
			r.Skipped = append(r.Skipped, Skip{What: what, Reason: why})
			continue
		}
		r.Sites = append(r.Sites, site)
		r.Files = append(r.Files, files...)
		in.Taken["site/"+site.Name] = true
		in.Taken["platform/"+site.Platform] = true
	}
	for _, p := range in.Found.Pools {
		if !usedPools[p.Listen] {
			r.Skipped = append(r.Skipped, Skip{What: fmt.Sprintf("pool %s in %s:%d", p.Name, p.File, p.Line),
				Reason: "no vhost passes PHP to it (" + p.Listen + "): berth models a pool only with its site"})
		}
	}
	in.pairDatabases(r)
	for i := range r.Skipped {
		r.Skipped[i].What, r.Skipped[i].Reason = printable(r.Skipped[i].What), printable(r.Skipped[i].Reason)
	}
	return r
}

// printable escapes what a terminal would act on (control characters,
// invalid UTF-8) in text that holds values read from a server.
func printable(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", s[0])
		case !unicode.IsPrint(r) && r != ' ':
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
		s = s[n:]
	}
	return b.String()
}

// site models one vhost, or says why it cannot.
func (in Input) site(v Vhost, pools map[string]Pool, seen map[string]int) (Site, []File, string) {
	srv := in.Server
	if len(v.Unknown) > 0 {
		return Site{}, nil, "berth cannot express " + strings.Join(v.Unknown, "; ")
	}
	if len(v.Names) == 0 {
		return Site{}, nil, "it has no server name"
	}
	if seen[v.Names[0]] > 1 {
		return Site{}, nil, "another vhost has the same first name"
	}
	var names []string
	for i, n := range v.Names {
		base, ok := strings.CutSuffix(n, in.Suffix)
		if !ok || base == "" {
			return Site{}, nil, fmt.Sprintf("name %q does not end with environment %s's domain_suffix %s", n, in.Env, in.Suffix)
		}
		rule := spec.RuleDomainAlias
		if i == 0 {
			rule = spec.RuleDomain
		}
		if err := rule.Check(base); err != nil {
			return Site{}, nil, fmt.Sprintf("name %q: %v", n, err)
		}
		names = append(names, base)
	}
	name := names[0]
	for _, l := range v.Listen {
		if !sameListen(l, srv.HTTP.Listen) {
			return Site{}, nil, fmt.Sprintf("it listens on %s; berth serves the server's sites on services.http.listen (%s)", l, srv.HTTP.Listen)
		}
	}
	if len(v.Listen) == 0 && srv.HTTP.Type == "nginx" && !sameListen("80", srv.HTTP.Listen) {
		return Site{}, nil, fmt.Sprintf("it has no listen (nginx's default, port 80); berth serves the server's sites on %s", srv.HTTP.Listen)
	}
	switch {
	case v.Root == "":
		return Site{}, nil, "it has no document root"
	case spec.RuleAbsPath.Check(v.Root) != nil:
		return Site{}, nil, fmt.Sprintf("document root %q: %v", v.Root, spec.RuleAbsPath.Check(v.Root))
	case !in.Found.Dirs[v.Root]:
		return Site{}, nil, fmt.Sprintf("document root %s is not a directory on the server", v.Root)
	}
	plat := strings.ReplaceAll(strings.ToLower(name), ".", "-")
	if err := spec.RuleName.Check(plat); err != nil {
		return Site{}, nil, fmt.Sprintf("no platform name can be made of %s: %v", name, err)
	}
	if v.MaxBody != "" {
		if err := spec.RuleSize.Check(v.MaxBody); err != nil {
			return Site{}, nil, fmt.Sprintf("client_max_body_size %q: %v", v.MaxBody, err)
		}
	}
	rs := spec.ResolvedSite{Name: name, Domain: v.Names[0], Environment: in.Env, Platform: plat}
	site := Site{Name: name, Domain: v.Names[0], Platform: plat, Vhost: v.File, aliases: names[1:], maxBody: v.MaxBody}
	if v.PHP != "" {
		pool, ok := pools[v.PHP]
		if !ok {
			return Site{}, nil, fmt.Sprintf("it passes PHP to %s, where no pool of PHP %s listens", v.PHP, in.PHP)
		}
		if srv.PHP == nil {
			return Site{}, nil, "it runs PHP and the server declares no php service"
		}
		rs.PHP = in.PHP
		site.PHP, site.Pool = true, pool.Name
		if p := render.Paths(&rs, &srv).Pool; p == pool.File {
			return Site{}, nil, fmt.Sprintf("its pool %s is in %s, where berth writes the site's own pool: rename the pool file (and reload PHP-FPM), then import again", pool.Name, p)
		}
	}
	if want := render.Paths(&rs, &srv).Vhost; want != v.File {
		return Site{}, nil, fmt.Sprintf("berth keeps the site's vhost in %s: rename %s to it (and reload the web server), then import again", want, v.File)
	}
	for _, k := range []string{"site/" + name, "platform/" + plat, "sites/" + name + ".yaml", "platforms/" + plat + ".yaml"} {
		if in.Taken[k] {
			return Site{}, nil, fmt.Sprintf("the repo already has %s", k)
		}
	}
	return site, in.documents(site, v), ""
}

// sameListen reports whether a vhost's listen binds what the server's
// listen does: the same text, or a port on every address.
func sameListen(l, srv string) bool {
	for _, p := range []string{"*:", "0.0.0.0:"} {
		l = strings.TrimPrefix(l, p)
		srv = strings.TrimPrefix(srv, p)
	}
	return l == srv
}

// pairDatabases gives modelled sites their database: the one Pairs names,
// else the one named as berth names the site's. Every other database is
// listed.
func (in Input) pairDatabases(r *Result) {
	bySite := map[string]*Site{}
	for i := range r.Sites {
		bySite[r.Sites[i].Name] = &r.Sites[i]
	}
	dbs := map[string]bool{}
	for _, d := range in.Found.Databases {
		dbs[d] = true
	}
	paired := map[string]bool{}
	pg := in.Server.DB != nil && in.Server.DB.Type == "postgresql"
	for _, sn := range slices.Sorted(maps.Keys(in.Pairs)) {
		db := in.Pairs[sn]
		s := bySite[sn]
		switch {
		case s == nil:
			r.Skipped = append(r.Skipped, Skip{What: "--db " + sn + "=" + db, Reason: "no site of that name was imported"})
		case !dbs[db]:
			r.Skipped = append(r.Skipped, Skip{What: "--db " + sn + "=" + db, Reason: "the server has no database of that name"})
		case pg:
			paired[db] = true
			r.Skipped = append(r.Skipped, Skip{What: "--db " + sn + "=" + db, Reason: pgReason})
		default:
			s.Database, paired[db] = db, true
		}
	}
	for i := range r.Sites {
		s := &r.Sites[i]
		if d := spec.DatabaseName(s.Domain); s.Database == "" && dbs[d] && !paired[d] && !pg {
			s.Database, paired[d] = d, true
		}
	}
	for _, d := range in.Found.Databases {
		switch {
		case paired[d]:
		case strings.HasPrefix(d, database.ScratchPrefix):
			r.Skipped = append(r.Skipped, Skip{What: "database " + d, Reason: "a scratch database of berth's backup verification, left by an interrupted one: drop it"})
		case pg:
			r.Skipped = append(r.Skipped, Skip{What: "database " + d, Reason: pgReason})
		case spec.RuleDBName.Check(d) != nil:
			r.Skipped = append(r.Skipped, Skip{What: "database " + d, Reason: fmt.Sprintf("%v", spec.RuleDBName.Check(d))})
		default:
			r.Skipped = append(r.Skipped, Skip{What: "database " + d, Reason: "no site is named after it: give it one with --db SITE=" + d})
		}
	}
	for i := range r.Sites {
		if s := &r.Sites[i]; s.Database != "" {
			if err := spec.RuleDBName.Check(s.Database); err != nil {
				r.Skipped = append(r.Skipped, Skip{What: "database " + s.Database, Reason: err.Error()})
				s.Database = ""
				continue
			}
			if u := spec.DatabaseUser(s.Database); slices.Contains(in.Found.DBUsers, u) {
				r.Skipped = append(r.Skipped, Skip{What: "database " + s.Database,
					Reason: "its site would get the user " + u + ", which the server already has: berth would set that user's password; not adopted, site " + s.Name + " is imported without db"})
				s.Database = ""
				continue
			}
			r.Files = slices.DeleteFunc(r.Files, func(f File) bool { return f.Path == "sites/"+s.Name+".yaml" })
			r.Files = append(r.Files, siteFile(in, *s))
		}
	}
	slices.SortFunc(r.Files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
}

// pgReason is why no PostgreSQL database is adopted.
const pgReason = "a PostgreSQL database is not adopted: berth makes the site's role its owner and revokes PUBLIC's rights on it, which would change what the hand-made site connects with; its site is imported without db"

// The documents of a site; every value already passed its rule.
func (in Input) documents(s Site, v Vhost) []File {
	typ := "static"
	if s.PHP {
		typ = "php"
	}
	var p strings.Builder
	p.WriteString(schemaLine)
	fmt.Fprintf(&p, "#\n# Imported by berth import from server %s: the document root of\n# %s, served where it is (berth never writes into it).\n", in.Server.Name, v.File)
	if s.PHP {
		fmt.Fprintf(&p, "# Its pool runs as the web server's user (isolation: false): the\n# hand-made files are not owned by a site user.\n")
	}
	fmt.Fprintf(&p, "kind: Platform\nname: %s\ntype: %s\nsource: { dir: %s }\n", q(s.Platform), typ, q(v.Root))
	if s.PHP {
		fmt.Fprintf(&p, "php: %s\nisolation: false\n", q(in.PHP))
	}
	fmt.Fprintf(&p, "servers: [%s]\nenvironments: [%s]\n", q(in.Server.Name), q(in.Env))
	return []File{{Path: "platforms/" + s.Platform + ".yaml", Data: []byte(p.String())}, siteFile(in, s)}
}

func siteFile(in Input, s Site) File {
	var b strings.Builder
	b.WriteString(schemaLine)
	fmt.Fprintf(&b, "#\n# Imported by berth import from server %s: %s.\n", in.Server.Name, s.Vhost)
	if s.Pool != "" {
		// Not the pool's name: it is the server's, unchecked.
		fmt.Fprintf(&b, "# PHP went to a hand-made pool; berth runs the site's own pool beside it.\n")
	}
	fmt.Fprintf(&b, "kind: Site\nname: %s\nplatform: %s\n", q(s.Name), q(s.Platform))
	if len(s.aliases) > 0 {
		qs := make([]string, len(s.aliases))
		for i, a := range s.aliases {
			qs[i] = q(a)
		}
		fmt.Fprintf(&b, "aliases: [%s]\n", strings.Join(qs, ", "))
	}
	if s.Database != "" {
		fmt.Fprintf(&b, "db: { server: %s, name: %s }\n", q(in.Server.Name), q(s.Database))
	}
	if s.maxBody != "" {
		fmt.Fprintf(&b, "web: { client_max_body_size: %s }\n", q(s.maxBody))
	}
	fmt.Fprintf(&b, "environments: [%s]\n", q(in.Env))
	return File{Path: "sites/" + s.Name + ".yaml", Data: []byte(b.String())}
}

// schemaLine starts every file berth writes into a repo's sites/ and
// platforms/, as berth init's do.
const schemaLine = "# yaml-language-server: $schema=../berth.schema.json\n"

// q quotes a value for YAML: a JSON string is a YAML double-quoted scalar.
func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
