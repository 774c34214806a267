package events

import (
	"cmp"
	"slices"
	"time"
)

// Bans make moderation stick: a banned identity (taken from connection
// data, e.g. a userId or a name) that connects is removed by the relay at
// once, until the ban expires or is lifted. A ban is an audit entry of
// action "ban" carrying the Ban, lifted by one of action "unban" naming
// it: the log is where every console and relay learns of them, and the
// trail says who banned whom and why.

// MaxBanFor is the longest a ban may last: bans always expire, so a
// forgotten one does not lock someone out for ever.
const MaxBanFor = 30 * 24 * time.Hour

// Ban is one ban in force.
type Ban struct {
	ID string `json:"id"`
	// Identity is the value a connection's identity must equal: its
	// userId, name or whole data, whichever the relay's ban_identity
	// finds first (untrusted text: sanitise to show).
	Identity string `json:"identity"`
	// Session is the session it applies to; "" is every session.
	Session string    `json:"session,omitempty"`
	Expires time.Time `json:"expires"`
	Reason  string    `json:"reason,omitempty"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// Covers reports whether the ban applies to identity in sessionID at now.
func (b Ban) Covers(sessionID, identity string, now time.Time) bool {
	return identity != "" && b.Identity == identity && (b.Session == "" || b.Session == sessionID) && now.Before(b.Expires)
}

// applyBanAudit folds a ban or unban entry in; it reports whether the
// bans changed.
func (s *State) applyBanAudit(a Audit) bool {
	switch {
	case a.Action == ActionBan && a.Ban != nil && a.Ban.ID != "":
		if s.bans == nil {
			s.bans = map[string]Ban{}
		}
		s.bans[a.Ban.ID] = *a.Ban
		return true
	case a.Action == ActionUnban:
		if _, ok := s.bans[a.Target]; ok {
			delete(s.bans, a.Target)
			return true
		}
	}
	return false
}

// Bans lists the bans in force at now, soonest to expire first.
func (s *State) Bans(now time.Time) []Ban {
	out := make([]Ban, 0, len(s.bans))
	for _, b := range s.bans {
		if now.Before(b.Expires) {
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b Ban) int { return cmp.Or(a.Expires.Compare(b.Expires), cmp.Compare(a.ID, b.ID)) })
	return out
}

// BanFor is the ban in force at now that covers identity in sessionID.
func (s *State) BanFor(sessionID, identity string, now time.Time) (Ban, bool) {
	for _, b := range s.bans {
		if b.Covers(sessionID, identity, now) {
			return b, true
		}
	}
	return Ban{}, false
}

// Ban returns the ban with id, expired or not, while the state holds it.
func (s *State) Ban(id string) (Ban, bool) {
	b, ok := s.bans[id]
	return b, ok
}

// RestoreBans replaces the bans with those of a snapshot.
func (s *State) RestoreBans(bans []Ban) {
	s.bans = make(map[string]Ban, len(bans))
	for _, b := range bans {
		s.bans[b.ID] = b
	}
}

// pruneBans forgets the bans that expired before before (ms).
func (s *State) pruneBans(before int64) int {
	n := 0
	for id, b := range s.bans {
		if b.Expires.UnixMilli() < before {
			delete(s.bans, id)
			n++
		}
	}
	return n
}
