package relay

import (
	"fmt"
	"strings"
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

// TestCrowdedSessionsAreAnAlert: a join past session_connections raises
// session_crowded once (again only ten minutes later); by default the
// threshold is the session's cap, but only when nothing removes the
// excess: a flag-only cap, or an enforced one with everyone beyond it
// exempt — an enforced cap that can act raises nothing.
func TestCrowdedSessionsAreAnAlert(t *testing.T) {
	join := func(a *alerter, st *events.State, rs events.Rules, sid, id, role string, ts int64) []events.Alert {
		ev := events.Event{Kind: events.ConnectionCreated, SessionID: sid, Timestamp: ts,
			Connection: &events.Connection{ID: id, CreatedAt: ts, Data: `{"name":"` + id + `","role":"` + role + `"}`}}
		st.Apply(ev)
		if al, ok := a.crowdedBy(st, rs, ev); ok {
			return []events.Alert{al}
		}
		return nil
	}
	leave := func(st *events.State, sid, id string, ts int64) {
		st.Apply(events.Event{Kind: events.ConnectionDestroyed, SessionID: sid, Timestamp: ts, Reason: events.ReasonClientDisconnected,
			Connection: &events.Connection{ID: id, CreatedAt: 1}})
	}
	const minute = int64(60_000)

	// An explicit threshold of 3, no cap.
	a, st := newAlerter(AlertsConfig{SessionConnections: 3}), events.NewState()
	var raised []events.Alert
	for i := range 5 {
		raised = append(raised, join(a, st, events.Rules{}, "s", fmt.Sprint("c", i), "viewer", int64(i+1))...)
	}
	if len(raised) != 1 || raised[0].ID != events.AlertSessionCrowded+":s:c3" || !strings.Contains(raised[0].Text, "4 connections, over the alert threshold of 3") {
		t.Fatalf("five joins over a threshold of 3: %+v, want one alert, on the fourth", raised)
	}
	leave(st, "s", "c4", 10)
	leave(st, "s", "c3", 11)
	if got := join(a, st, events.Rules{}, "s", "c5", "viewer", 5*minute); len(got) != 0 {
		t.Errorf("crossing again 5 minutes later: %+v, want nothing (once in 10 minutes)", got)
	}
	leave(st, "s", "c5", 5*minute+1)
	if got := join(a, st, events.Rules{}, "s", "c6", "viewer", 11*minute); len(got) != 1 {
		t.Errorf("crossing again 11 minutes later: %+v, want an alert", got)
	}

	// By default: the cap, when nothing removes the excess.
	for _, tc := range []struct {
		name  string
		rules events.Rules
		role  string // of the joins past the cap
		want  string // in the text; "" for no alert
	}{
		{"flag only", events.Rules{MaxConnections: 2}, "viewer", "over its cap (flagged only: nobody is removed) of 2"},
		{"dry-run", events.Rules{MaxConnections: 2, EnforceCap: true, DryRun: true}, "viewer", "dry-run"},
		{"enforced", events.Rules{MaxConnections: 2, EnforceCap: true, CapExempt: []string{"host"}}, "viewer", ""},
		{"enforced, all exempt", events.Rules{MaxConnections: 2, EnforceCap: true, CapExempt: []string{"host"}}, "host", "everyone beyond it is exempt"},
		{"a session's own cap", events.Rules{SessionCaps: map[string]int{"s": 2}}, "viewer", "of 2"},
		{"no cap", events.Rules{}, "viewer", ""},
	} {
		a, st := newAlerter(AlertsConfig{}), events.NewState()
		var raised []events.Alert
		for i := range 4 {
			role := "host"
			if i >= 2 {
				role = tc.role
			}
			raised = append(raised, join(a, st, tc.rules, "s", fmt.Sprint("c", i), role, int64(i+1))...)
		}
		switch {
		case tc.want == "" && len(raised) != 0:
			t.Errorf("%s: %+v, want no alert", tc.name, raised)
		case tc.want != "" && (len(raised) != 1 || !strings.Contains(raised[0].Text, tc.want)):
			t.Errorf("%s: %+v, want one alert saying %q", tc.name, raised, tc.want)
		}
	}
	never, st := newAlerter(AlertsConfig{SessionConnections: -1}), events.NewState()
	for i := range 3 {
		if got := join(never, st, events.Rules{MaxConnections: 1}, "s", fmt.Sprint("c", i), "viewer", int64(i+1)); len(got) != 0 {
			t.Errorf("session_connections -1 (never), over a flag-only cap of 1: %+v", got)
		}
	}
}
