package events

import (
	"testing"
	"time"
)

// TestBansCoverTheirScopeUntilTheyExpire: a ban covers its identity in
// its session (or every session) until it expires; a lift ends it; a
// snapshot carries the bans; pruning forgets the long expired.
func TestBansCoverTheirScopeUntilTheyExpire(t *testing.T) {
	at := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	s := NewState()
	s.ApplyAudit(Audit{OK: true, Action: ActionBan, Ban: &Ban{ID: "b1", Identity: "Troll", Session: "s1", Expires: at.Add(time.Hour)}})
	s.ApplyAudit(Audit{OK: true, Action: ActionBan, Ban: &Ban{ID: "b2", Identity: "Spam", Expires: at.Add(2 * time.Hour)}})
	s.ApplyAudit(Audit{OK: false, Action: ActionBan, Ban: &Ban{ID: "b3", Identity: "Refused", Expires: at.Add(time.Hour)}})
	for _, tc := range []struct {
		session, identity string
		now               time.Time
		want              bool
	}{
		{"s1", "Troll", at, true},
		{"s2", "Troll", at, false}, // another session
		{"s2", "Spam", at, true},   // every session
		{"s1", "Troll", at.Add(time.Hour), false},
		{"s1", "Refused", at, false}, // a refused ban is none
		{"s1", "", at, false},
	} {
		if _, got := s.BanFor(tc.session, tc.identity, tc.now); got != tc.want {
			t.Errorf("BanFor(%s, %q, +%s) = %v, want %v", tc.session, tc.identity, tc.now.Sub(at), got, tc.want)
		}
	}
	if n := len(s.Bans(at.Add(90 * time.Minute))); n != 1 {
		t.Errorf("%d bans in force after the first expired, want 1", n)
	}
	data, _ := s.MarshalJSON()
	back := NewState()
	if err := back.UnmarshalJSON(data); err != nil || len(back.Bans(at)) != 2 {
		t.Fatalf("snapshot: %d bans, %v", len(back.Bans(at)), err)
	}
	s.ApplyAudit(Audit{OK: true, Action: ActionUnban, Target: "b2"})
	if _, ok := s.BanFor("s2", "Spam", at); ok {
		t.Error("a lifted ban still covers")
	}
	s.Prune(at.Add(3 * time.Hour).UnixMilli())
	if _, ok := s.Ban("b1"); ok {
		t.Error("pruning kept a ban expired before its horizon")
	}
}
