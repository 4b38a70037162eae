package testenv

import (
	"net"
	"testing"
	"time"
)

// Eventually waits until cond holds, checking it every 20 ms, and fails the
// test after timeout. It is for effects outside the test's control that
// give no event to wait on — a web server's asynchronous reload, a daemon's
// timer — never for ordering the test's own goroutines.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: no %s within %s", what, timeout)
		}
		<-tick.C
	}
}

// WaitTCP waits until addr accepts TCP connections (a server the test
// started as a subprocess), failing the test after 10 s.
func WaitTCP(t testing.TB, addr string) {
	t.Helper()
	Eventually(t, addr+" accepting connections", 10*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}
