package adopt

import (
	"bufio"
	"fmt"
	"strings"
)

// ParseApache returns the VirtualHosts of an apache configuration file (a
// file of conf_dir). Directives outside a VirtualHost make the file's
// sites unknown, like nginx's directives outside a server block.
func ParseApache(file string, data []byte) ([]Vhost, error) {
	var out []Vhost
	var cur *Vhost
	type open struct {
		name string
		line int
		arg  string
	}
	var stack []open // sections opened inside the VirtualHost
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		for strings.HasSuffix(line, `\`) && sc.Scan() { // continuation lines
			n++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(sc.Text())
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		words := apacheWords(line)
		name := strings.ToLower(words[0])
		switch {
		case name == "<virtualhost" || name == "<virtualhost>":
			if cur != nil {
				return nil, fmt.Errorf("%s:%d: VirtualHost inside a VirtualHost", file, n)
			}
			cur = &Vhost{File: file, Line: n}
			for _, w := range words[1:] {
				cur.Listen = append(cur.Listen, strings.TrimSuffix(w, ">"))
			}
			continue
		case name == "</virtualhost>":
			if cur == nil || len(stack) > 0 {
				return nil, fmt.Errorf("%s:%d: unexpected </VirtualHost>", file, n)
			}
			out = append(out, *cur)
			cur = nil
			continue
		case cur == nil:
			out = append(out, Vhost{File: file, Line: n, Unknown: []string{fmt.Sprintf("%s outside a VirtualHost (line %d)", words[0], n)}})
			continue
		}
		unknown := func() { cur.Unknown = append(cur.Unknown, fmt.Sprintf("%s (line %d)", line, n)) }
		switch {
		case strings.HasPrefix(name, "</"):
			if len(stack) == 0 || "</"+stack[len(stack)-1].name+">" != name {
				return nil, fmt.Errorf("%s:%d: unexpected %s", file, n, words[0])
			}
			stack = stack[:len(stack)-1]
		case strings.HasPrefix(name, "<"):
			arg := strings.TrimSuffix(strings.Join(words[1:], " "), ">")
			s := open{name: strings.TrimPrefix(name, "<"), line: n, arg: arg}
			switch {
			case s.name == "directory" && len(stack) == 0:
			case s.name == "filesmatch" && len(stack) == 0 && (arg == `\.php$` || arg == `"\.php$"` || arg == `".+\.php$"` || arg == `.+\.php$`):
			default:
				unknown()
			}
			stack = append(stack, s)
		case len(stack) > 0 && stack[len(stack)-1].name == "directory":
			if !apacheDirectoryOK(name, words[1:]) {
				unknown()
			}
		case len(stack) > 0 && stack[len(stack)-1].name == "filesmatch":
			if name == "sethandler" && len(words) == 2 {
				if sock, ok := apacheFCGI(words[1]); ok && cur.PHP == "" {
					cur.PHP = sock
					continue
				}
			}
			unknown()
		case len(stack) > 0:
			unknown()
		case name == "servername" && len(words) == 2:
			cur.Names = append([]string{words[1]}, cur.Names...)
		case name == "serveralias" && len(words) > 1:
			cur.Names = append(cur.Names, words[1:]...)
		case name == "documentroot" && len(words) == 2 && cur.Root == "":
			cur.Root = words[1]
		case name == "directoryindex" && indexOK(words[1:]):
		default:
			unknown()
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: VirtualHost is not closed", file, cur.Line)
	}
	return out, nil
}

// apacheDirectoryOK accepts what berth's VirtualHost says of the document
// root itself.
func apacheDirectoryOK(name string, args []string) bool {
	a := strings.Join(args, " ")
	switch name {
	case "require":
		return a == "all granted"
	case "allowoverride":
		return a == "None" || a == "All"
	case "options":
		return a == "-Indexes" || a == "FollowSymLinks" || a == "-Indexes +FollowSymLinks" || a == "+FollowSymLinks -Indexes"
	}
	return false
}

// apacheFCGI returns the socket of a SetHandler to PHP-FPM:
// "proxy:unix:/run/php/x.sock|fcgi://localhost".
func apacheFCGI(h string) (string, bool) {
	rest, ok := strings.CutPrefix(h, "proxy:unix:")
	if !ok {
		if rest, ok = strings.CutPrefix(h, "proxy:fcgi://"); ok {
			return strings.TrimSuffix(rest, "/"), rest != ""
		}
		return "", false
	}
	sock, _, ok := strings.Cut(rest, "|fcgi://")
	return sock, ok && sock != ""
}

// apacheWords splits a directive line into words, double quotes grouping.
func apacheWords(line string) []string {
	var out []string
	var b strings.Builder
	inQ, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '"':
			inQ, have = !inQ, true
		case c == '\\' && inQ && i+1 < len(line):
			i++
			b.WriteByte(line[i])
		case (c == ' ' || c == '\t') && !inQ:
			if have {
				out = append(out, b.String())
				b.Reset()
				have = false
			}
		default:
			b.WriteByte(c)
			have = true
		}
	}
	if have {
		out = append(out, b.String())
	}
	return out
}
