package events

import (
	"fmt"
	"testing"
	"time"
)

// TestAlertsAreKeptBoundedAndAcknowledgedOnce: an alert raised twice is
// kept once; an ack names who; a second ack changes nothing; the state
// keeps the newest MaxAlerts; a snapshot carries them all.
func TestAlertsAreKeptBoundedAndAcknowledgedOnce(t *testing.T) {
	s := NewState()
	at := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	raise := func(id string, i int) bool {
		return s.ApplyAudit(Audit{OK: true, Action: ActionAlert, Alert: &Alert{ID: id, Kind: AlertHostLeft, At: at.Add(time.Duration(i) * time.Second), Text: id}})
	}
	if !raise("a", 0) || raise("a", 0) {
		t.Fatal("an alert raised twice is kept twice, or not at all")
	}
	if !s.ApplyAudit(Audit{OK: true, Action: ActionAck, Actor: "mia", Target: "a", At: at}) ||
		s.ApplyAudit(Audit{OK: true, Action: ActionAck, Actor: "vic", Target: "a", At: at}) {
		t.Fatal("the ack did not take, or a second one did")
	}
	if al, _ := s.Alert("a"); al.AckedBy != "mia" {
		t.Fatalf("acked by %q", al.AckedBy)
	}
	for i := 1; i <= MaxAlerts; i++ {
		raise(fmt.Sprint("x", i), i)
	}
	if _, ok := s.Alert("a"); ok || len(s.Alerts()) != MaxAlerts || s.Alerts()[0].ID != fmt.Sprint("x", MaxAlerts) {
		t.Fatalf("kept %d alerts, oldest still there %v", len(s.Alerts()), ok)
	}
	data, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back := NewState()
	if err := back.UnmarshalJSON(data); err != nil || len(back.Alerts()) != MaxAlerts {
		t.Fatalf("restored %d alerts: %v", len(back.Alerts()), err)
	}
}
