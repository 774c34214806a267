package events

import (
	"testing"
	"time"
)

// TestBoundTo: a timestamp far from its receive time is read within the
// bounds pruning relies on; a genuine one, even a day-late retry's, is
// left as the service sent it.
func TestBoundTo(t *testing.T) {
	at := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	ms := at.UnixMilli()
	for name, tc := range map[string]struct {
		ts, want int64
		moved    bool
	}{
		"on time":              {ms - 20, ms - 20, false},
		"a day-late retry":     {ms - RetryHorizon.Milliseconds(), ms - RetryHorizon.Milliseconds(), false},
		"clock a minute ahead": {ms + 60_000, ms + 60_000, false},
		"year 9999":            {253402214400000, ms + MaxAhead.Milliseconds(), true},
		"year 1970":            {5, ms - (RetryHorizon + MaxAhead).Milliseconds(), true},
		"no timestamp":         {0, ms, false},
	} {
		ev := Event{Kind: ConnectionCreated, Timestamp: tc.ts}
		if moved := ev.BoundTo(at); moved != tc.moved || ev.Timestamp != tc.want {
			t.Errorf("%s: BoundTo = %v, timestamp %d; want %v, %d", name, moved, ev.Timestamp, tc.moved, tc.want)
		}
	}
	ev := Event{Timestamp: 253402214400000}
	if ev.BoundTo(time.Time{}) || ev.Timestamp != 253402214400000 {
		t.Error("no receive time: the timestamp was changed")
	}
}
