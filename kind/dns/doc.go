// Package dns is the resource kind `zone`: the DNS zones of a sites repo,
// rendered by render.Zone and served by BIND on their primary server.
package dns
