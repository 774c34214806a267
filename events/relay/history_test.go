package relay_test

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

// liveRecord is what a console following the live stream saw right after
// one record: which session it was about and that session then.
type liveRecord struct {
	seq     uint64
	session string
	view    string // the session's JSON
}

// recordLive follows the relay from the empty log and notes, after each
// record about a session, that session as the console's mirror has it.
func recordLive(t *testing.T, wsURL string, secret []byte) (records func() []liveRecord) {
	t.Helper()
	var mu sync.Mutex
	var out []liveRecord
	mirror := relayclient.NewMirror()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- relayclient.Run(ctx, relayclient.Config{URL: wsURL, Token: mintToken(t, secret, "recorder", events.RoleViewer)}, func(f relayclient.Frame) error {
			mirror.Apply(f)
			var sid string
			switch {
			case f.Event != nil:
				ev, err := events.DecodeReceived(f.Event.Group, f.Event.Event, f.Event.ReceivedAt)
				if err != nil {
					return nil
				}
				sid = ev.Session()
			case f.Audit != nil:
				sid = f.Audit.Audit.Session
			}
			if sid == "" {
				return nil
			}
			s, ok := mirror.State.Session(sid)
			if !ok {
				return nil
			}
			raw, _ := json.Marshal(s)
			mu.Lock()
			out = append(out, liveRecord{seq: f.Seq(), session: sid, view: string(raw)})
			mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("recorder: %v", err)
		}
	})
	return func() []liveRecord {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(out)
	}
}

// stateAt asks the relay, as a viewer, for session after seq.
func stateAt(t *testing.T, c *console, session string, seq uint64, step int) events.StateAt {
	t.Helper()
	params, _ := json.Marshal(events.CommandParams{Seq: seq, Step: step})
	res := c.command(t, events.Command{Type: "command", ID: strconv.FormatUint(rand.Uint64(), 36), Action: events.ActionStateAt, Session: session, Params: params}, 20*time.Second)
	if !res.OK {
		t.Fatalf("state_at %s seq %d step %d: %+v", session, seq, step, res.Error)
	}
	var ans events.StateAt
	if err := json.Unmarshal(res.Data, &ans); err != nil {
		t.Fatal(err)
	}
	return ans
}

func viewJSON(s *events.Session) string {
	if s == nil {
		return "null"
	}
	raw, _ := json.Marshal(s)
	return string(raw)
}

// TestStateAtEqualsWhatAConsoleSawLive: for a seeded emulator run, a
// session's state that the relay rebuilds at 50 random records is the
// state a console following the live stream had right after each; a step
// back from a record is the session's record before it, and stepping back
// then forward returns exactly to where it started.
func TestStateAtEqualsWhatAConsoleSawLive(t *testing.T) {
	ln := listenLoopback(t)
	emu := newEmulator(t, httpBase(ln), httpBase(ln), opentoktest.WithTimeScale(100), opentoktest.WithSeed(31))
	client, closeIdle := newEmulatorClient(t, emu)
	r := startRelay(t, ln, relay.Config{Name: "relay-history", CommandRate: 1000, CommandBurst: 1000}, client)
	beforeRelaysStop(t, closeIdle, func() { _ = emu.Close() })
	live := recordLive(t, r.wsURL, r.secret)
	asker := startConsole(t, r.wsURL, r.secret, "asker", consoleOptions{})
	waitFor(t, 10*time.Second, "the asker's snapshot", func() bool { return len(asker.positionList()) > 0 })

	const duration = 240 * time.Second
	done, errs := runScenarios(t.Context(), emu, standardScenarios(31, 2, e2eSpeed, duration)...)
	waitScenarios(t, done, errs, scenarioWait(duration))
	flush(t, emu, 30*time.Second)
	last := r.lastSeq(t)
	waitFor(t, 20*time.Second, "the recorder to catch up", func() bool {
		recs := live()
		return len(recs) > 0 && recs[len(recs)-1].seq >= last-5
	})
	recs := live()
	if len(recs) < 200 {
		t.Fatalf("only %d records about sessions: the run is too small to test replay", len(recs))
	}
	rng := rand.New(rand.NewPCG(31, 1))
	for range 50 {
		i := rng.IntN(len(recs))
		want := recs[i]
		got := stateAt(t, asker, want.session, want.seq, 0)
		if got.Seq != want.seq || viewJSON(got.Session) != want.view {
			t.Fatalf("session %s at seq %d:\nreplayed (seq %d) %s\nlive %s", want.session, want.seq, got.Seq, viewJSON(got.Session), want.view)
		}
		// The moment's tail: the session's records up to it, the last one
		// the record itself.
		if n := len(got.Records); n == 0 || n > events.StateAtRecords {
			t.Fatalf("seq %d: %d records in the tail", want.seq, n)
		}
		if f, err := relayclient.ParseFrame(got.Records[len(got.Records)-1]); err != nil || f.Seq() != want.seq {
			t.Fatalf("seq %d: the tail ends with %v (%v)", want.seq, f.Seq(), err)
		}
		// One step back is the session's record before it.
		var prev *liveRecord
		for j := i - 1; j >= 0; j-- {
			if recs[j].session == want.session {
				prev = &recs[j]
				break
			}
		}
		back := stateAt(t, asker, want.session, want.seq, -1)
		switch {
		case prev == nil && (back.Seq != 0 || back.Session != nil):
			t.Fatalf("a step back from the session's first record: %+v", back)
		case prev != nil && (back.Seq != prev.seq || viewJSON(back.Session) != prev.view):
			t.Fatalf("a step back from seq %d: seq %d, want %d", want.seq, back.Seq, prev.seq)
		}
		// A seq between the session's records is its last record before.
		if prev != nil && want.seq-prev.seq > 1 {
			mid := stateAt(t, asker, want.session, want.seq-1, 0)
			if mid.Seq != prev.seq || viewJSON(mid.Session) != prev.view {
				t.Fatalf("seq %d, between %d and %d: got seq %d", want.seq-1, prev.seq, want.seq, mid.Seq)
			}
		}
	}

	// From the busiest session's last record, back 5 and forward 5.
	counts := map[string]int{}
	for _, rec := range recs {
		counts[rec.session]++
	}
	busiest := recs[0].session
	for s, n := range counts {
		if n > counts[busiest] {
			busiest = s
		}
	}
	at := stateAt(t, asker, busiest, last, 0)
	seq := at.Seq
	for range 5 {
		seq = stateAt(t, asker, busiest, seq, -1).Seq
	}
	for range 5 {
		seq = stateAt(t, asker, busiest, seq, +1).Seq
	}
	if end := stateAt(t, asker, busiest, seq, 0); end.Seq != at.Seq || viewJSON(end.Session) != viewJSON(at.Session) {
		t.Fatalf("back 5 and forward 5 from seq %d ended at seq %d", at.Seq, end.Seq)
	}
	var final string
	for _, s := range relayState(r) {
		if s.ID == busiest {
			final = viewJSON(&s)
		}
	}
	if viewJSON(at.Session) != final {
		t.Errorf("the state at the head is not the relay's live state:\nreplayed %s\nlive %s", viewJSON(at.Session), final)
	}

	// Bad questions are refused in words.
	for _, c := range []struct {
		cmd  events.Command
		want string
	}{
		{events.Command{Action: events.ActionStateAt, Session: busiest, Params: json.RawMessage(`{"seq":5,"step":2}`)}, "params.step: expected -1, 0 or 1, got 2"},
		{events.Command{Action: events.ActionStateAt, Params: json.RawMessage(`{"seq":5}`)}, "session is required"},
		{events.Command{Action: events.ActionStateAt, Session: busiest, Params: json.RawMessage(`{"at":"yesterday"}`)}, `params.at: expected an RFC 3339 time, got "yesterday"`},
	} {
		c.cmd.Type, c.cmd.ID = "command", strconv.FormatUint(rand.Uint64(), 36)
		res := asker.command(t, c.cmd, 10*time.Second)
		if res.OK || res.Error == nil || res.Error.Status != 400 || !strings.Contains(res.Error.Message, c.want) {
			t.Errorf("%s: %+v, want 400 %q", c.cmd.Params, res.Error, c.want)
		}
	}
}
