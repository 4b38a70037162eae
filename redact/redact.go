package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
)

const (
	// MinLen is the length of the shortest secret (or encoding of one)
	// that is redacted.
	MinLen = 6
	// Fragment is the length of the shortest run of a secret's (or an
	// encoding's) characters that is redacted when the whole is not there.
	Fragment = 12
	// Mark replaces what is redacted.
	Mark = "[redacted]"
)

// gram is the length of the index keys: any run of Fragment characters of
// a variant holds a gram that starts at a multiple of step in the variant,
// so only those grams are indexed.
const (
	gram = 8
	step = Fragment - gram + 1
)

// Set is a registry of secrets and their redaction. The zero value is an
// empty Set ready to use; a Set is safe for concurrent use.
type Set struct {
	mu       sync.RWMutex
	secrets  map[string]bool
	variants []string
	// index maps the gram at every step-th offset of every long variant
	// (8 bytes, little-endian) to the head of its chain in entries.
	index   map[uint64]int32
	entries []entry
	// short holds the variants shorter than Fragment, by length.
	short map[int]map[string]bool
}

type entry struct {
	variant, off, next int32
}

var process Set

// Add registers secrets with the process's Set.
func Add(secrets ...string) { process.Add(secrets...) }

// String returns s with the process's secrets redacted.
func String(s string) string { return process.String(s) }

// Bytes returns b with the process's secrets redacted.
func Bytes(b []byte) []byte { return process.Bytes(b) }

// Writer returns a writer that redacts the process's secrets from every
// Write before passing it to w.
func Writer(w io.Writer) io.Writer { return process.Writer(w) }

// Add registers secrets: from now on they are redacted. Secrets shorter
// than MinLen are ignored; adding a secret twice is harmless.
func (s *Set) Add(secrets ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sec := range secrets {
		if len(sec) < MinLen || s.secrets[sec] {
			continue
		}
		if s.secrets == nil {
			s.secrets = map[string]bool{}
			s.index = map[uint64]int32{}
			s.short = map[int]map[string]bool{}
		}
		s.secrets[sec] = true
		for _, v := range variants(sec) {
			s.addVariant(v)
		}
	}
}

func (s *Set) addVariant(v string) {
	if len(v) < Fragment {
		if s.short[len(v)] == nil {
			s.short[len(v)] = map[string]bool{}
		}
		s.short[len(v)][v] = true
		return
	}
	vi := int32(len(s.variants))
	s.variants = append(s.variants, v)
	for off := 0; off+gram <= len(v); off += step {
		key := binary.LittleEndian.Uint64([]byte(v[off : off+gram]))
		head, ok := s.index[key]
		if !ok {
			head = -1
		}
		s.entries = append(s.entries, entry{variant: vi, off: int32(off), next: head})
		s.index[key] = int32(len(s.entries) - 1)
	}
}

// variants returns the forms of sec that are looked for: the secret and
// its encodings, each at least MinLen long, without duplicates.
func variants(sec string) []string {
	out := []string{sec}
	for _, e := range []string{url.QueryEscape(sec), url.PathEscape(sec)} {
		out = append(out, e, lowerEscapes(e))
	}
	for _, html := range []bool{false, true} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		_ = enc.Encode(sec)
		j := strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), `"`)[1:]
		out = append(out, j, strings.ReplaceAll(j, "/", `\/`))
	}
	q := strconv.Quote(sec)
	out = append(out, q[1:len(q)-1])
	out = append(out, hex.EncodeToString([]byte(sec)), strings.ToUpper(hex.EncodeToString([]byte(sec))))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		out = append(out, enc.EncodeToString([]byte(sec)))
		raw := enc.WithPadding(base64.NoPadding)
		// The secret at byte offset k of longer encoded data: the
		// characters that depend on the secret's bytes only.
		for k, skip := range []int{0, 2, 3} {
			e := raw.EncodeToString(append(make([]byte, k), sec...))[skip:]
			if (k+len(sec))%3 != 0 {
				e = e[:len(e)-1]
			}
			out = append(out, e)
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	return slices.DeleteFunc(out, func(v string) bool { return len(v) < MinLen })
}

// lowerEscapes writes the hex digits of %XX escapes in lower case.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = lowerHex(b[i+1]), lowerHex(b[i+2])
		}
	}
	return string(b)
}

func lowerHex(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// String returns s with every registered secret, encoding and fragment
// replaced by Mark.
func (s *Set) String(t string) string {
	spans := s.find(t)
	if len(spans) == 0 {
		return t
	}
	var b strings.Builder
	b.Grow(len(t))
	last := 0
	for _, sp := range spans {
		b.WriteString(t[last:sp.from])
		b.WriteString(Mark)
		last = sp.to
	}
	b.WriteString(t[last:])
	return b.String()
}

// Bytes is String for a byte slice; it returns b itself when nothing is
// redacted.
func (s *Set) Bytes(b []byte) []byte {
	spans := s.find(string(b))
	if len(spans) == 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	last := 0
	for _, sp := range spans {
		out = append(out, b[last:sp.from]...)
		out = append(out, Mark...)
		last = sp.to
	}
	return append(out, b[last:]...)
}

type span struct{ from, to int }

// find returns the sorted, merged spans of t to redact.
func (s *Set) find(t string) []span {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.secrets) == 0 {
		return nil
	}
	var spans []span
	for n, set := range s.short {
		for i := 0; i+n <= len(t); i++ {
			if set[t[i:i+n]] {
				spans = append(spans, span{i, i + n})
			}
		}
	}
	if len(s.entries) > 0 {
		for i := 0; i+gram <= len(t); i++ {
			head, ok := s.index[binary.LittleEndian.Uint64([]byte(t[i:i+gram]))]
			if !ok {
				continue
			}
			for e := head; e >= 0; e = s.entries[e].next {
				v, off := s.variants[s.entries[e].variant], int(s.entries[e].off)
				if t[i:i+gram] != v[off:off+gram] {
					continue
				}
				l := 0
				for i-l > 0 && off-l > 0 && t[i-l-1] == v[off-l-1] {
					l++
				}
				r := gram
				for i+r < len(t) && off+r < len(v) && t[i+r] == v[off+r] {
					r++
				}
				if l+r >= Fragment {
					spans = append(spans, span{i - l, i + r})
				}
			}
		}
	}
	if len(spans) == 0 {
		return nil
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		if last := &merged[len(merged)-1]; sp.from <= last.to {
			last.to = max(last.to, sp.to)
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

// Writer returns a writer that redacts every Write before passing it to
// w. It reports len(p) written when w took the whole redacted text.
func (s *Set) Writer(w io.Writer) io.Writer { return &writer{s: s, w: w} }

type writer struct {
	s *Set
	w io.Writer
}

func (w *writer) Write(p []byte) (int, error) {
	out := w.s.Bytes(p)
	if _, err := w.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Unwrap returns the writer redacted output goes to (callers ask it
// whether it is a terminal).
func (w *writer) Unwrap() io.Writer { return w.w }
