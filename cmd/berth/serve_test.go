package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthhq/berth/source"
)

// Each receiver has its own secret: one receiver's secret does not open
// another, and a receiver without a secret is off while the others work.
func TestWebhookSecretsPerReceiver(t *testing.T) {
	secrets := hookSecrets{github: []byte("github-hmac-key"), gitea: []byte("gitea-hmac-key"), gitlab: []byte("gitlab-plain-token")}
	var pushes []source.Push
	h := webhooks(secrets, source.NewDeliveries(source.DeliveryWindow, source.MaxDeliveries),
		func(p source.Push) int { pushes = append(pushes, p); return 1 }, func(_ string, h http.Handler) http.Handler { return h })
	const body = `{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567"}`
	hmacHex := func(key []byte) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(body))
		return hex.EncodeToString(m.Sum(nil))
	}
	cases := []struct {
		name    string
		path    string
		headers map[string]string
		want    int
	}{
		{"github signed with its key", "/hooks/github", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex(secrets.github)}, 202},
		{"github signed with the gitlab token", "/hooks/github", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex(secrets.gitlab)}, 401},
		{"github signed with the gitea key", "/hooks/github", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + hmacHex(secrets.gitea)}, 401},
		{"gitea signed with the github key", "/hooks/gitea", map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": hmacHex(secrets.github)}, 401},
		{"gitea signed with the gitlab token", "/hooks/gitea", map[string]string{"X-Gitea-Event": "push", "X-Gitea-Signature": hmacHex(secrets.gitlab)}, 401},
		{"gitlab with the github key as token", "/hooks/gitlab", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": string(secrets.github)}, 401},
		{"gitlab with the gitea key as token", "/hooks/gitlab", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": string(secrets.gitea)}, 401},
		{"gitlab with its token", "/hooks/gitlab", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": string(secrets.gitlab)}, 202},
		{"generic has no token: off", "/hooks/generic", map[string]string{"Authorization": "Bearer " + string(secrets.gitlab)}, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(pushes)
			r := httptest.NewRequest("POST", tc.path, strings.NewReader(body))
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if pushed := len(pushes) > before; pushed != (tc.want == 202) {
				t.Errorf("pushed %v with status %d", pushed, w.Code)
			}
		})
	}
}

func TestServeRefusesTheSharedWebhookSecret(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "webhook.secret")
	os.WriteFile(secret, []byte("one-for-all"), 0o600)
	var out, errOut bytes.Buffer
	code := run([]string{"serve", "--webhook-secret-file", secret, "--state-dir", t.TempDir()}, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), "--github-secret-file") {
		t.Errorf("exit %d, want %d with the per-receiver flags named: %s", code, exitUsage, errOut.String())
	}
}
