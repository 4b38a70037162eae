package spec

import (
	"encoding/json"
	"strings"
	"testing"
	"testing/fstest"
)

func TestNotifications(t *testing.T) {
	repo := func(notifications string) fstest.MapFS {
		return fstest.MapFS{
			"berth.yaml":        {Data: []byte("environments:\n  production: { branch: main }\n  staging: { branch: staging }\nnotifications:\n" + notifications)},
			"servers/web.yaml":  {Data: []byte("kind: Server\nname: web\naddress: local\nservices:\n  http: { type: nginx }\n")},
			"platforms/st.yaml": {Data: []byte("kind: Platform\nname: st\ntype: static\nsource: { path: code }\nservers: [web]\n")},
			"code/index.html":   {Data: []byte("hi\n")},
		}
	}
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"valid", "  - { name: ops, url: \"https://hooks.example.net/berth\", events: [site-down, site-up], environments: [production] }\n" +
			"  - { name: chat, url_file: /etc/berth/slack.url, format: slack }\n  - { name: local, url: \"http://127.0.0.1:9000/hook\" }\n" +
			"  - { name: pager, url_env: PAGER_URL, events: [backup-stale] }\n", ""},
		{"no url", "  - { name: ops }\n", `berth.yaml:5:5: notification "ops": needs one of url_file`},
		{"two urls", "  - { name: ops, url: \"https://h.example.net/\", url_env: X }\n", "set only one"},
		{"slack url in the repo", "  - { name: chat, url: \"https://hooks.slack.com/services/T0/B0/secret\", format: slack }\n", "berth.yaml:5:24: notification \"chat\": a Slack-compatible webhook's URL is a secret"},
		{"http elsewhere", "  - { name: ops, url: \"http://hooks.example.net/\" }\n", "berth.yaml:5:23: notifications[0].url: \"http://hooks.example.net/\" is not a webhook URL (http only to this machine; use https)"},
		{"credentials", "  - { name: ops, url: \"https://u:p@hooks.example.net/\" }\n", "is not a webhook URL"},
		{"fragment", "  - { name: ops, url: \"https://hooks.example.net/#x\" }\n", "is not a webhook URL"},
		{"unknown event", "  - { name: ops, url_env: X, events: [site-dwn] }\n", `"site-dwn" is not an event`},
		{"event twice", "  - { name: ops, url_env: X, events: [stalled, stalled] }\n", `event "stalled" is listed twice`},
		{"unknown environment", "  - { name: ops, url_env: X, environments: [prod] }\n", `environment "prod" is not declared in berth.yaml`},
		{"name twice", "  - { name: ops, url_env: X }\n  - { name: ops, url_env: Y }\n", `notification "ops" is declared twice`},
		{"bad format", "  - { name: ops, url_env: X, format: teams }\n", `"teams" is not one of json, slack`},
		{"relative file", "  - { name: ops, url_file: slack.url }\n", "is not an absolute path"},
	} {
		_, err := Load(repo(tc.yaml))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}

	// Resolved: an environment's webhooks only; the URL written in the
	// repo stays out of the JSON form.
	r, err := Load(repo("  - { name: ops, url: \"https://hooks.example.net/secret-path\", environments: [production] }\n  - { name: chat, url_file: /etc/berth/slack.url, format: slack }\n"))
	if err != nil {
		t.Fatal(err)
	}
	for env, want := range map[string]string{"production": "ops json, chat slack", "staging": "chat slack"} {
		res, err := Resolve(r, env)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range res.Notifications {
			got = append(got, n.Name+" "+n.Format)
		}
		if strings.Join(got, ", ") != want {
			t.Errorf("%s: %v, want %s", env, got, want)
		}
		b, _ := json.Marshal(res)
		if strings.Contains(string(b), "secret-path") {
			t.Errorf("%s: the URL is in the resolved JSON: %s", env, b)
		}
	}
}
