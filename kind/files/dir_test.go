package files

import "testing"

func TestInSiteDir(t *testing.T) {
	for p, want := range map[string]bool{
		"/var/www/sites/a.example.com":       true,
		"/var/www/sites/a.example.com/files": true,
		"/var/www/sites":                     false,
		"/var/www/sites/b.example.com":       false,
		"/sites/a.example.com":               false,
		"/var/www/sites/a.example.com/../x":  false,
		"var/www/sites/a.example.com":        false,
		"/var/www/platforms/a.example.com":   false,
	} {
		if got := inSiteDir(p, "a.example.com"); got != want {
			t.Errorf("inSiteDir(%s) = %v, want %v", p, got, want)
		}
	}
}
