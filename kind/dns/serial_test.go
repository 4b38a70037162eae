package dns

import (
	"testing"
	"time"
)

func TestNextSerial(t *testing.T) {
	day := time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC)
	tests := []struct {
		name     string
		observed uint32
		changed  bool
		want     uint32
	}{
		{"new zone", 0, true, 2026120100},
		{"unchanged keeps its serial", 2026120105, false, 2026120105},
		{"unchanged old serial is kept", 2019010100, false, 2019010100},
		{"changed, earlier day", 2026113007, true, 2026120100},
		{"changed, same day", 2026120107, true, 2026120108},
		{"100th change of the day moves past the date", 2026120199, true, 2026120200},
		{"hand-edited higher serial is respected", 2030010100, true, 2030010101},
		{"a plain counter serial below the date", 42, true, 2026120100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NextSerial(tt.observed, tt.changed, day)
			if err != nil || got != tt.want {
				t.Errorf("NextSerial(%d, %v) = %d, %v; want %d", tt.observed, tt.changed, got, err, tt.want)
			}
		})
	}
	if _, err := NextSerial(^uint32(0), true, day); err == nil {
		t.Error("the largest serial was incremented")
	}
}

// 120 changes in one day give 120 strictly increasing serials, each
// derived from the previous one as observed (no memory in between).
func TestSerialsKeepRisingPastADay(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var serial uint32
	for i := range 120 {
		next, err := NextSerial(serial, true, now)
		if err != nil {
			t.Fatal(err)
		}
		if next <= serial {
			t.Fatalf("change %d: serial %d after %d", i+1, next, serial)
		}
		serial = next
	}
	if serial != 2026120219 {
		t.Errorf("after 120 changes the serial is %d, want 2026120219", serial)
	}
}
