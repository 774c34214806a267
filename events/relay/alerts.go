package relay

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gavelhq/gavel/events"
)

// AlertsConfig is [relay.alerts]: when the relay raises an alert.
type AlertsConfig struct {
	// NetworkDrops networkDisconnected in one session within
	// NetworkWindow are a network incident (default 10; negative: never).
	NetworkDrops  int
	NetworkWindow time.Duration // default 1m
	// SessionConnections: a join that takes a session over this many
	// connections raises session_crowded. 0 (the default) means the
	// session's cap, when nothing removes the excess (a flag-only or
	// dry-run cap, or everyone beyond it exempt); negative: never.
	SessionConnections int
	// LogLag is how long the relay may be behind its log (a record in
	// the log it has not applied) before it raises relay_behind (default
	// 30s; negative: never).
	LogLag time.Duration
}

// Defaults of AlertsConfig.
const (
	DefaultNetworkDrops  = 10
	DefaultNetworkWindow = time.Minute
	DefaultLogLag        = 30 * time.Second
)

func (c AlertsConfig) withDefaults() AlertsConfig {
	if c.NetworkDrops == 0 {
		c.NetworkDrops = DefaultNetworkDrops
	}
	if c.NetworkWindow == 0 {
		c.NetworkWindow = DefaultNetworkWindow
	}
	if c.LogLag == 0 {
		c.LogLag = DefaultLogLag
	}
	return c
}

func (c AlertsConfig) check() error {
	if c.NetworkWindow < 0 || c.NetworkWindow > time.Hour {
		return fmt.Errorf("alerts.network_window: expected 1s to 1h, got %s", c.NetworkWindow)
	}
	if c.LogLag > 24*time.Hour || c.LogLag > 0 && c.LogLag < time.Second {
		return fmt.Errorf("alerts.log_lag: expected 1s to 24h, or negative for never, got %s", c.LogLag)
	}
	return nil
}

// alerter decides, under the hub's lock, which alerts the events raise.
// Its memory (recent network drops per session) is rebuilt from the live
// records, so two relays raise the same alerts with the same ids.
type alerter struct {
	cfg     AlertsConfig
	drops   map[string][]int64 // session → networkDisconnected times (ms) within the window
	fired   map[string]int64   // session → the window bucket of its last incident
	crowded map[string]int64   // session → when (ms) it last raised session_crowded
}

// crowdedEvery is how often one session may raise session_crowded: a
// session hovering at its threshold would otherwise page at every join.
const crowdedEvery = 10 * time.Minute

func newAlerter(cfg AlertsConfig) *alerter {
	return &alerter{cfg: cfg.withDefaults(), drops: map[string][]int64{}, fired: map[string]int64{}, crowded: map[string]int64{}}
}

// observe returns the alerts ev raises, just applied to st.
func (a *alerter) observe(st *events.State, ev events.Event) []events.Alert {
	at := time.UnixMilli(ev.Timestamp).UTC()
	var out []events.Alert
	switch ev.Kind {
	case events.ConnectionDestroyed:
		if ev.Connection == nil {
			return nil
		}
		if ev.Reason == events.ReasonNetworkDisconnected {
			if al, ok := a.networkDrop(ev.SessionID, ev.Timestamp); ok {
				out = append(out, al)
			}
		}
		cd := events.ParseConnectionData(ev.Connection.Data)
		if strings.EqualFold(cd.Role, "host") {
			if n := st.Counts(ev.SessionID).Connections; n > 0 {
				who := cd.Name
				if who == "" {
					who = ev.Connection.ID
				}
				out = append(out, events.Alert{ID: events.AlertHostLeft + ":" + ev.Connection.ID, Kind: events.AlertHostLeft, Session: ev.SessionID, At: at,
					Text: fmt.Sprintf("host %s left (%s); %d still connected", who, orWord(ev.Reason, "no reason given"), n)})
			}
		}
	case events.ArchiveStatus:
		if ev.Archive != nil && ev.Archive.Status == "failed" {
			out = append(out, events.Alert{ID: events.AlertArchiveFailed + ":" + ev.Archive.ID, Kind: events.AlertArchiveFailed, Session: ev.SessionID, At: at,
				Text: fmt.Sprintf("recording %s failed: %s", orWord(ev.Archive.Name, ev.Archive.ID), orWord(ev.Archive.Reason, "no reason given"))})
		}
	case events.BroadcastStatus:
		if ev.Broadcast != nil && ev.Broadcast.Status == "failed" {
			out = append(out, events.Alert{ID: events.AlertBroadcastFailed + ":" + ev.Broadcast.ID, Kind: events.AlertBroadcastFailed, Session: ev.SessionID, At: at,
				Text: "broadcast " + ev.Broadcast.ID + " failed"})
		}
	}
	return out
}

// networkDrop counts a networkDisconnected at ts (ms) and reports the
// incident the one that reaches the threshold makes: once per window.
func (a *alerter) networkDrop(sid string, ts int64) (events.Alert, bool) {
	if a.cfg.NetworkDrops < 0 {
		return events.Alert{}, false
	}
	window := a.cfg.NetworkWindow.Milliseconds()
	recent := a.drops[sid][:0:0]
	for _, t := range a.drops[sid] {
		if t > ts-window {
			recent = append(recent, t)
		}
	}
	recent = append(recent, ts)
	a.drops[sid] = recent
	bucket := recent[0] / window
	if len(recent) < a.cfg.NetworkDrops || a.fired[sid] == bucket+1 {
		return events.Alert{}, false
	}
	a.fired[sid] = bucket + 1 // +1: the zero value is "never"
	return events.Alert{ID: fmt.Sprintf("%s:%s:%d", events.AlertNetworkIncident, sid, bucket), Kind: events.AlertNetworkIncident, Session: sid,
		At:   time.UnixMilli(ts).UTC(),
		Text: fmt.Sprintf("%d connections lost the network within %s", len(recent), a.cfg.NetworkWindow)}, true
}

// crowdedBy reports the session_crowded alert a join raises, just
// applied to st under the rules rs: the join that takes the session one
// past its threshold (joins are applied one at a time, so every crossing
// passes there), at most once per session in crowdedEvery (by the
// callbacks' clock, so relays on one log agree).
func (a *alerter) crowdedBy(st *events.State, rs events.Rules, ev events.Event) (events.Alert, bool) {
	if ev.Kind != events.ConnectionCreated || ev.Connection == nil || a.cfg.SessionConnections < 0 {
		return events.Alert{}, false
	}
	sid := ev.SessionID
	n := st.Counts(sid).Connections
	limit, why := a.cfg.SessionConnections, "the alert threshold"
	if limit == 0 {
		limit = rs.CapOf(sid)
		if limit == 0 || n != limit+1 {
			return events.Alert{}, false
		}
		sess, _ := st.Session(sid)
		switch {
		case rs.DryRun:
			why = "its cap (dry-run: nobody is removed)"
		case !rs.EnforceCap:
			why = "its cap (flagged only: nobody is removed)"
		case len(excess(sess.Connections, 1, rs.CapExempt)) == 0:
			why = "its cap, and everyone beyond it is exempt"
		default:
			return events.Alert{}, false // the cap removes the excess itself
		}
	}
	if n != limit+1 {
		return events.Alert{}, false
	}
	if last, ok := a.crowded[sid]; ok && ev.Timestamp-last < crowdedEvery.Milliseconds() {
		return events.Alert{}, false
	}
	a.crowded[sid] = ev.Timestamp
	return events.Alert{ID: events.AlertSessionCrowded + ":" + sid + ":" + ev.Connection.ID, Kind: events.AlertSessionCrowded, Session: sid,
		At: time.UnixMilli(ev.Timestamp).UTC(), Text: fmt.Sprintf("%d connections, over %s of %d", n, why, limit)}, true
}

// forget drops what the alerter holds of a session that ended.
func (a *alerter) forget(sid string) {
	delete(a.drops, sid)
	delete(a.fired, sid)
	delete(a.crowded, sid)
}

func orWord(v, dflt string) string {
	if v == "" {
		return dflt
	}
	return v
}

// raise appends an alert to the log: every console sees it at once. Its
// message id is its id, so relays raising the same alert add it once.
func (r *rules) raise(ctx context.Context, al events.Alert) {
	a := events.Audit{At: r.now().UTC(), Actor: "rule:alert", Action: events.ActionAlert, Session: al.Session, Target: al.ID, OK: true,
		Detail: al.Text, Alert: &al}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if _, _, err := r.log.Append(actx, events.Record{Type: events.FrameAudit, Audit: &a}, "alert:"+al.ID); err != nil {
		r.logger.Error("cannot raise an alert", "alert", al.ID, "err", err)
	}
}
