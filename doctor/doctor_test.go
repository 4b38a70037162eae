package doctor

import (
	"net"
	"strings"
	"testing"

	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/spec"
)

// Check on this machine: GNU find passes, a missing service command and
// a directory under a read-only parent fail with their fixes, and the web
// server's port held by another program (this test) fails naming it.
func TestCheckLocal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	srv := spec.ResolvedServer{Name: "local", Address: "local", HTTP: &spec.ResolvedHTTP{
		Type: "nginx", Listen: ln.Addr().String(), ConfDir: dir + "/sites", WebRoot: "/etc/hostname/www",
		Test: []string{"berth-no-such-nginx", "-t"}, Reload: []string{"nginx", "-s", "reload"},
	}}
	got := Check(t.Context(), local.New(), srv, nil)
	var lines []string
	for _, f := range got {
		lines = append(lines, f.String())
	}
	text := strings.Join(lines, "\n")
	t.Log(text)
	for _, want := range []string{
		"local: ok   find: GNU find 4.",
		"local: fail command: berth-no-such-nginx not found on the PATH (nginx's config test) — install nginx or fix services.http.test/reload",
		"local: ok   dir: " + dir + "/sites will be created",
		"local: fail dir: /etc/hostname/www cannot be created: /etc/hostname is not a directory root may write",
		"is held by doctor.test, not nginx — stop doctor.test or give services.http.listen another port",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("findings lack %q", want)
		}
	}
}
