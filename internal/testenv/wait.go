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
	EventuallyWith(t, what, timeout, func() (bool, string) { return cond(), "" })
}

// EventuallyWith is Eventually for a condition that also says what it saw
// last, which the failure reports.
func EventuallyWith(t testing.TB, what string, timeout time.Duration, cond func() (ok bool, last string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			if last != "" {
				last = "; last: " + last
			}
			t.Fatalf("testenv: no %s within %s%s", what, timeout, last)
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
