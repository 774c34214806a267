package relayclient

import (
	"fmt"

	"github.com/gavelhq/gavel/events"
)

// Mirror keeps an events.State in step with a relay's frames, as a
// console does: a snapshot (once all its parts are in) replaces the
// state with the relay's own, restored directly (events.RestoreState),
// and every event after it is applied with the same reducer the relay
// runs, so the two stay equal. Feed it every frame Run hands on; it is
// not safe for concurrent use.
type Mirror struct {
	// State is the picture so far; a snapshot replaces it with a new one.
	State *events.State
	// Seq is the last seq applied (a snapshot's counts), Epoch the log's.
	Seq   uint64
	Epoch string
	// Err says why the last snapshot was refused (it contradicted itself:
	// the relay's state file or memory is damaged); the state before it
	// is kept. Nil once a snapshot is restored.
	Err error

	pending []events.Session // parts of a snapshot not yet complete
}

// NewMirror returns a mirror of an empty state.
func NewMirror() *Mirror { return &Mirror{State: events.NewState()} }

// Apply folds one frame in and reports whether the picture may have
// changed. An event whose body does not decode is skipped, as the relay
// skips it.
func (m *Mirror) Apply(f Frame) bool {
	switch {
	case f.Hello != nil:
		m.Epoch = f.Hello.Epoch
		m.pending = nil // a snapshot cut short by a drop is sent again whole
	case f.Snapshot != nil:
		if f.Snapshot.Part <= 1 {
			m.pending = m.pending[:0]
		}
		m.pending = append(m.pending, f.Snapshot.Sessions...)
		if f.Snapshot.Part >= f.Snapshot.Parts {
			st, err := events.RestoreState(m.pending)
			m.Seq = f.Snapshot.Seq
			m.pending = nil
			if err != nil {
				m.Err = fmt.Errorf("snapshot at seq %d: %w", f.Snapshot.Seq, err)
				return false
			}
			st.RestoreBans(f.Snapshot.Bans)
			st.RestoreRules(f.Snapshot.Rules, "")
			st.RestoreAlerts(f.Snapshot.Alerts)
			m.State, m.Err = st, nil
			return true
		}
	case f.Event != nil:
		// A "superseded" mark needs no attention: the restored state has
		// the tombstones the relay marked it by. A "duplicate" repeats
		// what was applied already: the relay did not apply it either.
		m.Seq = f.Event.Seq
		if f.Event.Duplicate {
			return false
		}
		ev, ok := f.DecodedEvent()
		return ok && m.State.Apply(*ev)
	case f.Audit != nil:
		m.Seq = f.Audit.Seq
		return m.State.ApplyAudit(f.Audit.Audit)
	}
	return false
}
