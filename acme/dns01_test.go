package acme

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/state"
)

// TestWildcardNeedsDNS01: a wildcard name without a DNS-01 provider is
// refused before anything reaches the CA (the directory here does not
// exist: any request would fail differently) and records no order.
func TestWildcardNeedsDNS01(t *testing.T) {
	ctx := context.Background()
	st, err := state.Open(ctx, t.TempDir(), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := New(Config{DirectoryURL: "https://127.0.0.1:1/dir", Email: "hostmaster@example.test", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Ensure(ctx, Request{ID: "production/example.test", Names: []string{"example.test", "*.example.test"}, HTTP01: &Webroot{Dir: "/srv"}})
	if err == nil || !strings.Contains(err.Error(), "*.example.test is a wildcard name, which the CA validates only by DNS-01") {
		t.Fatalf("got %v", err)
	}
	if orders, _ := st.ACMEOrders(ctx, "https://127.0.0.1:1/dir", time.Time{}); len(orders) != 0 {
		t.Errorf("%d orders recorded", len(orders))
	}
	// A DNSUpdate answers only for its own challenge zones.
	up := &DNSUpdate{Zones: []ChallengeZone{{Name: "_acme-challenge.example.test", Primary: "127.0.0.1:1"}}, KeyName: "k", Secret: "c2VjcmV0"}
	if err := up.Present(ctx, "other.example.test", "t", "t.k"); err == nil || !strings.Contains(err.Error(), "_acme-challenge.other.example.test is not a challenge zone berth serves") {
		t.Errorf("Present outside its zones: %v", err)
	}
	if got := challengeFQDN("*.Example.test"); got != "_acme-challenge.example.test." {
		t.Errorf("challengeFQDN: %s", got)
	}
}
