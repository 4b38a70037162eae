package render

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/internal/testenv"
)

// apacheModules loads, in the test harness, the modules berth's
// VirtualHosts need besides those the harness loads itself (see doc.go).
var apacheModules = []string{
	"alias", "headers", "auth_basic", "authn_core", "authn_file", "authz_user", "proxy", "proxy_fcgi", "remoteip", "setenvif", "socache_shmcb", "ssl",
}

func apacheModulesConf() string {
	var b strings.Builder
	for _, m := range apacheModules {
		fmt.Fprintf(&b, "LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so\n", m, m)
	}
	return b.String()
}

// configsByServer groups a golden case's rendered files by server and
// service: every vhost and every pool, byte for byte as berth writes them.
func configsByServer(gc *goldenCase) map[string]map[string][]File {
	out := map[string]map[string][]File{}
	for _, r := range gc.out {
		if out[r.srv.Name] == nil {
			out[r.srv.Name] = map[string][]File{}
		}
		// The cert_dir entry is always there: the web server's, else the
		// load balancer's.
		cert := ""
		switch {
		case r.srv.HTTP != nil:
			cert = r.srv.HTTP.CertDir
		case r.srv.LB != nil:
			cert = r.srv.LB.CertDir
		}
		out[r.srv.Name]["cert_dir"] = []File{{Path: cert}}
		for _, f := range r.files {
			if f.Service == "" {
				continue
			}
			svc := f.Service
			switch {
			case svc == ServiceHTTP:
				svc = r.srv.HTTP.Type
			case svc == ServiceLB:
				svc = "nginx"
			default:
				svc = "php-fpm"
			}
			out[r.srv.Name][svc] = append(out[r.srv.Name][svc], f)
		}
	}
	return out
}

// withTestCerts returns files with every certificate path of srv's
// cert_dir moved into dir, where a self-signed certificate and key are
// written under each name: the checkers load the files a TLS vhost names.
func withTestCerts(t *testing.T, dir, certDir string, files []File) []File {
	t.Helper()
	if certDir == "" {
		return files
	}
	re := regexp.MustCompile(regexp.QuoteMeta(certDir) + `/([^"/]+)\.(crt|key)"`)
	out := make([]File, len(files))
	for i, f := range files {
		for _, m := range re.FindAllStringSubmatch(string(f.Content), -1) {
			name := filepath.Join(dir, m[1]+"."+m[2])
			data := testCertPEM
			if m[2] == "key" {
				data = testKeyPEM
			}
			if err := os.WriteFile(name, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		f.Content = []byte(strings.ReplaceAll(string(f.Content), certDir+"/", dir+"/"))
		out[i] = f
	}
	return out
}

// testCertPEM and testKeyPEM are a self-signed certificate and its key,
// made once per test binary.
var testCertPEM, testKeyPEM = func() ([]byte, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "berth golden"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}()

// replaceConfigs empties dir of *.conf files and writes files into it
// under their base names.
func replaceConfigs(t *testing.T, dir string, files []File, extra map[string]string) {
	t.Helper()
	old, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	for _, o := range old {
		if err := os.Remove(o); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, path.Base(f.Path)), f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGoldenRealCheckers runs the real nginx -t, apache2 -t and php-fpm -t
// over every vhost and pool of every golden file, as rendered.
func TestGoldenRealCheckers(t *testing.T) {
	cases := loadAllGolden(t)
	certs := t.TempDir()
	var nginxN, apacheN, poolN int
	t.Run("nginx", func(t *testing.T) {
		n := testenv.Nginx(t)
		for _, gc := range cases {
			for srv, bySvc := range configsByServer(gc) {
				if len(bySvc["nginx"]) == 0 {
					continue
				}
				replaceConfigs(t, n.SitesDir, withTestCerts(t, certs, bySvc["cert_dir"][0].Path, bySvc["nginx"]), nil)
				if err := n.Test(); err != nil {
					t.Errorf("%s, server %s: %v", gc.file, srv, err)
				}
				nginxN += len(bySvc["nginx"])
			}
		}
		replaceConfigs(t, n.SitesDir, nil, nil)
	})
	t.Run("apache2", func(t *testing.T) {
		a := testenv.Apache(t)
		for _, gc := range cases {
			for srv, bySvc := range configsByServer(gc) {
				if len(bySvc["apache"]) == 0 {
					continue
				}
				replaceConfigs(t, a.SitesDir, withTestCerts(t, certs, bySvc["cert_dir"][0].Path, bySvc["apache"]), map[string]string{"00-berth-modules.conf": apacheModulesConf()})
				if err := a.Test(); err != nil {
					t.Errorf("%s, server %s: %v", gc.file, srv, err)
				}
				apacheN += len(bySvc["apache"])
			}
		}
		replaceConfigs(t, a.SitesDir, nil, nil)
	})
	t.Run("php-fpm", func(t *testing.T) {
		testenv.PHPFPM(t) // installs php-fpm when it is missing
		bin, err := exec.LookPath("php-fpm8.2")
		if err != nil {
			t.Fatal(err)
		}
		d := t.TempDir()
		pools := filepath.Join(d, "pool.d")
		if err := os.Mkdir(pools, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(d, "php-fpm.conf")
		global := fmt.Sprintf("[global]\npid = %[1]s/php-fpm.pid\nerror_log = %[1]s/php-fpm.log\ninclude = %[2]s/*.conf\n", d, pools)
		if err := os.WriteFile(cfg, []byte(global), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, gc := range cases {
			for srv, bySvc := range configsByServer(gc) {
				if len(bySvc["php-fpm"]) == 0 {
					continue
				}
				// Pools of every PHP version are checked by php-fpm 8.2: the
				// pool syntax berth writes is the same for all of them.
				for _, f := range bySvc["php-fpm"] {
					for _, l := range strings.Split(string(f.Content), "\n") {
						if u, ok := strings.CutPrefix(l, "user = "); ok {
							ensureUser(t, u) // php-fpm -t looks the pool's user up
						}
					}
				}
				replaceConfigs(t, pools, bySvc["php-fpm"], nil)
				if out, err := exec.Command(bin, "-t", "-y", cfg).CombinedOutput(); err != nil {
					t.Errorf("%s, server %s: php-fpm -t: %v\n%s", gc.file, srv, err, out)
				}
				poolN += len(bySvc["php-fpm"])
			}
		}
	})
	t.Logf("checked %d nginx vhosts, %d apache vhosts, %d php-fpm pools", nginxN, apacheN, poolN)
	if nginxN < 10 || apacheN < 10 || poolN < 10 {
		t.Errorf("too few configs checked: %d nginx, %d apache, %d pools", nginxN, apacheN, poolN)
	}
}
