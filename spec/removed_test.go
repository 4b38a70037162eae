package spec

import (
	"reflect"
	"testing"
)

// TestResolveRemoved: an environment the repo no longer declares resolves
// to nothing on every server of the repo, with the servers' services as
// Resolve gives them and the repo's policy and backups; a declared one is
// refused.
func TestResolveRemoved(t *testing.T) {
	r := loadExample(t)
	prod, err := Resolve(r, "production")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		env     string
		wantErr bool
	}{
		{env: "qa"},
		{env: "production", wantErr: true},
	} {
		t.Run(tt.env, func(t *testing.T) {
			got, err := ResolveRemoved(r, tt.env)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ResolveRemoved of a declared environment: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Environment != tt.env || got.Branch != "" || len(got.Sites) != 0 || len(got.Platforms) != 0 {
				t.Errorf("not an empty environment %s: %+v", tt.env, got)
			}
			if got.MaxDeletions != prod.MaxDeletions || !reflect.DeepEqual(got.Backups, prod.Backups) {
				t.Errorf("policy %d and backups %+v, want the repo's: %d, %+v", got.MaxDeletions, got.Backups, prod.MaxDeletions, prod.Backups)
			}
			if len(got.Servers) != len(r.Servers) {
				t.Errorf("%d servers, want every one of the repo's %d", len(got.Servers), len(r.Servers))
			}
			for _, ps := range prod.Servers {
				found := false
				for _, s := range got.Servers {
					if s.Name == ps.Name {
						found = true
						if !reflect.DeepEqual(s, ps) {
							t.Errorf("server %s: %+v, want it as production resolves it: %+v", s.Name, s, ps)
						}
					}
				}
				if !found {
					t.Errorf("server %s of production is missing", ps.Name)
				}
			}
		})
	}
}
