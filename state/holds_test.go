package state

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestHolds(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir)
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, h := range []Hold{
		{Env: "production", Site: "b.example.com", Platform: "app", RevPlatform: "app2", By: "root", At: at},
		{Env: "production", Site: "a.example.com", Platform: "app", DBServer: "db1", RevPlatform: "app2", RevDBServer: "db2", By: "root", At: at},
		{Env: "production", Site: "a.example.com", Platform: "app", DBServer: "db1", RevPlatform: "app3", RevDBServer: "db2", By: "ops", At: at.Add(time.Hour)},
		{Env: "staging", Site: "a.example.com", Platform: "s", RevPlatform: "s2", At: at},
	} {
		if err := s.PutHold(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = open(t, dir) // survives a restart
	got, err := s.Holds(ctx, "production")
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint([]Hold{
		{Env: "production", Site: "a.example.com", Platform: "app", DBServer: "db1", RevPlatform: "app3", RevDBServer: "db2", By: "ops", At: at.Add(time.Hour)},
		{Env: "production", Site: "b.example.com", Platform: "app", RevPlatform: "app2", By: "root", At: at},
	}); fmt.Sprint(got) != want {
		t.Errorf("holds:\n%v\nwant\n%v", got, want)
	}
	if ok, err := s.DeleteHold(ctx, "production", "a.example.com"); err != nil || !ok {
		t.Errorf("delete: %v %v", ok, err)
	}
	if ok, err := s.DeleteHold(ctx, "production", "a.example.com"); err != nil || ok {
		t.Errorf("second delete: %v %v, want nothing deleted", ok, err)
	}
	if got, _ := s.Holds(ctx, "production"); len(got) != 1 || got[0].Site != "b.example.com" {
		t.Errorf("after delete: %v", got)
	}
	if got, _ := s.Holds(ctx, "staging"); len(got) != 1 {
		t.Errorf("staging: %v", got)
	}
	if err := s.PutHold(ctx, Hold{Env: "production", Site: "c.example.com"}); err == nil {
		t.Error("a hold without a platform was recorded")
	}
}
