package state

import (
	"context"
	"reflect"
	"testing"
)

func TestInventoryEnvs(t *testing.T) {
	ctx := context.Background()
	res := func(id, site string) Resource { return Resource{ID: id, Host: "web", Kind: "file", Site: site} }
	for _, c := range []struct {
		name string
		save map[string][]Resource
		drop map[string][]string
		want []EnvInventory
	}{
		{name: "empty"},
		{
			name: "two environments, shared resources count for no site",
			save: map[string][]Resource{
				"staging":    {res("site/a/vhost@web", "a"), res("site/a/dir@web", "a"), res("dir:/srv@web", "")},
				"production": {res("site/a/vhost@web", "a"), res("site/b/vhost@web", "b")},
			},
			want: []EnvInventory{{Env: "production", Resources: 2, Sites: 2}, {Env: "staging", Resources: 3, Sites: 1}},
		},
		{
			name: "an environment whose records are all deleted is not listed",
			save: map[string][]Resource{"staging": {res("site/a/vhost@web", "a")}, "production": {res("site/b/vhost@web", "b")}},
			drop: map[string][]string{"staging": {"site/a/vhost@web"}},
			want: []EnvInventory{{Env: "production", Resources: 1, Sites: 1}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := open(t, t.TempDir())
			for env, rs := range c.save {
				if err := s.SaveResources(ctx, env, rs); err != nil {
					t.Fatal(err)
				}
			}
			for env, ids := range c.drop {
				if err := s.DeleteResources(ctx, env, ids); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.InventoryEnvs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("InventoryEnvs = %+v, want %+v", got, c.want)
			}
		})
	}
}
