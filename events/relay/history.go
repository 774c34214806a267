package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gavelhq/gavel/events"
)

// History answers a console's questions about the past from the log: one
// session as it was after a record (state_at). It rebuilds the session
// with the same reducer the hub and consoles use, folding in only that
// session's records, so its memory is one session's state whatever the
// log's length. Answers are read-only and never audited; each costs the
// token's command rate like any command.
type History struct{ log *Log }

// errStop ends a read of the log once the answer is known.
var errStop = errors.New("relay history: answered")

// isHistoryAction reports whether a command asks about the past.
func isHistoryAction(action string) bool { return action == events.ActionStateAt }

// handle answers a state_at command.
func (hs History) handle(ctx context.Context, claims Claims, cmd events.Command) events.Result {
	fail := func(status int, msg string) events.Result { return failure(cmd.ID, status, msg) }
	p, refused := admitAside(claims, cmd)
	if refused != nil {
		return *refused
	}
	var at time.Time
	if p.At != "" {
		var err error
		if at, err = time.Parse(time.RFC3339Nano, p.At); err != nil {
			return fail(http.StatusBadRequest, fmt.Sprintf("params.at: expected an RFC 3339 time, got %q", p.At))
		}
	}
	ans, err := hs.stateAt(ctx, cmd.Session, p.Seq, at, p.Step)
	if err != nil {
		var trimmed *ErrTrimmed
		if errors.As(err, &trimmed) {
			return fail(http.StatusGone, err.Error())
		}
		return fail(http.StatusServiceUnavailable, "the log could not be read: "+err.Error())
	}
	raw, err := json.Marshal(ans)
	if err != nil {
		return fail(http.StatusInternalServerError, err.Error())
	}
	return events.Result{Type: events.FrameResult, ID: cmd.ID, OK: true, Data: raw}
}

// stateAt is session as of seq (or, when at is set, as of the last record
// stored at or before at), moved by step records of the session: -1 the
// one before it, +1 the one after. seq past the log's head is the head.
func (hs History) stateAt(ctx context.Context, session string, seq uint64, at time.Time, step int) (events.StateAt, error) {
	first, last, err := hs.log.Bounds(ctx)
	if err != nil {
		return events.StateAt{}, err
	}
	ans := events.StateAt{FirstSeq: first, LastSeq: last}
	if last == 0 || (at.IsZero() && seq == 0 && step <= 0) {
		return ans, nil // before any record
	}
	if at.IsZero() && seq > last {
		seq = last
	}
	st := events.NewState()
	// The session's records are folded in one behind the scan: the last
	// one at or before the target waits in pending, so a step back can
	// leave it out.
	var pending, applied *historyRecord
	var tail []*historyRecord // the records applied, the last StateAtRecords of them
	apply := func(r *historyRecord) {
		if r.ev != nil {
			st.Apply(*r.ev)
		} else {
			st.ApplyAudit(*r.a)
		}
		applied = r
		if len(tail) == 2*events.StateAtRecords {
			tail = append(tail[:0], tail[events.StateAtRecords:]...)
		}
		tail = append(tail, r)
	}
	past := func(s uint64, when time.Time) bool {
		if at.IsZero() {
			return s > seq
		}
		return when.After(at)
	}
	err = hs.log.Follow(ctx, first, func(s uint64, record events.Record) error {
		cur := sessionRecord(s, record, session)
		if cur == nil {
			if s >= last {
				return errStop
			}
			return nil
		}
		if past(s, cur.at) {
			if step > 0 && pending != nil {
				apply(pending)
				pending = nil
				apply(cur)
			} else if step > 0 {
				apply(cur)
			}
			return errStop
		}
		if pending != nil {
			apply(pending)
		}
		pending = cur
		if s >= last {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return ans, err
	}
	if pending != nil && step >= 0 {
		apply(pending)
	}
	if applied == nil {
		return ans, nil
	}
	ans.Seq, ans.At = applied.seq, applied.at
	// Encoded as frames once, for the ones answered.
	for _, r := range tail[max(len(tail)-events.StateAtRecords, 0):] {
		ans.Records = append(ans.Records, encodeRecordFrame(r.seq, r.record, frameMarks{}))
	}
	if v, ok := st.Session(session); ok {
		ans.Session = &v
	}
	return ans, nil
}

// historyRecord is one of a session's records, decoded.
type historyRecord struct {
	seq    uint64
	at     time.Time // the callback's time, else when it was stored
	ev     *events.Event
	a      *events.Audit
	record events.Record
}

// sessionRecord is the record at seq if it is about session (nil if
// not): a callback for it, or an audit entry of an action in it.
func sessionRecord(seq uint64, r events.Record, session string) *historyRecord {
	switch {
	case r.Type == events.FrameEvent:
		ev, err := events.DecodeReceived(r.Group, r.Event, r.ReceivedAt)
		if err != nil {
			return nil
		}
		if ev.Session() != session {
			return nil
		}
		out := &historyRecord{seq: seq, at: r.ReceivedAt, ev: &ev, record: r}
		if ev.Timestamp > 0 {
			out.at = time.UnixMilli(ev.Timestamp).UTC()
		}
		return out
	case r.Type == events.FrameAudit && r.Audit != nil && r.Audit.Session == session:
		return &historyRecord{seq: seq, at: r.Audit.At, a: r.Audit, record: r}
	}
	return nil
}
