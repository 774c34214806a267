package relay

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gavelhq/gavel/events"
)

// BannedSignalType is the signal a banned connection gets before it is
// disconnected (data: the ban's reason), so the app can say why.
const BannedSignalType = "gavel-banned"

// DefaultBanIdentity is where a connection's identity is read from, in
// order: the data's userId, else its name. "data" means the whole string.
func DefaultBanIdentity() []string { return []string{"userId", "name"} }

// maxReasonBytes bounds a ban's reason: a sentence for the trail.
const maxReasonBytes = 200

// identityOf is the identity keys find in a connection's data: the first
// non-empty field, or the whole data for the key "data".
func identityOf(data string, keys []string) string {
	c := events.ParseConnectionData(data)
	for _, k := range keys {
		v := ""
		switch k {
		case "data":
			v = strings.TrimSpace(data)
		case "name":
			v = c.Name
		default:
			v = c.Field(k)
		}
		if v != "" {
			return v
		}
	}
	return ""
}

// checkBanIdentity refuses keys that can identify nobody.
func checkBanIdentity(keys []string) error {
	for i, k := range keys {
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("rules.ban_identity[%d]: expected a connection-data field name, or \"data\" for the whole data", i)
		}
	}
	return nil
}

// ban puts a ban in force: on the identity params.match names, or that of
// the command's connection; in the command's session, or every one with
// params.all; for params.for (required, at most events.MaxBanFor).
func (g *Gateway) ban(cmd events.Command, p events.CommandParams, by string) (*events.Ban, string, error) {
	d, err := time.ParseDuration(p.For)
	switch {
	case p.For == "":
		return nil, "", refuse(http.StatusBadRequest, "params.for is required: how long the ban lasts, e.g. 24h (at most %s)", events.MaxBanFor)
	case err != nil || d <= 0:
		return nil, "", refuse(http.StatusBadRequest, "params.for %q: expected a positive duration such as 30m or 24h", p.For)
	case d > events.MaxBanFor:
		return nil, "", refuse(http.StatusBadRequest, "params.for %s: a ban lasts at most %s (720h)", d, events.MaxBanFor)
	}
	identity := strings.TrimSpace(p.Match)
	if identity == "" {
		if cmd.Connection == "" {
			return nil, "", refuse(http.StatusBadRequest, "ban whom: give params.match, or a connection whose data names them")
		}
		var data string
		found := false
		g.state(func(s *events.State) {
			sess, ok := s.Session(cmd.Session)
			for _, c := range sess.Connections {
				if ok && c.ID == cmd.Connection {
					data, found = c.Data, true
				}
			}
		})
		if !found {
			return nil, "", refuse(http.StatusNotFound, "connection %s is not in session %s (it may have left): ban by params.match", cmd.Connection, cmd.Session)
		}
		if identity = identityOf(data, g.banIdentity); identity == "" {
			return nil, "", refuse(http.StatusBadRequest, "connection %s's data has none of %s to ban it by: ban by params.match", cmd.Connection, strings.Join(g.banIdentity, ", "))
		}
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	now := g.now().UTC()
	b := &events.Ban{ID: "ban-" + hex.EncodeToString(id[:]), Identity: identity, Expires: now.Add(d), Reason: p.Reason, By: by, At: now}
	if !p.All {
		b.Session = cmd.Session
	}
	return b, b.ID, nil
}

// unban lifts a ban in force.
func (g *Gateway) unban(p events.CommandParams) (string, error) {
	found := false
	g.state(func(s *events.State) {
		if b, ok := s.Ban(p.Ban); ok && g.now().Before(b.Expires) {
			found = true
		}
	})
	if !found {
		return p.Ban, refuse(http.StatusNotFound, "no ban %s in force (it may have expired or been lifted)", p.Ban)
	}
	return p.Ban, nil
}

// banRemoval removes a banned connection: signal, then disconnect at once.
func (r *rules) banRemoval(sessionID, conn string, b events.Ban, dryRun bool) removal {
	scope := "this session"
	if b.Session == "" {
		scope = "every session"
	}
	detail := fmt.Sprintf("%s is banned from %s until %s by %s", b.Identity, scope, b.Expires.UTC().Format(time.RFC3339), b.By)
	if b.Reason != "" {
		detail += ": " + b.Reason
	}
	return removal{rule: "ban", session: sessionID, conn: conn, detail: detail, signalType: BannedSignalType, signalData: b.Reason,
		dryRun: dryRun}
}

// observeBans queues the removal of a connection that a ban covers, and,
// when a ban is put in force, of every live connection it covers.
func (r *rules) observeBans(st *events.State, ev *events.Event, a *events.Audit) {
	now, dryRun := r.now(), r.current(st).DryRun
	if ev != nil && ev.Kind == events.ConnectionCreated && ev.Connection != nil {
		id := identityOf(ev.Connection.Data, r.cfg.BanIdentity)
		if b, ok := st.BanFor(ev.SessionID, id, now); ok {
			r.enqueue(r.banRemoval(ev.SessionID, ev.Connection.ID, b, dryRun))
		}
		return
	}
	if a == nil || a.Action != events.ActionBan || !a.OK || a.Ban == nil {
		return
	}
	b := *a.Ban
	for _, sess := range st.Sessions() {
		if !sess.Live || b.Session != "" && sess.ID != b.Session {
			continue
		}
		for _, c := range sess.Connections {
			if b.Covers(sess.ID, identityOf(c.Data, r.cfg.BanIdentity), now) {
				r.enqueue(r.banRemoval(sess.ID, c.ID, b, dryRun))
			}
		}
	}
}

// withBan is for the audit entry of a ban command: the ban rides on it.
func withBan(a *events.Audit, data any) any {
	b, ok := data.(*events.Ban)
	if !ok {
		return data
	}
	a.Ban = b
	scope := "session " + b.Session
	if b.Session == "" {
		scope = "every session"
	}
	a.Detail = fmt.Sprintf("%s banned from %s for %s", b.Identity, scope, b.Expires.Sub(b.At).Round(time.Second))
	if b.Reason != "" {
		a.Detail += ": " + b.Reason
	}
	return map[string]any{"ban": b}
}
