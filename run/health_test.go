package run

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berthhq/berth/spec"
)

// CheckNodes asks each node with the site's Host and path and compares
// the status with the site's expected one (any 2xx or 3xx by default);
// a node that does not answer is Degraded with the connection's error.
func TestCheckNodes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Host + r.URL.Path {
		case "ok.example.com/":
			w.WriteHeader(200)
		case "moved.example.com/":
			http.Redirect(w, r, "http://elsewhere.example.com/", http.StatusMovedPermanently)
		case "up.example.com/up":
			w.WriteHeader(204)
		default:
			w.WriteHeader(500)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	closed := httptest.NewServer(http.NotFoundHandler())
	_, deadPort, _ := net.SplitHostPort(closed.Listener.Addr().String())
	closed.Close()
	res := &spec.Resolved{Servers: []spec.ResolvedServer{
		{Name: "web1", Address: "127.0.0.1", HTTP: &spec.ResolvedHTTP{Listen: port}},
		{Name: "web2", Address: "127.0.0.1", HTTP: &spec.ResolvedHTTP{Listen: deadPort}, Drain: true},
	}}
	tests := []struct {
		domain string
		health spec.Health
		want   string // web1's health and why
	}{
		{"ok.example.com", spec.Health{Path: "/"}, "Healthy"},
		{"moved.example.com", spec.Health{Path: "/"}, "Healthy"},
		{"up.example.com", spec.Health{Path: "/up", Status: 204}, "Healthy"},
		{"ok.example.com", spec.Health{Path: "/", Status: 204}, "Degraded GET / answered 200 OK, want 204"},
		{"broken.example.com", spec.Health{Path: "/"}, "Degraded GET / answered 500 Internal Server Error, want 2xx or 3xx"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			r := *res
			r.Sites = []spec.ResolvedSite{{Domain: tt.domain, Servers: []string{"web1", "web2"}, Health: tt.health}}
			got := CheckNodes(context.Background(), &r)
			if len(got) != 2 || got[0].Server != "web1" || got[1].Server != "web2" {
				t.Fatalf("CheckNodes: %+v", got)
			}
			if s := strings.TrimSpace(got[0].Health + " " + got[0].Why); s != tt.want {
				t.Errorf("web1: %q, want %q", s, tt.want)
			}
			if got[1].Health != HealthDegraded || !strings.Contains(got[1].Why, "no answer") || !got[1].Drained || got[1].Status != 0 {
				t.Errorf("web2 (not listening, drained): %+v", got[1])
			}
		})
	}
}
