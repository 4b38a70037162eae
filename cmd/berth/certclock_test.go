package main

import (
	"os"
	"strings"
	"time"
)

// clockFileEnv names the file whose Go duration (empty or missing: 0)
// puts the certificates' clock of a berth serve subprocess ahead of the
// real one; TestMain installs it as certClock.
const clockFileEnv = "BERTH_TEST_CERT_CLOCK_FILE"

// fileClock is time.Now moved ahead by the duration file holds, read at
// every call, so a test moves a running daemon's clock by writing it.
func fileClock(file string) func() time.Time {
	return func() time.Time {
		b, err := os.ReadFile(file)
		if err != nil {
			return time.Now()
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(b)))
		if err != nil {
			return time.Now()
		}
		return time.Now().Add(d)
	}
}
