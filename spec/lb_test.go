package spec

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// lbBase is a cluster: platform app on web2 and web3 behind lb1.
var lbBase = map[string]string{
	"servers/cluster.yaml": `kind: Server
name: lb1
address: 192.0.2.5
services:
  lb: { type: nginx }
---
kind: Server
name: web2
address: 192.0.2.12
services:
  http: { type: nginx }
---
kind: Server
name: web3
address: 192.0.2.13
drain: true
services:
  http: { type: nginx, listen: "192.0.2.113:8080" }
`,
	"platforms/app.yaml": "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web2, web3]\nlb: lb1\n",
	"sites/b.yaml":       "kind: Site\nname: b.example.com\nplatform: app\naliases: [www.b.example.com]\nhealth: { path: /up, status: 204 }\n",
}

func lbFiles(extra map[string]string) map[string]string {
	files := map[string]string{}
	for k, v := range lbBase {
		files[k] = v
	}
	for k, v := range extra {
		files[k] = v
	}
	return files
}

func TestLBProblems(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "lb names a missing server",
			files: map[string]string{"platforms/app.yaml": "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web2]\nlb: lb2\n"},
			want:  []string{`platforms/app.yaml:6:5: platform "app": server "lb2" does not exist (did you mean "lb1"?)`},
		},
		{
			name:  "lb names a server without an lb service",
			files: map[string]string{"platforms/app.yaml": "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web2]\nlb: web3\n"},
			want:  []string{`platforms/app.yaml:6:5: platform "app": server "web3" has no lb service (servers/cluster.yaml:18:3)`},
		},
		{
			name: "an LB whose address is a host name needs a source",
			files: map[string]string{"servers/lb.yaml": "kind: Server\nname: lb9\naddress: lb9.example.net\nservices:\n  lb: { type: nginx }\n",
				"platforms/app.yaml": "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web2]\nlb: lb9\n"},
			want: []string{`servers/lb.yaml:5:3: server "lb9": address "lb9.example.net" is not an IP address: set services.lb.source to the IP address the load balancer's requests reach the web servers from, the only one they trust X-Forwarded-For from`},
		},
		{
			name:  "a source that is not an IP address",
			files: map[string]string{"servers/lb.yaml": "kind: Server\nname: lb9\naddress: lb9.example.net\nservices:\n  lb: { type: nginx, source: \"10.0.0.5;\" }\n"},
			want:  []string{`servers/lb.yaml:5:30: server "lb9": services.lb.source: "10.0.0.5;" is not an IP address; allowed: an IPv4 address (203.0.113.10) or an IPv6 address (2001:db8::10), without zone`},
		},
		{
			name:  "a relative conf_dir on a remote LB",
			files: map[string]string{"servers/lb.yaml": "kind: Server\nname: lb9\naddress: 192.0.2.9\nservices:\n  lb: { type: nginx, conf_dir: lb/conf.d }\n"},
			want:  []string{`servers/lb.yaml:5:32: server "lb9": "lb/conf.d" must be absolute (relative paths are allowed on a local server only, under berth's state directory)`},
		},
		{
			name:  "a local web server behind a remote LB",
			files: map[string]string{"platforms/app.yaml": "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web2, web1]\nlb: lb1\n"},
			want:  []string{`platforms/app.yaml:5:17: platform "app": server "web1" has address local, which load balancer "lb1" cannot reach: give it its network address`},
		},
		{
			name:  "drain on a server that is no web server",
			files: map[string]string{"servers/lb.yaml": "kind: Server\nname: lb9\naddress: 192.0.2.9\ndrain: true\nservices:\n  lb: { type: nginx }\n"},
			want:  []string{`servers/lb.yaml:4:1: server "lb9": drain takes a web server out of its load balancers, and this server has no http service`},
		},
		{
			name:  "the LB is not in an environment of the platform",
			files: map[string]string{"servers/lb.yaml": "kind: Server\nname: lb9\naddress: 192.0.2.9\nenvironments: [staging]\nservices:\n  lb: { type: nginx }\n", "platforms/app.yaml": "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web2]\nlb: lb9\n"},
			want:  []string{`platforms/app.yaml:6:5: platform "app": load balancer "lb9" is not in environment "production", where the platform is; add the server there or limit the platform's environments`},
		},
		{
			name: "two environments with one domain_suffix on one load balancer",
			files: map[string]string{"berth.yaml": "environments:\n  production: { branch: main }\n  staging: { branch: staging, domain_suffix: .staging.example.net }\n  preview: { branch: preview }\n",
				"servers/cluster.yaml": "kind: Server\nname: lb1\naddress: 192.0.2.5\nservices:\n  lb: { type: nginx }\n---\nkind: Server\nname: web2\naddress: 192.0.2.12\nenvironments: [production, staging]\nservices:\n  http: { type: nginx }\n---\nkind: Server\nname: web3\naddress: 192.0.2.13\nenvironments: [preview]\nservices:\n  http: { type: nginx }\n",
				"platforms/app.yaml":   "kind: Platform\nname: app\ntype: static\nsource: { path: code }\nservers: [web2, web3]\nlb: lb1\n",
				"sites/a.yaml":         "kind: Site\nname: a.example.com\nplatform: php-app\nenvironments: [production]\n"},
			want: []string{`sites/b.yaml:2:7: site "b.example.com": environments "preview" and "production" both put this site on load balancer lb1 under the same name (same domain_suffix ""): give one of them its own domain_suffix in berth.yaml, or limit the site or the load balancer to one of them with environments:`},
		},
		{
			name: "a site with tls.acme behind a load balancer without tls_listen",
			files: map[string]string{"berth.yaml": "environments:\n  production: { branch: main, acme: { directory: letsencrypt, email: ops@example.com } }\n",
				"sites/b.yaml": "kind: Site\nname: b.example.com\nplatform: app\ntls: { acme: true }\n"},
			want: []string{`servers/cluster.yaml:5:3: server "lb1": the load balancer serves site "b.example.com" with tls.acme, and TLS terminates on it, but its lb service has no tls_listen: add tls_listen: 443 to services.lb (and cert_dir if /etc/ssl/berth does not suit), or set tls: { acme: false } for them`},
		},
		{
			name:  "an LB's tls_listen on its plain listen",
			files: map[string]string{"servers/lb.yaml": "kind: Server\nname: lb9\naddress: 192.0.2.9\nservices:\n  lb: { type: nginx, listen: 8080, tls_listen: \"192.0.2.9:8080\" }\n"},
			want:  []string{`servers/lb.yaml:5:48: server "lb9": tls_listen "192.0.2.9:8080" is the plain HTTP listen "8080" too: give HTTPS a port of its own (443)`},
		},
		{
			name:  "a relative cert_dir on a remote LB",
			files: map[string]string{"servers/lb.yaml": "kind: Server\nname: lb9\naddress: 192.0.2.9\nservices:\n  lb: { type: nginx, tls_listen: 443, cert_dir: certs }\n"},
			want:  []string{`servers/lb.yaml:5:49: server "lb9": "certs" must be absolute (relative paths are allowed on a local server only, under berth's state directory)`},
		},
		{
			name:  "a health status out of range",
			files: map[string]string{"sites/b.yaml": "kind: Site\nname: b.example.com\nplatform: app\nhealth: { status: 99 }\n"},
			want:  []string{`sites/b.yaml:4:19: site "b.example.com": health.status: 99 is less than the minimum 100`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(repoFS(lbFiles(tt.files)))
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("Load: got %v, want problems", err)
			}
			var got []string
			for _, p := range problems {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(tt.want, "\n      "))
			}
		})
	}
}

// A cluster resolves with its load balancer: the platform and its sites
// name it, the LB's defaults are applied, the drained server is marked,
// node addresses come from the http listen (else the server's address),
// and the site's DNS records point at the LB, not the nodes.
func TestResolveLB(t *testing.T) {
	files := lbFiles(map[string]string{
		"sites/b.yaml": "kind: Site\nname: b.example.com\nplatform: app\nhealth: { path: /up, status: 204 }\ndns: {}\n",
		"zones/example.com.yaml": `kind: Zone
name: example.com
contact: hostmaster@example.com
ns: [ns1.example.net]
primary: ns1
`,
	})
	r, err := Load(repoFS(files))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Resolve(r, "production")
	if err != nil {
		t.Fatal(err)
	}
	servers := map[string]ResolvedServer{}
	for _, s := range res.Servers {
		servers[s.Name] = s
	}
	lb := servers["lb1"].LB
	if lb == nil || lb.Listen != "80" || lb.ConfDir != "/etc/nginx/conf.d" || lb.Source != "192.0.2.5" ||
		lb.PIDFile != "/run/nginx.pid" || lb.TLSListen != "" || lb.CertDir != "/etc/ssl/berth" || lb.ACMEDir != "/var/lib/berth/acme" || lb.MaxFails != DefaultLBMaxFails || lb.FailTimeout != DefaultLBFailTimeout {
		t.Errorf("lb1's load balancer resolved to %+v", lb)
	}
	if !servers["web3"].Drain || servers["web2"].Drain {
		t.Errorf("drain: web2 %v, web3 %v; want only web3", servers["web2"].Drain, servers["web3"].Drain)
	}
	web2, web3 := servers["web2"], servers["web3"]
	if a, b := NodeAddress(&web2), NodeAddress(&web3); a != "192.0.2.12:80" || b != "192.0.2.113:8080" {
		t.Errorf("node addresses %s, %s; want 192.0.2.12:80, 192.0.2.113:8080", a, b)
	}
	var site *ResolvedSite
	for i := range res.Sites {
		if res.Sites[i].Name == "b.example.com" {
			site = &res.Sites[i]
		}
	}
	if site == nil || site.LB == nil || site.LB.Server != "lb1" || site.LB.From != "192.0.2.5" || site.Health != (Health{Path: "/up", Status: 204}) {
		t.Fatalf("site b.example.com resolved to %+v", site)
	}
	var published []string
	for _, z := range res.Zones {
		for _, rec := range z.Records {
			if rec.Site == "b.example.com" {
				published = append(published, rec.String())
			}
		}
	}
	if want := []string{"b.example.com. 3600 IN A 192.0.2.5"}; !slices.Equal(published, want) {
		t.Errorf("b.example.com is published as %q, want %q (the load balancer)", published, want)
	}
}
