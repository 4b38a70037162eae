package run

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/berthhq/berth/kind/lb"
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
const HealthTimeout = lb.HealthTimeout

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

func checkNode(ctx context.Context, n *NodeHealth, host string, h spec.Health) {
	n.Health = HealthDegraded
	status, ok, err := lb.Probe(ctx, n.Address, host, h.Path, h.Status)
	n.Status = status
	switch {
	case err != nil:
		n.Why = err.Error()
	case !ok:
		n.Why = fmt.Sprintf("GET %s answered %d %s, want %s", h.Path, status, http.StatusText(status), lb.Want(h.Status))
	default:
		n.Health = HealthHealthy
	}
}
