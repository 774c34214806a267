package relay

import (
	"testing"
	"time"
)

// TestLagWatchMeasuresFromTheFirstTickThatSawAnUnappliedRecord: a hub
// that keeps up, even with records arriving between ticks, is never
// behind; one that stalls is behind from the first tick that saw a record
// it has still not applied, and is caught up again the tick after it
// applies everything.
func TestLagWatchMeasuresFromTheFirstTickThatSawAnUnappliedRecord(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var w lagWatch
	steps := []struct {
		sec           int
		last, applied uint64
		want          time.Duration
	}{
		{0, 10, 10, 0},
		{1, 12, 11, 0},               // one record in flight: behind since this tick
		{2, 14, 13, 0},               // tick 1's applied; 14 is new at this tick
		{3, 14, 14, 0},               // caught up
		{4, 20, 14, 0},               // stalls here
		{5, 25, 14, time.Second},     // still nothing applied
		{6, 30, 19, 2 * time.Second}, // applied some of what tick 4 saw: still behind since 4
		{7, 30, 20, 2 * time.Second}, // tick 4's records applied; tick 5's not
		{8, 30, 30, 0},
	}
	for _, s := range steps {
		if got := w.observe(at(s.sec), s.last, s.applied); got != s.want {
			t.Errorf("at %ds, log at %d, applied %d: behind %v, want %v", s.sec, s.last, s.applied, got, s.want)
		}
	}
	if len(w.samples) != 0 {
		t.Errorf("caught up, but %d samples kept", len(w.samples))
	}
}
