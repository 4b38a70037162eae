package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/local"
	"github.com/berthhq/berth/host/ssh"
	"github.com/berthhq/berth/spec"
)

// sshOptions are the controller's SSH settings: they live with berth, never
// in the sites repo.
type sshOptions struct {
	keyFiles   []string
	knownHosts string
}

// connector hands the engine one connection per server, opened on first
// use and closed by Close.
type connector struct {
	servers map[string]spec.ResolvedServer
	ssh     sshOptions
	// hashes, when set, is the local host's cache of file hashes, kept
	// across connectors by berth serve (local.HashCache).
	hashes *local.HashCache

	mu    sync.Mutex
	hosts map[string]host.Host
}

func newConnector(res *spec.Resolved, o sshOptions) *connector {
	c := &connector{servers: map[string]spec.ResolvedServer{}, ssh: o, hosts: map[string]host.Host{}}
	// The servers of other environments that clones read from are
	// reached too (never written: desired builds nothing for them).
	for _, s := range append(slices.Clone(res.Servers), res.CloneServers()...) {
		c.servers[s.Name] = s
	}
	return c
}

func (c *connector) Host(ctx context.Context, server string) (host.Host, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h, ok := c.hosts[server]; ok {
		return h, nil
	}
	s, ok := c.servers[server]
	if !ok {
		return nil, fmt.Errorf("server %s is not declared in this environment any more; berth cannot reach it to change it", server)
	}
	var h host.Host
	if s.Local() {
		h = local.NewWithCache(c.hashes)
	} else {
		port := s.SSH.Port
		if port == 0 {
			port = 22
		}
		user := s.SSH.User
		if user == "" {
			user = "root"
		}
		sh, err := ssh.New(ssh.Config{
			Addr:           net.JoinHostPort(s.Address, strconv.Itoa(port)),
			User:           user,
			KeyFiles:       c.ssh.keyFiles,
			Agent:          os.Getenv("SSH_AUTH_SOCK") != "",
			KnownHostsFile: c.ssh.knownHosts,
			Sudo:           s.SSH.Sudo,
		})
		if err != nil {
			return nil, fmt.Errorf("server %s: %w", server, err)
		}
		h = sh
	}
	c.hosts[server] = h
	return h, nil
}

func (c *connector) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, h := range c.hosts {
		h.Close()
	}
	c.hosts = map[string]host.Host{}
}

// defaultKnownHosts is ~/.ssh/known_hosts.
func defaultKnownHosts() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".ssh", "known_hosts")
}

// defaultStateDir is $BERTH_STATE_DIR, /var/lib/berth for root, else
// $XDG_STATE_HOME/berth or ~/.local/state/berth.
func defaultStateDir() string {
	if d := os.Getenv("BERTH_STATE_DIR"); d != "" {
		return d
	}
	if os.Geteuid() == 0 {
		return "/var/lib/berth"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "berth")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".berth"
	}
	return filepath.Join(home, ".local", "state", "berth")
}
