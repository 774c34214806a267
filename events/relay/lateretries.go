package relay

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/gavelhq/gavel/events"
)

// The log de-duplicates a callback's retries for its duplicate window
// (2 h by default: JetStream rebuilds the window's ids at start by
// reading every message in it, so a day's window would make every start
// read a day of records). The service retries for up to 24 h. A retry
// later than the window gets a seq of its own; the reducer ignores it,
// but the people reading a console's event tail or `gavel events` would
// see the event twice. lateRetries catches those: the hub remembers every
// callback it applied within the retry horizon, by the hash of its URL
// group and bytes (what the log's message id is made of), and marks a
// later record with the same hash "duplicate". The index is saved in the
// state file with the state, so a restart loads it instead of replaying a
// day of the log.

// retryHorizon is how long a callback is remembered: the service's retry
// horizon, plus the clock difference a receive time may carry.
const retryHorizon = events.RetryHorizon + events.MaxAhead

// retryKey is a callback's hash, truncated: 128 bits make a collision
// (which would hide a genuine callback from tails) as likely as none.
type retryKey [16]byte

// retrySeen is the first record a callback was seen in.
type retrySeen struct {
	seq uint64
	at  int64 // its receive time, unix ms
}

// lateRetries is the hub's index of recent callbacks. The hub's lock
// guards it. Every relay following the same log builds the same index,
// because it ages entries by the records' receive times, never by a
// clock: two relays mark the same records.
type lateRetries struct {
	first map[retryKey]retrySeen
	order []retryKey // keys in the order first seen (log order), oldest at head
	head  int
}

func newLateRetries() *lateRetries {
	return &lateRetries{first: map[retryKey]retrySeen{}}
}

// callbackHash is the SHA-256 of a callback's URL group and exact bytes:
// the log's message id and the late-retry index key both come from it.
func callbackHash(group events.Group, body []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(group))
	h.Write([]byte{'\n'})
	h.Write(body)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

func retryKeyOf(rec events.Record) (retryKey, bool) {
	if rec.Type != events.FrameEvent || rec.Source != events.SourceCallback {
		return retryKey{}, false // reconcile events and audits are never retried
	}
	sum := callbackHash(rec.Group, rec.Event)
	return retryKey(sum[:16]), true
}

// observe indexes the record at seq as the hub applies it, forgetting
// what is older than the horizon as of its receive time, and reports
// whether it repeats a callback applied before.
func (r *lateRetries) observe(seq uint64, rec events.Record) bool {
	key, ok := retryKeyOf(rec)
	if !ok {
		return false
	}
	at := rec.ReceivedAt.UnixMilli()
	if !rec.ReceivedAt.IsZero() {
		r.forget(at - retryHorizon.Milliseconds())
	}
	if seen, ok := r.first[key]; ok {
		return seen.seq < seq
	}
	r.first[key] = retrySeen{seq: seq, at: at}
	r.order = append(r.order, key)
	return false
}

// repeats reports, for a record read back from the log for a console
// catching up, whether it repeats a callback first seen at an earlier
// seq. The index remembers the last day: a record so old that its first
// sighting has been forgotten (a console resuming from a day back) is not
// marked.
func (r *lateRetries) repeats(seq uint64, rec events.Record) bool {
	key, ok := retryKeyOf(rec)
	if !ok {
		return false
	}
	seen, ok := r.first[key]
	return ok && seen.seq < seq
}

// forget drops the entries first seen before cutoff (unix ms). Receive
// times are in log order give or take the clocks of the relays appending,
// so an entry a little out of order waits for its neighbours: it is kept
// a little longer, never forgotten early.
func (r *lateRetries) forget(cutoff int64) {
	for r.head < len(r.order) {
		key := r.order[r.head]
		if r.first[key].at >= cutoff {
			break
		}
		delete(r.first, key)
		r.head++
	}
	if r.head > 1024 && r.head > len(r.order)/2 {
		r.order = append(r.order[:0], r.order[r.head:]...)
		r.head = 0
	}
}

// Len is how many callbacks the index holds.
func (r *lateRetries) Len() int { return len(r.first) }

// retryEntrySize is one entry in the state file: key, seq, receive time.
const retryEntrySize = 16 + 8 + 8

// MarshalBinary packs the entries in the order they were first seen.
func (r *lateRetries) MarshalBinary() ([]byte, error) {
	out := make([]byte, 0, (len(r.order)-r.head)*retryEntrySize)
	for _, key := range r.order[r.head:] {
		seen := r.first[key]
		out = append(out, key[:]...)
		out = binary.BigEndian.AppendUint64(out, seen.seq)
		out = binary.BigEndian.AppendUint64(out, uint64(seen.at))
	}
	return out, nil
}

// UnmarshalBinary replaces the index with what MarshalBinary packed.
func (r *lateRetries) UnmarshalBinary(data []byte) error {
	if len(data)%retryEntrySize != 0 {
		return fmt.Errorf("late-retry index: %d bytes is not a whole number of %d-byte entries", len(data), retryEntrySize)
	}
	n := len(data) / retryEntrySize
	first := make(map[retryKey]retrySeen, n)
	order := make([]retryKey, 0, n)
	for e := data; len(e) > 0; e = e[retryEntrySize:] {
		key := retryKey(e[:16])
		if _, dup := first[key]; dup {
			return fmt.Errorf("late-retry index: key %x twice", key[:4])
		}
		first[key] = retrySeen{seq: binary.BigEndian.Uint64(e[16:24]), at: int64(binary.BigEndian.Uint64(e[24:32]))}
		order = append(order, key)
	}
	r.first, r.order, r.head = first, order, 0
	return nil
}
