package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
)

// Each helper starts its program for real and the program answers.
func TestServices(t *testing.T) {
	get := func(t *testing.T, c *http.Client, url string) (int, string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"nginx", func(t *testing.T) {
			n := Nginx(t)
			if code, _ := get(t, http.DefaultClient, "http://"+n.Addr+"/"); code != 404 {
				t.Fatalf("default server answered %d, want 404", code)
			}
			if err := n.Test(); err != nil {
				t.Fatal(err)
			}
			if err := n.Reload(); err != nil {
				t.Fatal(err)
			}
		}},
		{"apache2", func(t *testing.T) {
			a := Apache(t)
			if code, body := get(t, http.DefaultClient, "http://"+a.Addr+"/"); code != 200 || body != "berth test apache\n" {
				t.Fatalf("GET / = %d %q", code, body)
			}
		}},
		{"php-fpm", func(t *testing.T) {
			p := PHPFPM(t)
			c, err := net.Dial("unix", p.Socket)
			if err != nil {
				t.Fatalf("php-fpm socket: %v", err)
			}
			c.Close()
		}},
		{"mariadb", func(t *testing.T) {
			m := MariaDB(t)
			if got := strings.TrimSpace(m.SQL(t, "SELECT 1+1")); got != "2" {
				t.Fatalf("SELECT 1+1 = %q", got)
			}
		}},
		{"postgres", func(t *testing.T) {
			p := Postgres(t)
			if got := strings.TrimSpace(p.SQL(t, "SELECT 1+1")); got != "2" {
				t.Fatalf("SELECT 1+1 = %q", got)
			}
		}},
		{"bind", func(t *testing.T) {
			b := BIND(t, map[string]string{"example.test": `$TTL 60
@ IN SOA ns1.example.test. hostmaster.example.test. 1 60 60 600 60
@ IN NS ns1.example.test.
ns1 IN A 127.0.0.1
www IN A 192.0.2.80
`})
			if got, err := b.Dig("www.example.test", "A"); err != nil || got != "192.0.2.80" {
				t.Fatalf("dig www.example.test = %q, %v", got, err)
			}
			if _, err := b.RNDC("status"); err != nil {
				t.Fatal(err)
			}
		}},
		{"pebble", func(t *testing.T) {
			p := Pebble(t, PebbleOptions{AlwaysValid: true})
			pem, err := os.ReadFile(p.CACertFile)
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pem)
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			if code, body := get(t, c, p.DirectoryURL); code != 200 || !strings.Contains(body, "newNonce") {
				t.Fatalf("GET %s = %d %q", p.DirectoryURL, code, body)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

func TestHostsReachableAndCleanedUp(t *testing.T) {
	var names []string
	t.Run("up", func(t *testing.T) {
		for _, h := range Hosts(t, 2) {
			names = append(names, h.Netns)
			c, err := net.Dial("tcp", h.SSH.Addr)
			if err != nil {
				t.Fatalf("host %s: %v", h.IP, err)
			}
			c.Close()
		}
	})
	list := run(t, "ip", "netns", "list")
	for _, n := range names {
		if strings.Contains(list, n) {
			t.Errorf("namespace %s survived its test", n)
		}
	}
}
