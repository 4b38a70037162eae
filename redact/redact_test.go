package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// wrap breaks s into lines of n characters, as base64 tools do.
func wrap(s string, n int) string {
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

func TestRedact(t *testing.T) {
	const gen = "Xq3_kLm-9ZtR0pWvYb2NcD4eFgH5iJ6o"                                  // a generated password (32, [A-Za-z0-9_-])
	const odd = `p@ss/w"rd\ä&<x>+ 1%`                                               // a hand-made admin password
	const salt = "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kM9nP2rS5uV8xA1cD4fG7iL0oR3t" // 64
	prefixed := func(pfx, s string) string { return base64.StdEncoding.EncodeToString([]byte(pfx + s + "!tail")) }
	tests := []struct {
		name    string
		secrets []string
		in      string
		gone    []string // none of these may remain
		keep    []string // these must remain
	}{
		{"raw alone", []string{gen}, gen, []string{gen}, nil},
		{"raw inside a longer string", []string{gen}, "DB_PASSWORD=" + gen + ";host=x", []string{gen, gen[:Fragment]}, []string{"DB_PASSWORD=", ";host=x"}},
		{"several secrets in one line", []string{gen, salt}, gen + " and " + salt, []string{gen, salt}, []string{" and "}},
		{"url query escape", []string{odd}, "https://x/?pw=" + url.QueryEscape(odd), []string{url.QueryEscape(odd)}, []string{"https://x/?pw="}},
		{"url path escape", []string{odd}, "/login/" + url.PathEscape(odd) + "/x", []string{url.PathEscape(odd)}, []string{"/login/"}},
		{"url escape lower case", []string{odd}, strings.ToLower(url.QueryEscape(odd)), []string{"ss%2fw%22rd"}, nil},
		{"base64 std", []string{gen}, base64.StdEncoding.EncodeToString([]byte(gen)), []string{base64.StdEncoding.EncodeToString([]byte(gen))[:20]}, nil},
		{"base64 url", []string{odd}, base64.URLEncoding.EncodeToString([]byte(odd)), []string{base64.URLEncoding.EncodeToString([]byte(odd))[:12]}, nil},
		{"base64 raw std", []string{odd}, base64.RawStdEncoding.EncodeToString([]byte(odd)), []string{base64.RawStdEncoding.EncodeToString([]byte(odd))[:12]}, nil},
		{"base64 raw url", []string{odd}, base64.RawURLEncoding.EncodeToString([]byte(odd)), []string{base64.RawURLEncoding.EncodeToString([]byte(odd))[:12]}, nil},
		{"base64 at offset 1", []string{gen}, prefixed("a", gen), []string{prefixed("a", gen)[4:24]}, nil},
		{"base64 at offset 2", []string{gen}, prefixed("ab", gen), []string{prefixed("ab", gen)[4:24]}, nil},
		{"base64 at offset 3", []string{gen}, prefixed("abc", gen), []string{prefixed("abc", gen)[4:24]}, nil},
		{"base64 of a settings line, wrapped at 76", []string{salt}, wrap(base64.StdEncoding.EncodeToString([]byte("$settings['hash_salt'] = '"+salt+"';\n")), 76), []string{salt[:Fragment]}, nil},
		{"json escaped", []string{odd}, `{"password":` + mustJSON(odd) + `}`, []string{mustJSON(odd)[1:13]}, []string{`{"password":`}},
		{"json with escaped slashes (php)", []string{odd}, strings.ReplaceAll(mustJSON(odd), "/", `\/`), []string{`p@ss\/w`}, nil},
		{"go quoted", []string{odd}, strconv.Quote(odd), []string{strconv.Quote(odd)[1:13]}, nil},
		{"hex lower", []string{gen}, hex.EncodeToString([]byte(gen)), []string{hex.EncodeToString([]byte(gen))[:12]}, nil},
		{"hex upper", []string{gen}, strings.ToUpper(hex.EncodeToString([]byte(gen))), []string{strings.ToUpper(hex.EncodeToString([]byte(gen)))[:12]}, nil},
		{"hex inside a longer hex string", []string{gen}, hex.EncodeToString([]byte("xx" + gen + "yy")), []string{hex.EncodeToString([]byte(gen))[:12]}, []string{"7878"}},
		{"truncated to its first 20 characters", []string{salt}, "salt: " + salt[:20] + "...", []string{salt[:20], salt[:Fragment]}, []string{"salt: ", "..."}},
		{"truncated to its last 15 characters", []string{salt}, "..." + salt[len(salt)-15:] + ".", []string{salt[len(salt)-15:]}, []string{"..."}},
		{"a fragment from the middle", []string{salt}, "x" + salt[20:40] + "x", []string{salt[20:40]}, nil},
		{"line-wrapped at 40", []string{salt}, wrap(salt, 40), []string{salt[:40], salt[40:]}, nil},
		{"line-wrapped at 16", []string{salt}, wrap(salt, 16), []string{salt[:16], salt[16:32], salt[32:48], salt[48:]}, nil},
		{"a short secret is redacted whole", []string{"hunter22"}, "pw hunter22 ok", []string{"hunter22"}, []string{"pw ", " ok"}},
		{"a short secret's base64", []string{"hunter22"}, base64.StdEncoding.EncodeToString([]byte("hunter22")), []string{"aHVudGVyMjI"}, nil},
		{"an 11-character fragment of a long secret stays", []string{salt}, "x" + salt[:Fragment-1] + "x", nil, []string{salt[:Fragment-1]}},
		{"a secret below MinLen is not redacted", []string{"abcde"}, "abcdef abcde", nil, []string{"abcdef abcde"}},
		{"benign text is untouched", []string{gen, salt, odd}, "nginx: configuration file /etc/nginx/nginx.conf test is successful", nil, []string{"nginx: configuration file /etc/nginx/nginx.conf test is successful"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Set
			s.Add(tt.secrets...)
			got := s.String(tt.in)
			for _, g := range tt.gone {
				if strings.Contains(got, g) {
					t.Errorf("%q remains in %q (from %q)", g, got, tt.in)
				}
			}
			for _, k := range tt.keep {
				if !strings.Contains(got, k) {
					t.Errorf("%q was lost: %q (from %q)", k, got, tt.in)
				}
			}
			if len(tt.gone) > 0 && !strings.Contains(got, Mark) {
				t.Errorf("no %s in %q", Mark, got)
			}
			if b := s.Bytes([]byte(tt.in)); string(b) != got {
				t.Errorf("Bytes = %q, String = %q", b, got)
			}
		})
	}
}

func mustJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Every encoding of every secret, at every offset in a longer text, goes.
func TestRedactEveryEncodingAtEveryOffset(t *testing.T) {
	secrets := []string{"Xq3_kLm-9ZtR0pWvYb2NcD4eFgH5iJ6o", `p@ss/w"rd\ä&<x>+ 1%`, "short7!"}
	var s Set
	s.Add(secrets...)
	n := 0
	for _, sec := range secrets {
		for _, v := range variants(sec) {
			for _, pfx := range []string{"", "a", "ab=", "{\"k\":\"", "line\n"} {
				in := pfx + v + " end"
				got := s.String(in)
				if strings.Contains(got, v) || !strings.HasPrefix(got, pfx) || !strings.HasSuffix(got, " end") {
					t.Errorf("variant %q of %q after %q: %q", v, sec, pfx, got)
				}
				n++
			}
		}
		for k := range 3 {
			for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
				full := enc.EncodeToString([]byte(strings.Repeat("z", k) + sec + "tail"))
				got := s.String(full)
				if !strings.Contains(got, Mark) {
					t.Errorf("base64 of %q at offset %d not redacted: %q", sec, k, got)
				}
				// What is left of the encoding is at most 4 characters
				// around the secret: the ones that mix its bytes with others.
				left := strings.ReplaceAll(got, Mark, "")
				if len(full)-len(left) < 4*len(sec)/3-4 {
					t.Errorf("base64 of %q at offset %d: only %d of %d characters redacted: %q", sec, k, len(full)-len(left), len(full), got)
				}
				n++
			}
		}
	}
	t.Logf("%d cases", n)
}

func TestWriter(t *testing.T) {
	var s Set
	s.Add("Xq3_kLm-9ZtR0pWvYb2NcD4eFgH5iJ6o")
	var out bytes.Buffer
	w := s.Writer(&out)
	line := "install: password Xq3_kLm-9ZtR0pWvYb2NcD4eFgH5iJ6o done\n"
	n, err := fmt.Fprint(w, line)
	if err != nil || n != len(line) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(line))
	}
	if got, want := out.String(), "install: password "+Mark+" done\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if w.(interface{ Unwrap() io.Writer }).Unwrap() != &out {
		t.Error("Unwrap does not return the underlying writer")
	}
}

func TestEmptySetChangesNothing(t *testing.T) {
	var s Set
	in := []byte("nothing to hide")
	if got := s.Bytes(in); &got[0] != &in[0] {
		t.Error("an empty Set copied its input")
	}
}
