package dns

import (
	"fmt"
	"strconv"
	"time"
)

// NextSerial returns the SOA serial a zone gets when berth writes it.
// observed is the serial of the zone on the server (0 when it has none),
// changed whether the zone's content, serial aside, differs from what the
// server has.
//
// Serials are YYYYMMDDnn and only ever increase: an unchanged zone keeps
// its serial; a changed one gets max(observed+1, today's date00), the rule
// DNSControl uses. So the 100th change of a day moves into the next day's
// numbers and keeps rising, a serial hand-edited higher on the server is
// respected, and, being read from the server rather than remembered,
// the sequence survives a restart of berth. A serial at 2^32-1 would wrap
// (RFC 1982); berth refuses it rather than go back.
func NextSerial(observed uint32, changed bool, now time.Time) (uint32, error) {
	if !changed {
		return observed, nil
	}
	day := DateSerial(now)
	if observed == ^uint32(0) {
		return 0, fmt.Errorf("the zone's serial %d is the largest there is: reset it by hand (RFC 1982 serial arithmetic) before berth can change the zone", observed)
	}
	return max(observed+1, day), nil
}

// DateSerial is date00 of now's UTC day: 2026120100 on 2026-12-01.
func DateSerial(now time.Time) uint32 {
	n, _ := strconv.ParseUint(now.UTC().Format("20060102")+"00", 10, 32)
	return uint32(n)
}
