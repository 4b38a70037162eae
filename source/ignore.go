package source

import "strings"

// Ignored reports whether a file or directory named name is left out of a
// Dir's revision and of Watch on a plain directory: the .git directory and
// the temporary and backup files of editors — vim (*.swp, *.swx, *.swo,
// 4913), emacs (*~, .#*, #*#), and *.tmp.
func Ignored(name string) bool {
	switch {
	case name == ".git", name == "4913":
		return true
	case strings.HasSuffix(name, "~"), strings.HasPrefix(name, ".#"),
		strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"):
		return true
	}
	for _, ext := range []string{".swp", ".swx", ".swo", ".tmp"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}
