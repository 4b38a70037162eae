package spec

import (
	"fmt"
)

// ResolveRemoved returns the desired state of an environment that
// berth.yaml of r no longer declares: nothing. It has no platform and no
// site, so planning it deletes what berth recorded for env, and only that;
// it lists every server of the repo (whatever their environments:) with
// their services' defaults, for they say how to reach the servers that
// still hold env's resources, how to check and reload their services and
// how to back a site's data up (berth.yaml backups:) before it is deleted.
// It is held to the repo's policy (policy.max_deletions). An environment
// the repo declares is an error: Resolve it.
func ResolveRemoved(r *Repo, env string) (*Resolved, error) {
	if r.Config == nil || r.Config.Environments == nil {
		return nil, fmt.Errorf("resolve %q: the repo has no environments; load it with spec.Load first", env)
	}
	if r.Config.Environments[env] != nil {
		return nil, fmt.Errorf("environment %q is declared in berth.yaml: it is not removed", env)
	}
	out := &Resolved{Environment: env, MaxDeletions: DefaultMaxDeletions, Backups: r.Config.Backups,
		Servers: []ResolvedServer{}, Platforms: []ResolvedPlatform{}, Sites: []ResolvedSite{}}
	if p := r.Config.Policy.MaxDeletions; p != nil {
		out.MaxDeletions = *p
	}
	for _, s := range sortedBy(r.Servers, func(s *Server) string { return s.Name }) {
		out.Servers = append(out.Servers, resolveServer(s, env))
	}
	return out, nil
}
