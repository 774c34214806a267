package opentoktest

import (
	"errors"
	"fmt"
	"time"
)

// Faults makes the emulator's callback delivery misbehave on purpose, so a
// receiver can be tested against what the real service only tolerates:
// lost, duplicated, reordered and late callbacks. Each fraction is the
// probability, per callback, of that fault; the zero value is a faithful
// sender.
//
// A callback's fate is a pure function of the seed, its group and its body
// bytes, so the same seed drops, duplicates, reorders and delays the same
// callbacks whatever the timing, the worker count or the interleaving of
// sessions.
type Faults struct {
	// Drop is the fraction of callbacks never sent, as if lost by the
	// service (Vonage does not guarantee delivery).
	Drop float64
	// Duplicate is the fraction sent twice: identical body bytes, two
	// separate requests (each signed afresh), as at-least-once retries
	// after a lost response produce.
	Duplicate float64
	// Reorder is the fraction held back until one to three later
	// callbacks of the same session have been sent (or 2 s of service
	// time have passed), which breaks that session's order.
	Reorder float64
	// Delay is the fraction delayed by up to MaxDelay (service time, so
	// divided by the time scale); later callbacks overtake a delayed one.
	Delay float64
	// MaxDelay bounds a Delay fault. It must be positive when Delay is.
	MaxDelay time.Duration
}

// Validate reports the first field out of range: fractions must lie in
// [0, 1], and MaxDelay must be positive when Delay is set.
func (f Faults) Validate() error {
	for _, x := range []struct {
		name string
		v    float64
	}{{"Drop", f.Drop}, {"Duplicate", f.Duplicate}, {"Reorder", f.Reorder}, {"Delay", f.Delay}} {
		// Written so that NaN fails too.
		if !(x.v >= 0 && x.v <= 1) {
			return fmt.Errorf("faults: %s = %v: expected a fraction in [0, 1]", x.name, x.v)
		}
	}
	if f.MaxDelay < 0 {
		return fmt.Errorf("faults: MaxDelay = %v: expected a positive duration", f.MaxDelay)
	}
	if f.Delay > 0 && f.MaxDelay == 0 {
		return errors.New("faults: MaxDelay must be positive when Delay is set")
	}
	return nil
}

// dispatchFate is what Faults do to one callback.
type dispatchFate struct {
	drop, duplicate bool
	delay           time.Duration // service time; 0 = none
	hold            int           // later sends to let pass; 0 = none
}

// fate draws a callback's faults from a generator seeded with the seed and
// an FNV-1a hash of its group and body, so it does not depend on timing,
// on the worker count, on the order callbacks were enqueued in, nor on the
// receiver's URL (a test server's port changes every run). Every draw is
// made whatever the fractions, so raising one fraction does not change
// which callbacks another picks.
func (d *dispatcher) fate(cb callback) dispatchFate {
	f := d.cfg.Faults
	if f == (Faults{}) {
		return dispatchFate{}
	}
	h := uint64(14695981039346656037)
	for i := 0; i < len(cb.group); i++ {
		h = (h ^ uint64(cb.group[i])) * 1099511628211
	}
	h = (h ^ 0xff) * 1099511628211 // separator: 0xff is not in UTF-8 text
	for _, c := range cb.body {
		h = (h ^ uint64(c)) * 1099511628211
	}
	s := splitmix{state: h ^ uint64(d.cfg.Seed)*0x9e3779b97f4a7c15}
	uDrop, uDup, uDelay, uDelayBy, uReorder, uSpan := s.float(), s.float(), s.float(), s.float(), s.float(), s.float()
	var out dispatchFate
	out.drop = uDrop < f.Drop
	out.duplicate = uDup < f.Duplicate
	if uDelay < f.Delay {
		out.delay = max(time.Duration(uDelayBy*float64(f.MaxDelay)), 1)
	} else if uReorder < f.Reorder {
		out.hold = 1 + int(uSpan*reorderSpan)
	}
	return out
}

// splitmix is SplitMix64: tiny, allocation-free, and good enough to spread
// a hash into independent uniform draws.
type splitmix struct{ state uint64 }

func (s *splitmix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// float is uniform in [0, 1).
func (s *splitmix) float() float64 { return float64(s.next()>>11) / (1 << 53) }
