package events

import (
	"cmp"
	"slices"
	"time"
)

// Alerts tell someone: the relay raises one when something needs a
// person (a network incident in a session, its host gone with viewers
// left, a recording that failed), as an audit entry of action "alert"
// carrying it; it stays open in every console until a moderator
// acknowledges it with an "ack" entry naming it.

// Alert kinds.
const (
	AlertNetworkIncident = "network_incident" // many networkDisconnected in one session, in a short time
	AlertHostLeft        = "host_left"        // a host's connection ended while viewers remain
	AlertArchiveFailed   = "archive_failed"
	AlertBroadcastFailed = "broadcast_failed"
	AlertSessionCrowded  = "session_crowded" // a session went over alerts.session_connections, or over a cap nobody enforces
	// The relay's own health:
	AlertCredentialsRefused = "credentials_refused" // the Video API refused the relay's credentials
	AlertSignaturesRefused  = "signatures_refused"  // callbacks refused for a bad signature
	AlertWebhookFailing     = "webhook_failing"     // a webhook keeps failing
	AlertRelayBehind        = "relay_behind"        // a relay has not applied its log's records for a while
)

// MaxAlerts bounds the alerts a state keeps (the oldest go first): a
// console shows the recent ones; the trail keeps them all.
const MaxAlerts = 500

// Alert is one alert, open until acknowledged.
type Alert struct {
	// ID is derived from what it is about, so every relay raising the
	// same alert names it alike (and the log takes it once).
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	Session string    `json:"session,omitempty"`
	Text    string    `json:"text"`
	At      time.Time `json:"at"`
	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
}

// applyAlertAudit folds an alert or ack entry in.
func (s *State) applyAlertAudit(a Audit) bool {
	switch {
	case a.Action == ActionAlert && a.Alert != nil && a.Alert.ID != "":
		if s.alerts == nil {
			s.alerts = map[string]*Alert{}
		}
		if _, ok := s.alerts[a.Alert.ID]; ok {
			return false
		}
		al := *a.Alert
		s.alerts[al.ID] = &al
		s.alertOrder = append(s.alertOrder, al.ID)
		if n := len(s.alertOrder); n > MaxAlerts {
			for _, id := range s.alertOrder[:n-MaxAlerts] {
				delete(s.alerts, id)
			}
			s.alertOrder = slices.Delete(s.alertOrder, 0, n-MaxAlerts)
		}
		return true
	case a.Action == ActionAck:
		al, ok := s.alerts[a.Target]
		if !ok || al.AckedBy != "" {
			return false
		}
		al.AckedBy, al.AckedAt = a.Actor, a.At
		return true
	}
	return false
}

// Alerts lists the alerts kept, newest first.
func (s *State) Alerts() []Alert {
	out := make([]Alert, 0, len(s.alerts))
	for _, al := range s.alerts {
		out = append(out, *al)
	}
	slices.SortFunc(out, func(a, b Alert) int { return cmp.Or(b.At.Compare(a.At), cmp.Compare(a.ID, b.ID)) })
	return out
}

// Alert returns the alert with id, while the state keeps it.
func (s *State) Alert(id string) (Alert, bool) {
	al, ok := s.alerts[id]
	if !ok {
		return Alert{}, false
	}
	return *al, true
}

// RestoreAlerts replaces the alerts with a snapshot's (newest first).
func (s *State) RestoreAlerts(alerts []Alert) {
	s.alerts, s.alertOrder = map[string]*Alert{}, nil
	for i := len(alerts) - 1; i >= 0; i-- {
		al := alerts[i]
		s.alerts[al.ID] = &al
		s.alertOrder = append(s.alertOrder, al.ID)
	}
}
