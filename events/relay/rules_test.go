package relay_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

// logRecords reads every record of r's log so far.
func logRecords(t testing.TB, r *testRelay) []events.Record {
	t.Helper()
	last := r.lastSeq(t)
	var out []events.Record
	if last == 0 {
		return nil
	}
	err := r.srv.Log().Follow(t.Context(), 1, func(seq uint64, rec events.Record) error {
		out = append(out, rec)
		if seq >= last {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatal(err)
	}
	return out
}

// TestCapRemovesTheNewestBeyondIt is the seed's "limit the maximum number
// of users in a session", enforced while nobody watches: a classroom of a
// teacher and 25 students under max_connections = 20 ends with exactly 20
// connections in the emulator's own truth; the six removed are the newest
// joiners, each signalled gavel-room-full and then disconnected, each step
// audited as rule:cap — once, though two relays on one NATS both see every
// join. With enforce_cap = false nobody is removed.
func TestCapRemovesTheNewestBeyondIt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		enforce bool
		relays  int
	}{{"enforced by two relays", true, 2}, {"flag only", false, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			rules := relay.RulesConfig{MaxConnections: 20, EnforceCap: tc.enforce, CapGrace: 100 * time.Millisecond}
			ns := startNATSServer(t)
			secret := e2eSecret(t)
			lnA, lnB := listenLoopback(t), listenLoopback(t)
			lns := []string{httpBase(lnA), httpBase(lnB)}
			lb, rr := newRoundRobin(t, lns[:tc.relays]...)
			emu := newEmulator(t, lb.URL, lb.URL, opentoktest.WithSeed(41))
			client, closeIdle := newEmulatorClient(t, emu)
			relays := []*testRelay{startRelay(t, lnA, relay.Config{Name: "relay-a", NatsURL: ns.ClientURL(), Secret: secret, Rules: rules}, client)}
			if tc.relays == 2 {
				relays = append(relays, startRelay(t, lnB, relay.Config{Name: "relay-b", NatsURL: ns.ClientURL(), Secret: secret, Rules: rules}, client))
			} else {
				lnB.Close()
			}
			beforeRelaysStop(t, closeIdle, func() { _ = emu.Close() }, lb.Close, rr.tr.CloseIdleConnections)

			done, errs := runScenarios(t.Context(), emu, opentoktest.Classroom{Seed: 41, Speed: 200, Duration: 4 * time.Minute})
			waitScenarios(t, done, errs, 30*time.Second)
			flush(t, emu, 30*time.Second)
			classroom := func() opentoktest.SessionState {
				for _, s := range emu.Sessions() {
					if s.Live {
						return s
					}
				}
				t.Fatal("no live session: the classroom is gone")
				return opentoktest.SessionState{}
			}
			want := 26
			if tc.enforce {
				want = 20
			}
			waitFor(t, 20*time.Second, "the classroom to settle", func() bool { return len(classroom().Connections) == want })
			flush(t, emu, 30*time.Second)
			// Every removal was claimed when its join was applied, before
			// its disconnect; the disconnect's audit is the last step.
			if tc.enforce {
				waitFor(t, 10*time.Second, "the removals' audit entries", func() bool {
					n := 0
					for _, rec := range logRecords(t, relays[0]) {
						if rec.Type == events.FrameAudit && rec.Audit.Actor == "rule:cap" && rec.Audit.Action == events.ActionDisconnect {
							n++
						}
					}
					return n >= 26-want
				})
			}
			waitFor(t, 10*time.Second, "the relays to apply the whole log", func() bool {
				for _, r := range relays {
					if r.srv.Hub().Applied() < r.lastSeq(t) {
						return false
					}
				}
				return true
			})

			// The joins, by when they connected, and what the rule did.
			type join struct {
				id        string
				createdAt int64
			}
			var joins []join
			byAction := map[string][]string{}
			var crowded []events.Alert
			for _, rec := range logRecords(t, relays[0]) {
				if rec.Type == events.FrameAudit && rec.Audit.Alert != nil && rec.Audit.Alert.Kind == events.AlertSessionCrowded {
					crowded = append(crowded, *rec.Audit.Alert)
				}
				switch rec.Type {
				case events.FrameEvent:
					ev, err := events.Decode(rec.Group, rec.Event)
					if err == nil && ev.Kind == events.ConnectionCreated && rec.Source == events.SourceCallback {
						joins = append(joins, join{ev.Connection.ID, ev.Connection.CreatedAt})
					}
				case events.FrameAudit:
					if a := rec.Audit; a.Actor == "rule:cap" {
						if !a.OK {
							t.Errorf("rule:cap %s of %s failed: %s", a.Action, a.Target, a.Error)
						}
						byAction[a.Action] = append(byAction[a.Action], a.Target)
					}
				}
			}
			if len(joins) != 26 {
				t.Fatalf("%d joins in the log, want 26", len(joins))
			}
			// A cap nobody enforces is an alert, once; an enforced one
			// fixes itself, and is none.
			if !tc.enforce {
				if len(byAction) != 0 {
					t.Errorf("enforce_cap = false, yet the rule acted: %v", byAction)
				}
				if len(crowded) != 1 || !strings.Contains(crowded[0].Text, "21 connections, over its cap (flagged only") {
					t.Errorf("session_crowded alerts %+v, want one: the 21st join past the flag-only cap", crowded)
				}
				return
			}
			if len(crowded) != 0 {
				t.Errorf("session_crowded alerts %+v under an enforced cap that removes the excess", crowded)
			}
			slices.SortFunc(joins, func(a, b join) int { return int(b.createdAt - a.createdAt) })
			var newest []string
			for _, j := range joins[:6] {
				newest = append(newest, j.id)
			}
			for _, action := range []string{"cap", events.ActionSignal, events.ActionDisconnect} {
				got := slices.Sorted(slices.Values(byAction[action]))
				if !slices.Equal(got, slices.Sorted(slices.Values(newest))) {
					t.Errorf("rule:cap %s audited for %v; want once for each of the six newest %v", action, byAction[action], newest)
				}
			}
			for _, c := range classroom().Connections {
				if slices.Contains(newest, c.ID) {
					t.Errorf("%s, among the six newest, is still connected", c.ID)
				}
			}
			raw, _ := json.Marshal(byAction)
			t.Logf("rule:cap audit: %s", raw)
		})
	}
}

// logLines is a relay's log output, read while it writes.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Contains(l.buf.String(), s)
}

// rulesOf is the relay's rules in force.
func rulesOf(r *testRelay) (events.RulesInForce, bool) {
	var in events.RulesInForce
	var ok bool
	r.srv.Hub().State(func(s *events.State) { in, ok = s.Rules() })
	return in, ok
}

// TestRulesLiveInTheLog: [relay.rules] is put in force through the log;
// a moderator changes the rules live and the cap follows at once; a relay
// that starts later with the same config (a restart, another instance)
// keeps the live change; one with a changed config puts the new config in
// force. Each change is audited with who made it.
func TestRulesLiveInTheLog(t *testing.T) {
	ns := startNATSServer(t)
	secret := e2eSecret(t)
	lnA := listenLoopback(t)
	emu := newEmulator(t, httpBase(lnA), httpBase(lnA))
	client, closeIdle := newEmulatorClient(t, emu)
	config := relay.RulesConfig{MaxConnections: 20, EnforceCap: true}
	start := func(ln net.Listener, name string, rules relay.RulesConfig) (*testRelay, *logLines) {
		logs := &logLines{}
		r := startRelay(t, ln, relay.Config{Name: name, NatsURL: ns.ClientURL(), Secret: secret, Rules: rules,
			Logger: slog.New(slog.NewTextHandler(logs, nil))}, client)
		return r, logs
	}
	a, _ := start(lnA, "relay-a", config)
	beforeRelaysStop(t, closeIdle, func() { _ = emu.Close() })
	waitFor(t, 10*time.Second, "the config's rules in force", func() bool {
		in, ok := rulesOf(a)
		return ok && in.By == "config:relay-a" && in.Rules.MaxConnections == 20
	})

	mod := startConsole(t, a.wsURL, secret, "mia", consoleOptions{role: events.RoleModerator})
	params, _ := json.Marshal(events.CommandParams{Rules: &events.Rules{MaxConnections: 2, EnforceCap: true}})
	res := mod.command(t, events.Command{Type: events.FrameCommand, ID: "r1", Action: events.ActionRules, Params: params}, 30*time.Second)
	if !res.OK {
		t.Fatalf("rules: %+v", res.Error)
	}
	waitFor(t, 10*time.Second, "the live change in force", func() bool {
		in, ok := rulesOf(a)
		return ok && in.By == "mia" && in.Rules.MaxConnections == 2
	})
	sess, err := client.Sessions.Create(t.Context(), opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	var people []*opentoktest.Participant
	for i := range 3 {
		tok, err := client.Token(sess.ID, opentok.TokenOptions{Data: fmt.Sprintf(`{"name":"P%d"}`, i)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := emu.Join(sess.ID, tok.Value)
		if err != nil {
			t.Fatal(err)
		}
		people = append(people, p)
		waitFor(t, 10*time.Second, "the relay to see the join", func() bool {
			var n int
			a.srv.Hub().State(func(s *events.State) { n = s.Counts(sess.ID).Connections })
			return n == i+1 || i == 2
		})
	}
	waitFor(t, 10*time.Second, "the third, over the live cap of 2, to be removed", func() bool {
		connected, _ := people[2].Connected()
		return !connected
	})
	for _, p := range people[:2] {
		if connected, _ := p.Connected(); !connected {
			t.Errorf("%s, within the cap, was removed", p.ConnectionID())
		}
	}

	// The same config again: the live change stands.
	b, bLogs := start(listenLoopback(t), "relay-b", config)
	waitFor(t, 10*time.Second, "relay-b's decision on its config", func() bool { return bLogs.has("the log's are in force") })
	if in, _ := rulesOf(b); in.By != "mia" || in.Rules.MaxConnections != 2 {
		t.Errorf("after a relay with the same config started, the rules are %+v by %s; want mia's cap of 2", in.Rules, in.By)
	}
	// A changed config: put in force.
	changed := config
	changed.MaxConnections = 5
	c, _ := start(listenLoopback(t), "relay-c", changed)
	waitFor(t, 10*time.Second, "the changed config in force", func() bool {
		in, ok := rulesOf(c)
		return ok && in.By == "config:relay-c" && in.Rules.MaxConnections == 5
	})
	var trail []string
	for _, rec := range logRecords(t, a) {
		if rec.Type == events.FrameAudit && rec.Audit.Action == events.ActionRules {
			trail = append(trail, rec.Audit.Actor+": "+rec.Audit.Detail)
		}
	}
	want := []string{"config:relay-a: from [relay.rules]: cap 20, enforced after 0s", "mia: cap 2, enforced after 0s", "config:relay-c: from [relay.rules]: cap 5, enforced after 0s"}
	if !slices.Equal(trail, want) {
		t.Errorf("rules trail %q, want %q", trail, want)
	}
}
