package desired

import (
	"strings"
	"testing"

	"github.com/berthhq/berth/spec"
)

// The names the older layout uses inside a platform's directory are no
// environment's.
func TestBuildRefusesReservedEnvironment(t *testing.T) {
	for _, env := range []string{"builds", "current"} {
		res := &spec.Resolved{Environment: env, Platforms: []spec.ResolvedPlatform{{Name: "app", Servers: []string{"web"}}}}
		if _, err := buildDesired(res, "r1", nil, t.TempDir(), nil, nil); err == nil || !strings.Contains(err.Error(), "rename it") {
			t.Errorf("%s: %v", env, err)
		}
	}
}
