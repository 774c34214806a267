package events

import "time"

// The service stamps callbacks with its own clock; the relay stamps the
// records it stores with its own. Pruning forgets the ended by the
// service's timestamps, so one callback stamped in the year 9999 — a bug,
// a forgery with a leaked secret, a clock far ahead — would keep its
// session and tombstones for ever. Every reader of the log (the relay's
// hub, the console's mirror and tail) therefore bounds an event's
// timestamp by the time its record was received, with BoundTo.
const (
	// RetryHorizon is how long the service keeps retrying a callback it
	// could not deliver (Vonage's callback retries:
	// https://api.support.vonage.com/hc/en-us/articles/6646236108700): a
	// genuine callback is never older than this when it arrives.
	RetryHorizon = 24 * time.Hour
	// MaxAhead is how far past its receive time a callback's timestamp may
	// be: clocks kept by NTP differ by milliseconds, so ten minutes is
	// generous for the service's clock and the relay's.
	MaxAhead = 10 * time.Minute
)

// BoundTo clamps ev.Timestamp into [receivedAt − RetryHorizon − MaxAhead,
// receivedAt + MaxAhead] and reports whether it had to. A genuine callback
// is never moved; one that is keeps its place among the events of its
// object as far as the receive times allow. The bytes (Raw, the objects'
// own fields) are left as the service sent them. An event with no
// timestamp takes its receive time. A zero receivedAt (no receive time
// known) leaves ev alone.
func (ev *Event) BoundTo(receivedAt time.Time) bool {
	if receivedAt.IsZero() {
		return false
	}
	if ev.Timestamp == 0 {
		ev.Timestamp = receivedAt.UnixMilli()
		return false
	}
	hi := receivedAt.Add(MaxAhead).UnixMilli()
	lo := receivedAt.Add(-RetryHorizon - MaxAhead).UnixMilli()
	switch {
	case ev.Timestamp > hi:
		ev.Timestamp = hi
	case ev.Timestamp < lo:
		ev.Timestamp = lo
	default:
		return false
	}
	return true
}

// DecodeReceived is Decode followed by BoundTo(receivedAt): how a record
// read from the log is decoded wherever its event is applied.
func DecodeReceived(group Group, body []byte, receivedAt time.Time) (Event, error) {
	ev, err := Decode(group, body)
	if err != nil {
		return ev, err
	}
	ev.BoundTo(receivedAt)
	return ev, nil
}
