package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gavelhq/gavel/events"
)

// Rules act while nobody watches: the relay evaluates them on the records
// it applies, and what a rule does goes through the gateway, like a
// moderator's command (same Video API handling, same audit trail), with
// actor "rule:<name>".
//
// Several relays on one NATS apply the same records and reach the same
// decisions; each action is claimed first by appending an audit entry
// whose message id is derived from the rule and what it acts on, so the
// log's de-duplication picks the one relay that acts.

// RoomFullSignalType is the signal a connection removed by the cap gets
// before it is disconnected (data: the cap), so the app can say why.
const RoomFullSignalType = "gavel-room-full"

// RulesConfig is [relay.rules].
type RulesConfig struct {
	// MaxConnections caps every session's connections (0 = no cap);
	// SessionCaps overrides it by session id.
	MaxConnections int
	SessionCaps    map[string]int
	// EnforceCap removes the excess; false only flags it (the console's
	// ⚑).
	EnforceCap bool
	// CapGrace is the time between the room-full signal and the
	// disconnect (0 = at once; negative is refused).
	CapGrace time.Duration
	// CapExempt are the roles (connection data "role") the cap never
	// removes, compared without regard to case.
	CapExempt []string
	// BanIdentity is where a connection's identity is read from, the
	// first non-empty wins: connection-data fields, "name", or "data" for
	// the whole string (default DefaultBanIdentity).
	BanIdentity []string
	// DryRun records what the rules would do without doing it.
	DryRun bool
}

// check refuses values the rules cannot work with; errors name the key.
func (c RulesConfig) check() error {
	if err := c.inForce().Check(); err != nil {
		return fmt.Errorf("rules.%w", err)
	}
	return checkBanIdentity(c.BanIdentity)
}

// inForce is the rules set the config puts in force, marked with the
// config's hash (Seed).
func (c RulesConfig) inForce() events.Rules {
	exempt := c.CapExempt
	if len(exempt) == 0 {
		exempt = events.DefaultCapExempt()
	}
	r := events.Rules{MaxConnections: c.MaxConnections, SessionCaps: c.SessionCaps, EnforceCap: c.EnforceCap,
		CapGraceMS: c.CapGrace.Milliseconds(), CapExempt: exempt, DryRun: c.DryRun}
	data, _ := json.Marshal(r) // map keys sorted: the same config, the same bytes
	sum := sha256.Sum256(data)
	r.Seed = hex.EncodeToString(sum[:8])
	return r
}

// configured reports whether the config says anything about the cap.
func (c RulesConfig) configured() bool { return c.MaxConnections > 0 || len(c.SessionCaps) > 0 }

// ruleCommander runs a rule's action as the gateway runs a command.
type ruleCommander interface {
	Handle(ctx context.Context, claims Claims, cmd events.Command) events.Result
}

// rules evaluates the rules on applied records and runs their actions in
// the background: the hub calls observe under its lock, so observe only
// decides and queues.
type rules struct {
	cfg     RulesConfig
	seed    events.Rules // what the config puts in force, until the log says otherwise
	log     *Log
	gateway ruleCommander
	logger  *slog.Logger
	now     func() time.Time

	queue  chan removal
	alerts chan events.Alert
	alert  *alerter
	// watchOnly: no Video API credentials, so no removals (alerts only).
	watchOnly bool
	wg        sync.WaitGroup
}

// removal is one connection a rule removes: claimed (one relay acts),
// signalled, then disconnected grace later.
type removal struct {
	rule, session, conn    string
	detail                 string // why, for the claim's audit entry
	signalType, signalData string
	grace                  time.Duration
	dryRun                 bool // only audit what would be done
}

// ruleQueue bounds the actions waiting to run; one that does not fit is
// dropped with a warning, and the next join in that session decides again
// from the state.
const ruleQueue = 4096

func newRules(cfg RulesConfig, alerts AlertsConfig, log *Log, gateway ruleCommander, logger *slog.Logger) *rules {
	if len(cfg.BanIdentity) == 0 {
		cfg.BanIdentity = DefaultBanIdentity()
	}
	return &rules{cfg: cfg, seed: cfg.inForce(), log: log, gateway: gateway, logger: logger.With("component", "rules"), now: time.Now,
		queue: make(chan removal, ruleQueue), alerts: make(chan events.Alert, ruleQueue), alert: newAlerter(alerts)}
}

// current is the rules set in force: the log's latest, else the config's.
func (r *rules) current(st *events.State) events.Rules {
	if in, ok := st.Rules(); ok {
		return in.Rules
	}
	return r.seed
}

// observe decides what the rules do about ev or a, just applied to st,
// and queues it. Called by the hub under its lock, only for records
// applied live (not while catching up with the log at start: the state
// then is the past's).
func (r *rules) observe(st *events.State, ev *events.Event, a *events.Audit) {
	r.observeBans(st, ev, a)
	if ev != nil {
		rs := r.current(st)
		r.observeCap(st, rs, *ev)
		raised := r.alert.observe(st, *ev)
		if al, ok := r.alert.crowdedBy(st, rs, *ev); ok {
			raised = append(raised, al)
		}
		for _, al := range raised {
			select {
			case r.alerts <- al:
			default:
				r.logger.Warn("rule actions queue full: dropping an alert", "alert", al.ID)
			}
		}
		if ev.Kind == events.SessionDestroyed {
			r.alert.forget(ev.SessionID)
		}
	}
}

// enqueue queues a removal without ever blocking the hub.
func (r *rules) enqueue(rm removal) {
	if r.watchOnly {
		return
	}
	select {
	case r.queue <- rm:
	default:
		r.logger.Warn("rule actions queue full: dropping a removal; the next join decides again", "rule", rm.rule, "session", rm.session, "connection", rm.conn)
	}
}

func (r *rules) observeCap(st *events.State, rs events.Rules, ev events.Event) {
	if ev.Kind != events.ConnectionCreated || !rs.EnforceCap && !rs.DryRun {
		return
	}
	limit := rs.CapOf(ev.SessionID)
	if limit == 0 {
		return
	}
	n := st.Counts(ev.SessionID).Connections
	if n <= limit {
		return
	}
	sess, ok := st.Session(ev.SessionID)
	if !ok {
		return
	}
	detail := fmt.Sprintf("%d connections, over the cap of %d: the newest non-exempt leaves", n, limit)
	if rs.CapGrace() > 0 {
		detail += fmt.Sprintf("; signalled %s, disconnecting in %s", RoomFullSignalType, rs.CapGrace())
	}
	for _, id := range excess(sess.Connections, n-limit, rs.CapExempt) {
		r.enqueue(removal{rule: "cap", session: ev.SessionID, conn: id, detail: detail,
			signalType: RoomFullSignalType, signalData: strconv.Itoa(limit), grace: rs.CapGrace(), dryRun: rs.DryRun})
	}
}

// excess is the newest n connections whose role is not exempt, newest
// first. conns are in the order the state lists them (by CreatedAt).
func excess(conns []events.ConnectionState, n int, exempt []string) []string {
	var out []string
	for i := len(conns) - 1; i >= 0 && len(out) < n; i-- {
		role := events.ParseConnectionData(conns[i].Data).Role
		if !slices.ContainsFunc(exempt, func(e string) bool { return strings.EqualFold(e, role) }) {
			out = append(out, conns[i].ID)
		}
	}
	return out
}

// run carries out queued actions until ctx ends, several at once (each
// waits out its grace), and waits for those in flight.
func (r *rules) run(ctx context.Context) {
	sem := make(chan struct{}, 16)
	defer r.wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case al := <-r.alerts:
			r.raise(ctx, al)
		case rm := <-r.queue:
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			r.wg.Go(func() {
				defer func() { <-sem }()
				r.remove(ctx, rm)
			})
		}
	}
}

// remove claims the removal (one relay acts: the claim's message id names
// the rule, the session and the connection), then signals and, after the
// grace, disconnects, through the gateway, as actor "rule:<name>". A
// dry-run claim says what would have happened and stops there.
func (r *rules) remove(ctx context.Context, rm removal) {
	actor := "rule:" + rm.rule
	detail := rm.detail
	if rm.dryRun {
		detail = "dry-run: would signal " + rm.signalType + " and disconnect (" + detail + ")"
	}
	claim := events.Audit{At: r.now().UTC(), Actor: actor, Action: rm.rule, Session: rm.session, Target: rm.conn, OK: true, Detail: detail}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	_, dup, err := r.log.Append(actx, events.Record{Type: events.FrameAudit, Audit: &claim}, actor+":"+rm.session+":"+rm.conn)
	cancel()
	switch {
	case err != nil:
		r.logger.Error("rule: cannot claim the removal", "rule", rm.rule, "session", rm.session, "connection", rm.conn, "err", err)
		return
	case dup:
		return // claimed before: by another relay, or by an earlier record here
	case rm.dryRun:
		return
	}
	claims := Claims{Name: actor, Role: events.RoleModerator}
	params, _ := json.Marshal(events.CommandParams{Type: rm.signalType, Data: rm.signalData})
	r.gateway.Handle(ctx, claims, events.Command{Type: events.FrameCommand, ID: rm.rule + "-signal-" + rm.conn, Action: events.ActionSignal,
		Session: rm.session, Connection: rm.conn, Params: params})
	if rm.grace > 0 {
		t := time.NewTimer(rm.grace)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	r.gateway.Handle(ctx, claims, events.Command{Type: events.FrameCommand, ID: rm.rule + "-disconnect-" + rm.conn, Action: events.ActionDisconnect,
		Session: rm.session, Connection: rm.conn})
}
