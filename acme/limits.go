package acme

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/berthhq/berth/state"
)

// Limits are the CA's limits that Ensure never plans past. The zero value
// of a field takes Let's Encrypt's.
type Limits struct {
	// OrdersPer3Hours is the number of new orders one account may send in
	// 3 hours (Let's Encrypt: 300).
	OrdersPer3Hours int
	// CertsPerDomainPerWeek is the number of certificates issued for one
	// registered domain (example.com for www.example.com) in 7 days (50).
	CertsPerDomainPerWeek int
	// IdenticalPerWeek is the number of certificates issued for the same
	// set of names in 7 days (5).
	IdenticalPerWeek int
}

// LetsEncrypt are Let's Encrypt's limits.
var LetsEncrypt = Limits{OrdersPer3Hours: 300, CertsPerDomainPerWeek: 50, IdenticalPerWeek: 5}

func (l Limits) orDefaults() Limits {
	if l.OrdersPer3Hours <= 0 {
		l.OrdersPer3Hours = LetsEncrypt.OrdersPer3Hours
	}
	if l.CertsPerDomainPerWeek <= 0 {
		l.CertsPerDomainPerWeek = LetsEncrypt.CertsPerDomainPerWeek
	}
	if l.IdenticalPerWeek <= 0 {
		l.IdenticalPerWeek = LetsEncrypt.IdenticalPerWeek
	}
	return l
}

const week = 7 * 24 * time.Hour

// budget returns "" when an order of email for names may be sent at now,
// given orders (those of the directory of the last 7 days);
// otherwise why not and the earliest time it may.
func (l Limits) budget(orders []state.ACMEOrder, email string, names []string, now time.Time) (string, time.Time) {
	l = l.orDefaults()
	orders = slices.SortedFunc(slices.Values(orders), func(a, b state.ACMEOrder) int { return a.At.Compare(b.At) })
	var recent []time.Time // this account's orders of the last 3 hours
	identical := []time.Time{}
	perDomain := map[string][]time.Time{}
	for _, o := range orders {
		if o.Email == email && now.Sub(o.At) < 3*time.Hour {
			recent = append(recent, o.At)
		}
		if !o.Issued || now.Sub(o.At) >= week {
			continue
		}
		if slices.Equal(o.Names, names) {
			identical = append(identical, o.At)
		}
		for _, d := range registeredDomains(o.Names) {
			perDomain[d] = append(perDomain[d], o.At)
		}
	}
	if len(recent) >= l.OrdersPer3Hours {
		return fmt.Sprintf("%d orders of account %s in the last 3 hours reach the CA's limit of %d", len(recent), email, l.OrdersPer3Hours),
			recent[len(recent)-l.OrdersPer3Hours].Add(3 * time.Hour)
	}
	if len(identical) >= l.IdenticalPerWeek {
		return fmt.Sprintf("%d certificates for exactly %s in the last 7 days reach the CA's limit of %d", len(identical), strings.Join(names, ", "), l.IdenticalPerWeek),
			identical[len(identical)-l.IdenticalPerWeek].Add(week)
	}
	for _, d := range registeredDomains(names) {
		if ts := perDomain[d]; len(ts) >= l.CertsPerDomainPerWeek {
			return fmt.Sprintf("%d certificates for %s in the last 7 days reach the CA's limit of %d per registered domain", len(ts), d, l.CertsPerDomainPerWeek),
				ts[len(ts)-l.CertsPerDomainPerWeek].Add(week)
		}
	}
	return "", time.Time{}
}

// registeredDomains are the distinct registered domains (public suffix
// plus one label) of names, sorted.
func registeredDomains(names []string) []string {
	var out []string
	for _, n := range names {
		n = strings.TrimPrefix(n, "*.")
		d, err := publicsuffix.EffectiveTLDPlusOne(n)
		if err != nil {
			d = n
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// backoffSteps is the wait after the n-th failure in a row (the last one
// repeats): minutes, then hours, at most a day. Five failed validations
// per name per hour is Let's Encrypt's limit; this schedule sends at most
// four in the first hour.
var backoffSteps = []time.Duration{
	time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 16 * time.Hour, 24 * time.Hour,
}

// Backoff is the wait after failures failed orders in a row (at least 1).
func Backoff(failures int) time.Duration {
	i := min(max(failures, 1), len(backoffSteps)) - 1
	return backoffSteps[i]
}

// renewAt is the time a certificate valid from notBefore to notAfter is
// renewed without renewal information: one third of its lifetime left.
func renewAt(notBefore, notAfter time.Time) time.Time {
	return notBefore.Add(notAfter.Sub(notBefore) * 2 / 3)
}
