package spec

import (
	"maps"
	"slices"
)

// Backups says where site backups are kept: berth.yaml's `backups:`.
type Backups struct {
	Server string `yaml:"server" json:"server,omitempty" doc:"Server that stores the backups (default: each site's first web server)." rule:"name"`
	Dir    string `yaml:"dir" json:"dir,omitempty" doc:"Backup root on that server (default /var/backups/berth; relative: under berth's state directory, on a local server only)." rule:"server-path"`
}

// backups checks berth.yaml's backups section.
func (c *checker) backups(cfg *Config) {
	b := cfg.Backups
	local := true
	if b.Server != "" {
		if c.r.servers[b.Server] == nil {
			c.missing(&cfg.Meta, "backups.server", "", "backups.server: server %q does not exist%s", b.Server, didYouMean(b.Server, slices.Sorted(maps.Keys(c.r.servers))))
		}
		if srv := c.r.servers[b.Server]; srv != nil {
			local = srv.Address == "local"
		}
	}
	c.dirPath(&cfg.Meta, "backups.dir", "backups.dir", b.Dir, local)
}
