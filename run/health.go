package run

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/berthhq/berth/spec"
)

// NodeHealth is the answer of one site on one of its web servers to a
// real HTTP request: GET of the site's health path with the site's name
// as Host, sent straight to the server's http listen address (not through
// its load balancer), redirects not followed.
type NodeHealth struct {
	Site    string `json:"site"`
	Server  string `json:"server"`
	Address string `json:"address"`
	// Status is the HTTP status answered, 0 when none was.
	Status int `json:"status,omitempty"`
	// Health is Healthy when Status is the site's expected one (any 2xx
	// or 3xx by default), else Degraded, with Why.
	Health string `json:"health"`
	Why    string `json:"why,omitempty"`
	// Drained is set when the server is drained out of its load
	// balancers.
	Drained bool `json:"drained,omitempty"`
}

// HealthTimeout bounds one node's health check.
const HealthTimeout = 5 * time.Second

// CheckNodes checks every site of res on every one of its web servers,
// several at once, and returns the answers in site then server order.
// The requests go from this machine to each server's http listen address
// (spec.NodeAddress), so they need a route to it; a server berth reaches
// only over SSH shows Degraded with the connection's error.
func CheckNodes(ctx context.Context, res *spec.Resolved) []NodeHealth {
	servers := map[string]*spec.ResolvedServer{}
	for i := range res.Servers {
		servers[res.Servers[i].Name] = &res.Servers[i]
	}
	var out []NodeHealth
	var checks []spec.Health
	for i := range res.Sites {
		site := &res.Sites[i]
		for _, sn := range site.Servers {
			srv := servers[sn]
			if srv == nil || srv.HTTP == nil {
				continue
			}
			out = append(out, NodeHealth{Site: site.Domain, Server: sn, Address: spec.NodeAddress(srv), Drained: srv.Drain})
			checks = append(checks, site.Health)
		}
	}
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range out {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			checkNode(ctx, &out[i], out[i].Site, checks[i])
		})
	}
	wg.Wait()
	return out
}

var healthClient = &http.Client{
	Timeout:       HealthTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{Proxy: nil, DisableKeepAlives: true},
}

func checkNode(ctx context.Context, n *NodeHealth, host string, h spec.Health) {
	n.Health = HealthDegraded
	if n.Address == "" {
		n.Why = "the server's http listen address is not known"
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.Address+h.Path, nil)
	if err != nil {
		n.Why = err.Error()
		return
	}
	req.Host = host
	resp, err := healthClient.Do(req)
	if err != nil {
		n.Why = fmt.Sprintf("no answer: %v", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	n.Status = resp.StatusCode
	ok := resp.StatusCode >= 200 && resp.StatusCode < 400
	want := "2xx or 3xx"
	if h.Status != 0 {
		ok, want = resp.StatusCode == h.Status, fmt.Sprint(h.Status)
	}
	if !ok {
		n.Why = fmt.Sprintf("GET %s answered %s, want %s", h.Path, resp.Status, want)
		return
	}
	n.Health = HealthHealthy
}
