package relay

import (
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
)

// TestAlerterRaisesWhatNeedsAPerson: a host leaving an empty session is no
// alert, leaving viewers behind is; network drops raise an incident once
// per window, not before the threshold; a failed recording is an alert.
func TestAlerterRaisesWhatNeedsAPerson(t *testing.T) {
	a := newAlerter(AlertsConfig{NetworkDrops: 3, NetworkWindow: time.Minute})
	st := events.NewState()
	apply := func(ev events.Event) []events.Alert {
		st.Apply(ev)
		return a.observe(st, ev)
	}
	conn := func(kind events.Kind, sid, id, data, reason string, ts int64) events.Event {
		return events.Event{Kind: kind, SessionID: sid, Timestamp: ts, Reason: reason, Connection: &events.Connection{ID: id, CreatedAt: 1, Data: data}}
	}
	host := `{"name":"Dana","role":"host"}`
	apply(conn(events.ConnectionCreated, "alone", "h1", host, "", 1))
	if got := apply(conn(events.ConnectionDestroyed, "alone", "h1", host, events.ReasonClientDisconnected, 2)); len(got) != 0 {
		t.Errorf("a host leaving an empty session: %+v", got)
	}
	apply(conn(events.ConnectionCreated, "full", "h2", host, "", 1))
	apply(conn(events.ConnectionCreated, "full", "v1", `{"name":"V"}`, "", 1))
	if got := apply(conn(events.ConnectionDestroyed, "full", "h2", host, events.ReasonClientDisconnected, 3)); len(got) != 1 || got[0].Kind != events.AlertHostLeft {
		t.Errorf("a host leaving a viewer behind: %+v", got)
	}

	var raised []events.Alert
	for i, ts := range []int64{10_000, 20_000, 30_000, 40_000, 130_000, 140_000, 150_000} {
		id := string(rune('a' + i))
		apply(conn(events.ConnectionCreated, "net", id, "", "", ts-1))
		raised = append(raised, apply(conn(events.ConnectionDestroyed, "net", id, "", events.ReasonNetworkDisconnected, ts))...)
	}
	if len(raised) != 2 || raised[0].ID == raised[1].ID {
		t.Errorf("drops at 10,20,30,40 s and 130,140,150 s with 3 a minute: %+v, want one incident per window", raised)
	}

	failed := events.Event{Kind: events.ArchiveStatus, SessionID: "s", Timestamp: 5, Archive: &events.Archive{ID: "ar1", Status: "failed", Reason: "no space"}}
	if got := apply(failed); len(got) != 1 || got[0].ID != events.AlertArchiveFailed+":ar1" {
		t.Errorf("a failed recording: %+v", got)
	}
}
