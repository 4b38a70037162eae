package source

import (
	"sync"
	"time"
)

// Replay window and memory of the webhook receivers (see Deliveries).
const (
	DeliveryWindow = 24 * time.Hour
	MaxDeliveries  = 10000
)

// Deliveries remembers the webhook deliveries berth received, so that one
// received again is acknowledged and ignored: no fetch, no run. A delivery
// is remembered for the window given to NewDeliveries; the memory is
// bounded: beyond max deliveries the oldest is forgotten first. A
// Deliveries is safe for concurrent use; give each receiver its own or
// share one (keys carry the provider).
type Deliveries struct {
	window time.Duration
	max    int
	now    func() time.Time

	mu    sync.Mutex
	at    map[string]time.Time
	order []string // keys, oldest first; may hold keys already forgotten
}

// NewDeliveries returns an empty memory of deliveries for window, of at
// most max of them (DeliveryWindow and MaxDeliveries are berth serve's).
func NewDeliveries(window time.Duration, max int) *Deliveries {
	return &Deliveries{window: window, max: max, now: time.Now, at: map[string]time.Time{}}
}

// add records the keys of one delivery and reports whether none of them
// was seen within the window (the delivery is new). No keys: always new.
func (d *Deliveries) add(keys []string) bool {
	if len(keys) == 0 {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	d.expire(now)
	for _, k := range keys {
		if _, ok := d.at[k]; ok {
			return false
		}
	}
	for _, k := range keys {
		d.at[k] = now
		d.order = append(d.order, k)
	}
	for (len(d.at) > d.max || len(d.order) > 2*d.max) && len(d.order) > 0 {
		delete(d.at, d.order[0])
		d.order = d.order[1:]
	}
	return true
}

// forget drops keys: their delivery was not served and may come again.
func (d *Deliveries) forget(keys []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		delete(d.at, k)
	}
}

// expire drops what is older than the window, and the order's entries of
// forgotten keys at its front.
func (d *Deliveries) expire(now time.Time) {
	for len(d.order) > 0 {
		k := d.order[0]
		at, ok := d.at[k]
		if ok && now.Sub(at) < d.window {
			break
		}
		if ok {
			delete(d.at, k)
		}
		d.order = d.order[1:]
	}
	if cap(d.order) > 4*d.max && len(d.order) < d.max {
		d.order = append([]string(nil), d.order...) // let the old array go
	}
}
