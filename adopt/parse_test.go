package adopt

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseNginx(t *testing.T) {
	for _, tc := range []struct {
		name    string
		conf    string
		want    []Vhost
		wantErr string
	}{
		{
			name: "static",
			conf: "# hand-made\nserver {\n  listen 80;\n  server_name a.example.com www.a.example.com;\n  root /srv/a;\n  index index.html;\n  location / { try_files $uri $uri/ =404; }\n}\n",
			want: []Vhost{{File: "f", Line: 2, Listen: []string{"80"}, Names: []string{"a.example.com", "www.a.example.com"}, Root: "/srv/a"}},
		},
		{
			name: "php through a socket",
			conf: `server {
	listen 127.0.0.1:8080;
	server_name shop.example.com;
	root "/srv/shop/public";
	client_max_body_size 64m;
	location / { try_files $uri $uri/ /index.php?$args; }
	location ~ \.php$ {
		include snippets/fastcgi-php.conf;
		fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
		fastcgi_pass unix:/run/php/shop.sock;
	}
	location ~ /\.ht { deny all; }
}`,
			want: []Vhost{{File: "f", Line: 1, Listen: []string{"127.0.0.1:8080"}, Names: []string{"shop.example.com"}, Root: "/srv/shop/public", PHP: "/run/php/shop.sock", MaxBody: "64m"}},
		},
		{
			name: "two servers, one with what berth cannot express",
			conf: "server { server_name a.test; root /a; }\nserver {\n server_name b.test;\n root /b;\n rewrite ^/old /new permanent;\n location /api { proxy_pass http://127.0.0.1:9000; }\n}\n",
			want: []Vhost{
				{File: "f", Line: 1, Names: []string{"a.test"}, Root: "/a"},
				{File: "f", Line: 2, Names: []string{"b.test"}, Root: "/b", Unknown: []string{"rewrite ^/old /new permanent (line 5)", "location /api (line 6)"}},
			},
		},
		{
			name: "a second php location is not guessed",
			conf: "server { server_name a.test; root /a; location ~ \\.php$ { fastcgi_pass unix:/x.sock; } location ~ [^/]\\.php(/|$) { fastcgi_pass unix:/y.sock; } }",
			want: []Vhost{{File: "f", Line: 1, Names: []string{"a.test"}, Root: "/a", PHP: "/x.sock", Unknown: []string{`location ~ [^/]\.php(/|$) (line 1)`}}},
		},
		{
			name: "outside a server block",
			conf: "upstream app { server 127.0.0.1:9000; }\n",
			want: []Vhost{{File: "f", Line: 1, Unknown: []string{"upstream outside a server block (line 1)"}}},
		},
		{
			name: "quotes and escapes",
			conf: `server { server_name 'q.test'; root "/srv/with space"; add_header X-A "a;b{c}"; }`,
			want: []Vhost{{File: "f", Line: 1, Names: []string{"q.test"}, Root: "/srv/with space", Unknown: []string{"add_header X-A a;b{c} (line 1)"}}},
		},
		{name: "unclosed block", conf: "server {\n root /a;\n", wantErr: "not closed"},
		{name: "stray brace", conf: "server { root /a; }\n}\n", wantErr: "f:2: unexpected }"},
		{name: "no semicolon", conf: "server { root /a }", wantErr: "not ended"},
		{name: "unterminated quote", conf: "server { root \"/a; }", wantErr: "unterminated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseNginx("f", []byte(tc.conf))
			checkParse(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func TestParseApache(t *testing.T) {
	for _, tc := range []struct {
		name    string
		conf    string
		want    []Vhost
		wantErr string
	}{
		{
			name: "static",
			conf: "<VirtualHost *:80>\n  ServerName a.example.com\n  ServerAlias www.a.example.com old.example.com\n  DocumentRoot /var/www/a\n  <Directory /var/www/a>\n    Require all granted\n    AllowOverride None\n  </Directory>\n</VirtualHost>\n",
			want: []Vhost{{File: "f", Line: 1, Listen: []string{"*:80"}, Names: []string{"a.example.com", "www.a.example.com", "old.example.com"}, Root: "/var/www/a"}},
		},
		{
			name: "php through proxy_fcgi, alias before name",
			conf: "<VirtualHost 127.0.0.1:8080>\nServerAlias www.b.test\nServerName b.test\nDocumentRoot \"/srv/b\"\nDirectoryIndex index.php\n<FilesMatch \\.php$>\n  SetHandler \"proxy:unix:/run/php/b.sock|fcgi://localhost\"\n</FilesMatch>\n</VirtualHost>\n",
			want: []Vhost{{File: "f", Line: 1, Listen: []string{"127.0.0.1:8080"}, Names: []string{"b.test", "www.b.test"}, Root: "/srv/b", PHP: "/run/php/b.sock"}},
		},
		{
			name: "what berth cannot express",
			conf: "<VirtualHost *:80>\nServerName c.test\nDocumentRoot /c\nRewriteEngine on\n<Location /admin>\nRequire ip 10.0.0.0/8\n</Location>\n</VirtualHost>\n",
			want: []Vhost{{File: "f", Line: 1, Listen: []string{"*:80"}, Names: []string{"c.test"}, Root: "/c",
				Unknown: []string{"RewriteEngine on (line 4)", "<Location /admin> (line 5)", "Require ip 10.0.0.0/8 (line 6)"}}},
		},
		{
			name: "outside a VirtualHost",
			conf: "Listen 8080\n",
			want: []Vhost{{File: "f", Line: 1, Unknown: []string{"Listen outside a VirtualHost (line 1)"}}},
		},
		{name: "unclosed", conf: "<VirtualHost *:80>\nServerName a.test\n", wantErr: "not closed"},
		{name: "mismatched section", conf: "<VirtualHost *:80>\n<Directory /a>\n</Files>\n</VirtualHost>\n", wantErr: "unexpected </Files>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseApache("f", []byte(tc.conf))
			checkParse(t, got, err, tc.want, tc.wantErr)
		})
	}
}

func checkParse(t *testing.T, got []Vhost, err error, want []Vhost, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error %v, want one saying %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestParsePools(t *testing.T) {
	for _, tc := range []struct {
		name    string
		conf    string
		want    []Pool
		wantErr string
	}{
		{
			name: "two pools and global",
			conf: "; comment\n[global]\nerror_log = /var/log/fpm.log\n[www]\nuser = www-data\nlisten = /run/php/php8.2-fpm.sock\n\n[shop]\nuser = shop\nlisten = \"/run/php/$pool.sock\"\n",
			want: []Pool{{File: "f", Line: 4, Name: "www", User: "www-data", Listen: "/run/php/php8.2-fpm.sock"}, {File: "f", Line: 8, Name: "shop", User: "shop", Listen: "/run/php/shop.sock"}},
		},
		{
			name: "tcp listen",
			conf: "[api]\nlisten = 127.0.0.1:9001\n",
			want: []Pool{{File: "f", Line: 1, Name: "api", Listen: "127.0.0.1:9001"}},
		},
		{name: "broken section", conf: "[www\nlisten = x\n", wantErr: "f:1: a section"},
		{name: "not key = value", conf: "[www]\nlisten\n", wantErr: "f:2: want key = value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePools("f", []byte(tc.conf))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
