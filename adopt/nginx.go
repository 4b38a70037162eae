package adopt

import (
	"fmt"
	"slices"
	"strings"
)

// Vhost is one hand-made site of a web server's configuration, as parsed:
// what berth can express of it, and what it cannot.
type Vhost struct {
	File   string   // the configuration file
	Line   int      // the line the server block or VirtualHost starts at
	Names  []string // server_name / ServerName then ServerAlias, in order
	Listen []string // listen / the VirtualHost's addresses
	Root   string   // root / DocumentRoot
	// PHP is where PHP requests go: a unix socket path, or host:port.
	PHP string
	// MaxBody is client_max_body_size (nginx), when set.
	MaxBody string
	// Unknown lists what berth cannot express, each "directive (line N)".
	Unknown []string
}

// directive is one nginx directive: its name and arguments, and the
// directives of its block when it has one.
type directive struct {
	name  string
	args  []string
	line  int
	block []directive // nil without a block
	isBlk bool
}

// ParseNginx returns the server blocks of an nginx configuration file
// included at the http level (a file of conf_dir). A file that does not
// parse is an error naming its line.
func ParseNginx(file string, data []byte) ([]Vhost, error) {
	toks, err := nginxTokens(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s:%w", file, err)
	}
	ds, rest, err := nginxBlock(toks, 0)
	if err != nil {
		return nil, fmt.Errorf("%s:%w", file, err)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%s:%d: unexpected }", file, rest[0].line)
	}
	var out []Vhost
	for _, d := range ds {
		if d.name != "server" || !d.isBlk {
			// Anything else at the http level (an upstream, a map) is
			// not a site: the file as a whole cannot be modelled.
			out = append(out, Vhost{File: file, Line: d.line, Unknown: []string{fmt.Sprintf("%s outside a server block (line %d)", d.name, d.line)}})
			continue
		}
		out = append(out, nginxServer(file, d))
	}
	return out, nil
}

// nginxServer models one server block.
func nginxServer(file string, s directive) Vhost {
	v := Vhost{File: file, Line: s.line}
	unknown := func(d directive) {
		v.Unknown = append(v.Unknown, fmt.Sprintf("%s (line %d)", strings.TrimSpace(d.name+" "+strings.Join(d.args, " ")), d.line))
	}
	for _, d := range s.block {
		switch {
		case d.name == "listen" && !d.isBlk && len(d.args) == 1:
			v.Listen = append(v.Listen, d.args[0])
		case d.name == "server_name" && !d.isBlk && len(d.args) > 0:
			v.Names = append(v.Names, d.args...)
		case d.name == "root" && !d.isBlk && len(d.args) == 1 && v.Root == "":
			v.Root = d.args[0]
		case d.name == "index" && !d.isBlk && indexOK(d.args):
		case d.name == "client_max_body_size" && !d.isBlk && len(d.args) == 1:
			v.MaxBody = d.args[0]
		case d.name == "location" && d.isBlk:
			if !nginxLocation(d, &v) {
				unknown(d)
			}
		default:
			unknown(d)
		}
	}
	return v
}

// indexOK reports whether an index directive names only the index files
// berth's vhosts serve.
func indexOK(args []string) bool {
	for _, a := range args {
		if !slices.Contains([]string{"index.html", "index.htm", "index.php"}, a) {
			return false
		}
	}
	return len(args) > 0
}

// nginxLocation accepts the locations berth's own vhost answers the same
// way: / trying the file, the directory, then =404 or index.php; PHP
// handed to FastCGI (the socket is kept in v.PHP); dotfiles denied.
func nginxLocation(d directive, v *Vhost) bool {
	arg := strings.Join(d.args, " ")
	switch arg {
	case "/":
		for _, x := range d.block {
			if x.name != "try_files" || x.isBlk || !tryFilesOK(x.args) {
				return false
			}
		}
		return true
	case `~ \.php$`, `~ [^/]\.php(/|$)`:
		pass := ""
		for _, x := range d.block {
			switch {
			case x.isBlk:
				return false
			case x.name == "fastcgi_pass" && len(x.args) == 1:
				pass = x.args[0]
			case x.name == "include" && len(x.args) == 1 && slices.Contains([]string{"fastcgi_params", "fastcgi.conf", "snippets/fastcgi-php.conf", "/etc/nginx/fastcgi_params", "/etc/nginx/fastcgi.conf"}, x.args[0]):
			case x.name == "fastcgi_param" && len(x.args) == 2 && x.args[0] == "SCRIPT_FILENAME":
			case x.name == "fastcgi_index" && len(x.args) == 1 && x.args[0] == "index.php":
			case x.name == "try_files" && strings.Join(x.args, " ") == "$uri =404":
			case x.name == "fastcgi_split_path_info" && len(x.args) == 1:
			default:
				return false
			}
		}
		if pass == "" || v.PHP != "" {
			return false
		}
		v.PHP = strings.TrimPrefix(pass, "unix:")
		return true
	case `~ /\.ht`, `~ /\.`, `~ /\.(?!well-known)`:
		return len(d.block) == 1 && d.block[0].name == "deny" && strings.Join(d.block[0].args, " ") == "all"
	}
	return false
}

func tryFilesOK(args []string) bool {
	s := strings.Join(args, " ")
	return s == "$uri $uri/ =404" || s == "$uri $uri/ /index.php?$args" || s == "$uri $uri/ /index.php?$query_string" || s == "$uri $uri/ /index.php$is_args$args"
}

type token struct {
	text  string
	line  int
	punct bool // ; { }
}

// nginxTokens splits nginx configuration text into words and ; { }.
func nginxTokens(s string) ([]token, error) {
	var toks []token
	line := 1
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == ';' || c == '{' || c == '}':
			toks = append(toks, token{text: string(c), line: line, punct: true})
			i++
		case c == '"' || c == '\'':
			start := line
			var b strings.Builder
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("%d: unterminated quoted string", start)
				}
				if s[i] == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if s[i] == c {
					i++
					break
				}
				if s[i] == '\n' {
					line++
				}
				b.WriteByte(s[i])
				i++
			}
			toks = append(toks, token{text: b.String(), line: start})
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\r\n;{}\"'", rune(s[j])) {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				j++
			}
			toks = append(toks, token{text: s[i:j], line: line})
			i = j
		}
	}
	return toks, nil
}

// nginxBlock parses directives until the end of toks or, for a block
// opened at line open (0: the file's top level), its closing }, returning
// the tokens after it. Errors start with their line: "12: ...".
func nginxBlock(toks []token, open int) ([]directive, []token, error) {
	inner := open > 0
	var out []directive
	for len(toks) > 0 {
		t := toks[0]
		if t.punct {
			if t.text == "}" {
				if !inner {
					return out, toks, nil
				}
				return out, toks[1:], nil
			}
			return nil, nil, fmt.Errorf("%d: unexpected %s", t.line, t.text)
		}
		d := directive{name: t.text, line: t.line}
		toks = toks[1:]
		for len(toks) > 0 && !toks[0].punct {
			d.args = append(d.args, toks[0].text)
			toks = toks[1:]
		}
		if len(toks) == 0 {
			return nil, nil, fmt.Errorf("%d: %s is not ended by ; or a block", d.line, d.name)
		}
		switch toks[0].text {
		case ";":
			toks = toks[1:]
		case "{":
			var err error
			d.isBlk = true
			if d.block, toks, err = nginxBlock(toks[1:], d.line); err != nil {
				return nil, nil, err
			}
			if d.block == nil {
				d.block = []directive{}
			}
		default:
			return nil, nil, fmt.Errorf("%d: %s is not ended by ; before }", d.line, d.name)
		}
		out = append(out, d)
	}
	if inner {
		return nil, nil, fmt.Errorf("%d: the block opened here is not closed by }", open)
	}
	return out, nil, nil
}
