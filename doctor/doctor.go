package doctor

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/spec"
)

// Severity of a finding.
const (
	OK   = "ok"
	Warn = "warn"
	Fail = "fail"
)

// Finding is one check of one server.
type Finding struct {
	Server   string `json:"server"`
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
	// Fix says what to do; empty when the check passed.
	Fix string `json:"fix,omitempty"`
}

func (f Finding) String() string {
	s := fmt.Sprintf("%s: %-4s %s: %s", f.Server, f.Severity, f.Check, f.Message)
	if f.Fix != "" {
		s += " — " + f.Fix
	}
	return s
}

// Script is what the server runs, as sh -c Script doctor ARG...: each
// argument is a request, c:NAME (is command NAME on the PATH), d:DIR (is
// DIR a writable directory, else its nearest existing parent writable),
// p:PORT (who listens on TCP PORT); it answers one tab-separated line
// each, after the login user's name and find's version.
const Script = `
printf 'user\t%s\n' "$(id -un)"
if command -v find >/dev/null 2>&1; then
  printf 'find\t%s\n' "$(find --version 2>/dev/null | sed -n 1p)"
else
  printf 'find\t\n'
fi
for a in "$@"; do
  v=${a#??}
  case $a in
  c:*) if command -v -- "$v" >/dev/null 2>&1; then printf 'c\t%s\tyes\n' "$v"; else printf 'c\t%s\tno\n' "$v"; fi ;;
  d:*)
    if [ -d "$v" ]; then
      if [ -w "$v" ]; then printf 'd\t%s\twritable\n' "$v"; else printf 'd\t%s\treadonly\n' "$v"; fi
    else
      p=$v
      while [ ! -e "$p" ] && [ ! -L "$p" ]; do p=$(dirname -- "$p"); done
      if [ -d "$p" ] && [ -w "$p" ]; then printf 'd\t%s\tcreatable\t%s\n' "$v" "$p"; else printf 'd\t%s\tblocked\t%s\n' "$v" "$p"; fi
    fi ;;
  p:*)
    if command -v ss >/dev/null 2>&1; then
      printf 'p\t%s\t%s\n' "$v" "$(ss -Hltnp "sport = :$v" 2>/dev/null | sed -n 's/.*users:((\"\([^\"]*\)\".*/\1/p' | sort -u | tr '\n' ' ')"
    else
      printf 'p\t%s\t?\n' "$v"
    fi ;;
  esac
done
`

// Check runs the checks of srv on h, a connection to it (through sudo
// when the server says so). phpVersions are the PHP versions its sites
// run (their pools' commands are checked for each).
func Check(ctx context.Context, h host.Host, srv spec.ResolvedServer, phpVersions []string) []Finding {
	var out []Finding
	add := func(check, severity, msg, fix string) {
		out = append(out, Finding{Server: srv.Name, Check: check, Severity: severity, Message: msg, Fix: fix})
	}
	req := requests(srv, phpVersions)
	res, err := h.Run(ctx, append([]string{"sh", "-c", Script, "doctor"}, req.args()...), host.RunOptions{})
	if err != nil {
		msg := strings.TrimSpace(string(res.Stderr))
		switch {
		case srv.SSH.Sudo && strings.Contains(msg+err.Error(), "sudo"):
			add("sudo", Fail, "sudo -n refused: "+firstLine(cmp.Or(msg, err.Error())),
				fmt.Sprintf("give %s passwordless sudo: echo '%s ALL=(ALL:ALL) NOPASSWD: ALL' > /etc/sudoers.d/berth on %s (visudo -cf to check), or set ssh.sudo: false if it is root", srv.SSH.User, srv.SSH.User, srv.Name))
		case res.ExitCode == -1:
			add("reach", Fail, "cannot run a command: "+firstLine(err.Error()),
				fmt.Sprintf("check that %s answers SSH at %s, the key and known_hosts berth uses, and ssh.user", srv.Name, srv.Address))
		default:
			add("shell", Fail, "the check script failed: "+firstLine(cmp.Or(msg, err.Error())), "make sure /bin/sh is a POSIX shell on "+srv.Name)
		}
		return out
	}
	if srv.SSH.Sudo {
		add("sudo", OK, "sudo -n works", "")
	} else if !srv.Local() {
		add("reach", OK, "reachable over SSH", "")
	}
	answers := parse(res.Stdout)
	findVersion(add, answers["find"])
	for _, c := range req.commands {
		if answers["c\t"+c.name] == "yes" {
			continue
		}
		sev := Fail
		if c.optional {
			sev = Warn
		}
		add("command", sev, fmt.Sprintf("%s not found on the PATH (%s)", c.name, c.why), c.fix)
	}
	if len(req.commands) > 0 && !slices.ContainsFunc(out, func(f Finding) bool { return f.Check == "command" }) {
		add("command", OK, fmt.Sprintf("%d commands found", len(req.commands)), "")
	}
	for _, d := range req.dirs {
		st := strings.Split(answers["d\t"+d.dir], "\t")
		switch st[0] {
		case "writable":
			add("dir", OK, d.dir+" is writable", "")
		case "creatable":
			add("dir", OK, fmt.Sprintf("%s will be created (%s is writable)", d.dir, at(st, 1)), "")
		case "readonly":
			add("dir", Fail, d.dir+" is not writable by "+answers["user"]+" ("+d.why+")", fmt.Sprintf("chown it to %s or turn on ssh.sudo", answers["user"]))
		default:
			add("dir", Fail, fmt.Sprintf("%s cannot be created: %s is not a directory %s may write (%s)", d.dir, at(st, 1), answers["user"], d.why), fmt.Sprintf("create %s and give it to %s, or turn on ssh.sudo", d.dir, answers["user"]))
		}
	}
	for _, p := range req.ports {
		who := strings.Fields(answers["p\t"+p.port])
		switch {
		case len(who) == 1 && who[0] == "?":
			add("port", Warn, fmt.Sprintf("%s: cannot tell who listens (no ss)", p.port), "install iproute2")
		case len(who) == 0:
			add("port", OK, fmt.Sprintf("%s is free (%s starts on it)", p.port, p.service), "")
		case slices.ContainsFunc(who, func(w string) bool { return slices.Contains(p.owners, w) }):
			add("port", OK, fmt.Sprintf("%s is %s's", p.port, strings.Join(who, ", ")), "")
		default:
			add("port", Fail, fmt.Sprintf("%s is held by %s, not %s", p.port, strings.Join(who, ", "), p.service),
				fmt.Sprintf("stop %s or give services.http.listen another port", strings.Join(who, ", ")))
		}
	}
	return out
}

var findVersionRE = regexp.MustCompile(`GNU findutils\) (\d+)\.(\d+)`)

func findVersion(add func(check, severity, msg, fix string), line string) {
	const fix = "install GNU findutils 4.9 or newer (Debian 12, Ubuntu 22.04 have it): berth observes a host with find -files0-from"
	m := findVersionRE.FindStringSubmatch(line)
	switch {
	case line == "":
		add("find", Fail, "find not found", fix)
	case m == nil:
		add("find", Fail, fmt.Sprintf("find is not GNU find (%q)", line), fix)
	default:
		major, _ := strconv.Atoi(m[1])
		minor, _ := strconv.Atoi(m[2])
		if major < 4 || major == 4 && minor < 9 {
			add("find", Fail, fmt.Sprintf("GNU find %d.%d is older than 4.9", major, minor), fix)
			return
		}
		add("find", OK, fmt.Sprintf("GNU find %d.%d", major, minor), "")
	}
}

type command struct {
	name, why, fix string
	optional       bool
}

type dir struct{ dir, why string }

type port struct {
	port, service string
	owners        []string // process names that may hold it
}

type request struct {
	commands []command
	dirs     []dir
	ports    []port
}

func (r *request) command(name, why, fix string, optional bool) {
	if name == "" || slices.ContainsFunc(r.commands, func(c command) bool { return c.name == name }) {
		return
	}
	r.commands = append(r.commands, command{name: name, why: why, fix: fix, optional: optional})
}

// argv0 adds the program of a configured command; a relative program
// with a slash runs in berth's directory and is not looked up.
func (r *request) argv0(argv []string, why, fix string) {
	if len(argv) == 0 || strings.Contains(argv[0], "/") && !path.IsAbs(argv[0]) {
		return
	}
	r.command(argv[0], why, fix, false)
}

func (r *request) dir(d, why string) {
	if d != "" && path.IsAbs(d) && !slices.ContainsFunc(r.dirs, func(x dir) bool { return x.dir == d }) {
		r.dirs = append(r.dirs, dir{d, why})
	}
}

func (r *request) args() []string {
	var out []string
	for _, c := range r.commands {
		out = append(out, "c:"+c.name)
	}
	for _, d := range r.dirs {
		out = append(out, "d:"+d.dir)
	}
	for _, p := range r.ports {
		out = append(out, "p:"+p.port)
	}
	return out
}

// requests lists what to look at on srv.
func requests(srv spec.ResolvedServer, phpVersions []string) *request {
	r := &request{}
	r.command("sha256sum", "observing files", "install coreutils", false)
	r.command("perl", "batched writes; without it each file is one more round trip", "install perl (perl-base is in every Debian)", true)
	if h := srv.HTTP; h != nil {
		fix := "install " + h.Type + " or fix services.http.test/reload"
		r.argv0(h.Test, h.Type+"'s config test", fix)
		r.argv0(h.Reload, h.Type+"'s reload", fix)
		r.command("runuser", "running installs and cron as the web server's user", "install util-linux", true)
		r.dir(h.ConfDir, "services.http.conf_dir")
		r.dir(h.WebRoot, "services.http.web_root")
		if _, p, err := spec.SplitListen(h.Listen); err == nil && p != "" {
			owners := map[string][]string{"nginx": {"nginx"}, "apache": {"apache2", "httpd"}}[h.Type]
			r.ports = append(r.ports, port{port: p, service: h.Type, owners: owners})
		}
	}
	if p := srv.PHP; p != nil {
		for _, v := range phpVersions {
			pv := p.For(v)
			fix := fmt.Sprintf("install php%s-fpm or fix services.php.test/reload", v)
			r.argv0(pv.Test, "PHP-FPM "+v+"'s config test", fix)
			r.argv0(pv.Reload, "PHP-FPM "+v+"'s reload", fix)
			r.dir(pv.PoolDir, "services.php.pool_dir for PHP "+v)
		}
	}
	if db := srv.DB; db != nil {
		client := map[string]string{"mariadb": "mysql", "mysql": "mysql", "postgresql": "psql", "sqlite": ""}[db.Type]
		r.command(cmp.Or(db.Client, client), db.Type+"'s client", "install the "+db.Type+" client or set services.db.client", false)
	}
	if b := srv.BIND; b != nil {
		r.argv0(b.RNDC, "BIND's rndc", "install bind9 (bind9utils)")
		r.argv0(b.CheckConf, "BIND's config check", "install bind9 (bind9utils)")
		r.command(b.CheckZone, "BIND's zone check", "install bind9 (bind9utils)", false)
		r.dir(b.ZoneDir, "services.dns.zone_dir")
		r.dir(path.Dir(b.IncludeFile), "services.dns.include_file's directory")
	}
	return r
}

func parse(out []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 3)
		switch {
		case len(f) >= 2 && (f[0] == "user" || f[0] == "find"):
			m[f[0]] = f[1]
		case len(f) == 3:
			m[f[0]+"\t"+f[1]] = f[2]
		}
	}
	return m
}

func at(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
