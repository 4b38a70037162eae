package adopt

import (
	"bufio"
	"fmt"
	"strings"
)

// Pool is one PHP-FPM pool of a pool file, as parsed.
type Pool struct {
	File   string
	Line   int
	Name   string // the [section]
	Listen string // a socket path, or host:port
	User   string
}

// ParsePools returns the pools of a PHP-FPM pool file (an ini file of
// pool_dir). A [global] section is not a pool; lines before the first
// section are an error, as PHP-FPM says too.
func ParsePools(file string, data []byte) ([]Pool, error) {
	var out []Pool
	var cur *Pool
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == ';' || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			name, ok := strings.CutSuffix(line[1:], "]")
			if !ok || name == "" {
				return nil, fmt.Errorf("%s:%d: a section is written [name]", file, n)
			}
			if cur != nil {
				out = append(out, *cur)
			}
			cur = nil
			if name != "global" {
				cur = &Pool{File: file, Line: n, Name: name}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want key = value", file, n)
		}
		if cur == nil {
			continue // [global] settings
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		switch k {
		case "listen":
			cur.Listen = v
		case "user":
			cur.User = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if cur != nil {
		out = append(out, *cur)
	}
	for i := range out {
		// PHP-FPM replaces $pool with the pool's name.
		out[i].Listen = strings.ReplaceAll(out[i].Listen, "$pool", out[i].Name)
	}
	return out, nil
}
