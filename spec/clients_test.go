package spec

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

func TestClients(t *testing.T) {
	base := func(clients, siteClient string) fstest.MapFS {
		return fstest.MapFS{
			"berth.yaml":        {Data: []byte("environments:\n  production: { branch: main }\nclients:\n" + clients)},
			"servers/web.yaml":  {Data: []byte("kind: Server\nname: web\naddress: local\nservices:\n  http: { type: nginx }\n")},
			"platforms/st.yaml": {Data: []byte("kind: Platform\nname: st\ntype: static\nsource: { path: code }\nservers: [web]\n")},
			"code/index.html":   {Data: []byte("hi\n")},
			"brand/logo.svg":    {Data: []byte("<svg/>")},
			"brand/big.png":     {Data: make([]byte, MaxLogo+1)},
			"brand/logo.txt":    {Data: []byte("x")},
			"sites/a.yaml":      {Data: []byte("kind: Site\nname: a.example.com\nplatform: st\n" + siteClient)},
		}
	}
	for _, tc := range []struct {
		name, clients, site, want string
	}{
		{"valid", "  acme:\n    name: ACME Corp\n    hostname: panel.acme.example\n    logo: brand/logo.svg\n    colors: { primary: \"#0b5cad\" }\n", "client: acme\n", ""},
		{"unknown client", "  acme: { name: ACME }\n", "client: acne\n", `sites/a.yaml:4:9: site "a.example.com": client "acne" is not declared in berth.yaml's clients (did you mean "acme"?)`},
		{"missing logo", "  acme: { name: ACME, logo: brand/nope.png }\n", "", `logo "brand/nope.png": no such file in the sites repo`},
		{"big logo", "  acme: { name: ACME, logo: brand/big.png }\n", "", "at most 262144"},
		{"not an image", "  acme: { name: ACME, logo: brand/logo.txt }\n", "", "not a .png, .jpg, .webp or .svg file"},
		{"bad colour", "  acme: { name: ACME, colors: { primary: \"red;}body{x\" } }\n", "", "colors.primary"},
		{"shared hostname", "  a: { name: A, hostname: p.example.com }\n  b: { name: B, hostname: p.example.com }\n", "", `hostname "p.example.com" is already client "a"'s dashboard`},
	} {
		_, err := Load(base(tc.clients, tc.site))
		var ps Problems
		errors.As(err, &ps)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}
