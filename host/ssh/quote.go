package ssh

import "strings"

// quote returns s as one word for a POSIX shell. Words made only of
// characters that no shell treats specially are left as they are; anything
// else is wrapped in single quotes, inside which the shell interprets
// nothing — not $, `, \, ;, newlines — and a single quote itself is written
// as '"'"'.
func quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("_./:@%+,-", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// join quotes every element of argv and joins them with spaces: the
// command line the remote shell splits back into exactly argv.
func join(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quote(a))
	}
	return b.String()
}
