package acme

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berthhq/berth/host"
	"github.com/berthhq/berth/host/hosttest"
	"github.com/berthhq/berth/state"
)

func TestBudget(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	issued := func(ago time.Duration, email string, names ...string) state.ACMEOrder {
		return state.ACMEOrder{Email: email, Names: names, At: now.Add(-ago), Issued: true}
	}
	failed := func(ago time.Duration, names ...string) state.ACMEOrder {
		return state.ACMEOrder{Email: "a@example.com", Names: names, At: now.Add(-ago)}
	}
	repeat := func(n int, o func(i int) state.ACMEOrder) []state.ACMEOrder {
		var out []state.ACMEOrder
		for i := range n {
			out = append(out, o(i))
		}
		return out
	}
	tests := []struct {
		name   string
		limits Limits
		orders []state.ACMEOrder
		names  []string
		want   string // "" allowed, else a word of the reason
		until  time.Time
	}{
		{name: "nothing sent yet", names: []string{"example.com"}},
		{
			name:   "orders per account per 3 hours, failed ones included",
			limits: Limits{OrdersPer3Hours: 2},
			orders: []state.ACMEOrder{failed(2*time.Hour, "x.example.net"), failed(time.Hour, "y.example.net")},
			names:  []string{"example.com"}, want: "3 hours", until: now.Add(time.Hour),
		},
		{
			name:   "another account's orders do not count against this one",
			limits: Limits{OrdersPer3Hours: 1},
			orders: []state.ACMEOrder{issued(time.Hour, "b@example.com", "x.example.net")},
			names:  []string{"example.com"},
		},
		{
			name: "identical name sets per week",
			orders: repeat(5, func(i int) state.ACMEOrder {
				return issued(time.Duration(i+1)*24*time.Hour, "a@example.com", "example.com", "www.example.com")
			}),
			names: []string{"example.com", "www.example.com"}, want: "exactly", until: now.Add(-5 * 24 * time.Hour).Add(week),
		},
		{
			name: "a different name set is not identical",
			orders: repeat(5, func(i int) state.ACMEOrder {
				return issued(time.Duration(i+1)*24*time.Hour, "a@example.com", "example.com", "www.example.com")
			}),
			names: []string{"example.com"},
		},
		{
			name:   "certificates per registered domain per week, subdomains counted together",
			limits: Limits{CertsPerDomainPerWeek: 2},
			orders: []state.ACMEOrder{issued(3*24*time.Hour, "a@example.com", "a.example.co.uk"), issued(24*time.Hour, "a@example.com", "b.example.co.uk")},
			names:  []string{"c.example.co.uk"}, want: "example.co.uk", until: now.Add(-3 * 24 * time.Hour).Add(week),
		},
		{
			name:   "orders older than a week and failed orders do not count",
			limits: Limits{CertsPerDomainPerWeek: 1},
			orders: []state.ACMEOrder{issued(8*24*time.Hour, "a@example.com", "example.com"), failed(4*time.Hour, "example.com")},
			names:  []string{"example.com"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why, until := tt.limits.budget(tt.orders, "a@example.com", tt.names, now)
			if tt.want == "" {
				if why != "" {
					t.Fatalf("refused: %s", why)
				}
				return
			}
			if !strings.Contains(why, tt.want) || !until.Equal(tt.until) {
				t.Fatalf("got %q until %v; want a reason with %q until %v", why, until, tt.want, tt.until)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{0, time.Minute}, {1, time.Minute}, {2, 10 * time.Minute}, {4, time.Hour}, {9, 24 * time.Hour}, {50, 24 * time.Hour},
	}
	for _, tt := range tests {
		if got := Backoff(tt.failures); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.failures, got, tt.want)
		}
	}
	// At most four failed validations of a name in any hour (the CA allows
	// five).
	var at time.Duration
	n := 0
	for f := 1; at < time.Hour; f++ {
		n++
		at += Backoff(f)
	}
	if n > 4 {
		t.Fatalf("%d orders in the first hour", n)
	}
}

func TestCheckNames(t *testing.T) {
	tests := []struct {
		in      []string
		want    string
		wantErr string
	}{
		{in: []string{"Example.com", "www.example.com", "b.example.com", "example.com", "www.example.com"}, want: "example.com b.example.com www.example.com"},
		{in: nil, wantErr: "no names"},
		{in: []string{"a.example.com", "b,c.example.com"}, wantErr: "not a DNS name"},
		{in: append([]string{"example.com"}, func() []string {
			var s []string
			for i := range MaxNames {
				s = append(s, "n"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+strings.Repeat("y", i/26)+".example.com")
			}
			return s
		}()...), wantErr: "at most 100"},
	}
	for _, tt := range tests {
		got, err := checkNames(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("checkNames(%d names): %v, want an error with %q", len(tt.in), err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("checkNames(%v) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestWebroot(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		token   string
		wantErr string
	}{
		{token: "DOAXTzTgl5NaqLAnJopoAA_uxv2IhDMe-IhOSzNlW0o"},
		{token: "../../etc/passwd", wantErr: "base64url"},
		{token: "a/b", wantErr: "base64url"},
		{token: "", wantErr: "base64url"},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			hosts := []*hosttest.Fake{hosttest.New("web1"), hosttest.New("web2")}
			w := &Webroot{Hosts: []host.Host{hosts[0], hosts[1]}, Dir: "/srv/acme"}
			err := w.Present(ctx, "example.com", tt.token, "keyauth")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Present: %v, want an error with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := "/srv/acme/.well-known/acme-challenge/" + tt.token
			for _, h := range hosts {
				got, err := h.ReadFile(ctx, f)
				if err != nil || string(got) != "keyauth" {
					t.Fatalf("%s: %s = %q, %v", h.Name(), f, got, err)
				}
			}
			if err := w.CleanUp(ctx, "example.com", tt.token, "keyauth"); err != nil {
				t.Fatal(err)
			}
			for _, h := range hosts {
				if _, err := h.ReadFile(ctx, f); err == nil {
					t.Fatalf("%s: %s left after CleanUp", h.Name(), f)
				}
			}
		})
	}
}
