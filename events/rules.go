package events

import (
	"fmt"
	"strings"
	"time"
)

// Rules are what the relay enforces while nobody watches, besides bans:
// today, a cap on a session's connections. They live in the log, so every
// relay and console on it agrees on them and a restart keeps them: an
// audit entry of action "rules" carries the whole set (Audit.Rules), and
// the latest one is in force. A relay puts its [relay.rules] in force at
// start when they differ from those it (or another) last put there from
// config (Seed); a change made live (`gavel rules set`, the rules action)
// stands until then.
type Rules struct {
	// MaxConnections caps every session's connections (0 = no cap);
	// SessionCaps overrides it by session id.
	MaxConnections int            `json:"max_connections"`
	SessionCaps    map[string]int `json:"session_caps,omitempty"`
	// EnforceCap removes the excess; false only flags it.
	EnforceCap bool `json:"enforce_cap"`
	// CapGraceMS is the time between the room-full signal and the
	// disconnect, in ms.
	CapGraceMS int64 `json:"cap_grace_ms"`
	// CapExempt are the connection-data roles the cap never removes.
	CapExempt []string `json:"cap_exempt,omitempty"`
	// DryRun audits what the rules would do, and does nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// Seed marks a set a relay put in force from its config: the hash of
	// that config ("" for a change made live).
	Seed string `json:"seed,omitempty"`
}

// The cap's defaults: the config's, and a console's first rules.
const DefaultCapGrace = 2 * time.Second

// DefaultCapExempt are the connection-data roles the cap never removes
// unless told otherwise.
func DefaultCapExempt() []string { return []string{"host", "moderator", "panelist"} }

// DefaultRules are the rules a console edits when none are in the log
// yet: no cap, and the cap's defaults for when one is set.
func DefaultRules() Rules {
	return Rules{CapGraceMS: DefaultCapGrace.Milliseconds(), CapExempt: DefaultCapExempt()}
}

// RulesInForce is the set in force, with who put it there and when.
type RulesInForce struct {
	Rules Rules     `json:"rules"`
	By    string    `json:"by"`
	At    time.Time `json:"at"`
}

// CapOf is a session's cap, 0 for none.
func (r Rules) CapOf(sessionID string) int {
	if n, ok := r.SessionCaps[sessionID]; ok {
		return n
	}
	return r.MaxConnections
}

// CapGrace is CapGraceMS as a duration.
func (r Rules) CapGrace() time.Duration { return time.Duration(r.CapGraceMS) * time.Millisecond }

// Check refuses values the relay cannot work with; errors name the field
// as the config file spells it.
func (r Rules) Check() error {
	if r.MaxConnections < 0 {
		return fmt.Errorf("max_connections: expected 0 (no cap) or more, got %d", r.MaxConnections)
	}
	for id, n := range r.SessionCaps {
		if n < 1 {
			return fmt.Errorf("session_caps[%q]: expected at least 1, got %d", id, n)
		}
	}
	if g := r.CapGrace(); g < 0 || g > time.Minute {
		return fmt.Errorf("cap_grace: expected 0s to 1m, got %s", g)
	}
	for i, role := range r.CapExempt {
		if strings.TrimSpace(role) == "" {
			return fmt.Errorf("cap_exempt[%d]: expected a role, got an empty one", i)
		}
	}
	return nil
}

// Summary says the rules in a few words, for the audit trail.
func (r Rules) Summary() string {
	if r.MaxConnections == 0 && len(r.SessionCaps) == 0 {
		return "no cap"
	}
	var b strings.Builder
	if r.MaxConnections > 0 {
		fmt.Fprintf(&b, "cap %d", r.MaxConnections)
	} else {
		b.WriteString("no cap")
	}
	if n := len(r.SessionCaps); n > 0 {
		fmt.Fprintf(&b, " (+%d per-session)", n)
	}
	switch {
	case r.DryRun:
		b.WriteString(", dry-run")
	case r.EnforceCap:
		fmt.Fprintf(&b, ", enforced after %s", r.CapGrace())
	default:
		b.WriteString(", flagged only")
	}
	return b.String()
}

// applyRulesAudit folds a rules entry in.
func (s *State) applyRulesAudit(a Audit) bool {
	if a.Rules == nil {
		return false
	}
	s.rules = &RulesInForce{Rules: *a.Rules, By: a.Actor, At: a.At}
	if a.Rules.Seed != "" {
		s.rulesSeed = a.Rules.Seed
	}
	return true
}

// Rules is the set in force, if any was ever put in the log.
func (s *State) Rules() (RulesInForce, bool) {
	if s.rules == nil {
		return RulesInForce{}, false
	}
	return *s.rules, true
}

// RulesSeed is the Seed of the last set put in force from a config.
func (s *State) RulesSeed() string { return s.rulesSeed }

// RestoreRules replaces the rules with a snapshot's.
func (s *State) RestoreRules(r *RulesInForce, seed string) {
	s.rules, s.rulesSeed = nil, seed
	if r != nil {
		c := *r
		s.rules = &c
	}
}
