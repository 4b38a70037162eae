package lb

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// HealthTimeout bounds one health check of a site on one web server.
const HealthTimeout = 5 * time.Second

var healthClient = &http.Client{
	Timeout:       HealthTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

// Probe is the health check of a site on one of its web servers, what a
// load balancer's web servers are judged by (a roll's, and berth status
// --observe's): GET path with domain as Host, straight to address (the
// server's host:port, not through its load balancer), redirects not
// followed. It returns the status answered and whether it is want (any
// 2xx or 3xx when want is 0); err when nothing answered.
func Probe(ctx context.Context, address, domain, path string, want int) (status int, ok bool, err error) {
	if address == "" {
		return 0, false, fmt.Errorf("the server's http listen address is not known")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+address+path, nil)
	if err != nil {
		return 0, false, err
	}
	req.Host = domain
	resp, err := healthClient.Do(req)
	if err != nil {
		return 0, false, fmt.Errorf("no answer: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if want != 0 {
		return resp.StatusCode, resp.StatusCode == want, nil
	}
	return resp.StatusCode, resp.StatusCode >= 200 && resp.StatusCode < 400, nil
}

// Want says which status a health check expects: "204", or "2xx or 3xx"
// for 0.
func Want(status int) string {
	if status == 0 {
		return "2xx or 3xx"
	}
	return fmt.Sprint(status)
}

// Healthy is Probe as a release.HealthCheck: an error names the URL and
// what it answered ("http://example.com/ answered 500 Internal Server
// Error, want 2xx or 3xx").
func Healthy(ctx context.Context, address, domain, path string, want int) error {
	status, ok, err := Probe(ctx, address, domain, path, want)
	url := "http://" + domain + path
	switch {
	case err != nil:
		return fmt.Errorf("%s on %s: %w", url, address, err)
	case !ok:
		return fmt.Errorf("%s answered %d %s, want %s", url, status, http.StatusText(status), Want(want))
	}
	return nil
}
