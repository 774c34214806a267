package tui

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// batchInterval is the coalescer's period: at most 20 UI batches a second.
const batchInterval = 50 * time.Millisecond

// A console that runs for days would otherwise keep every tombstone and
// every ended session it ever saw: the feed prunes them as the relay does
// (after relay.DefaultPruneAfter: well past the service's 24 h of retries),
// checking now and then.
const (
	pruneEvery = 10 * time.Minute
	pruneAfter = 48 * time.Hour
)

// feed is relay → mirror → batches. Its run goroutine owns the Mirror and
// applies every frame under mu; pump takes a batch under mu at most once
// per interval, only when something changed, and hands it to the UI. The
// UI gets immutable values: session views the State built afresh, and
// the event and audit lines since the last batch.
type feed struct {
	opts   Options
	client *relayclient.Client

	mu            sync.Mutex
	mirror        *relayclient.Mirror
	dirty         bool
	all           bool                // rebuild every session (after a snapshot)
	touched       map[string]struct{} // sessions changed since the last batch
	cache         map[string]events.Session
	list          []events.Session // last batch's sessions, sorted by id
	lines         []EventLine      // since the last batch
	dropped       uint64           // lines let go because the UI was not taking them
	audits        []AuditLine      // since the last batch
	auditsDropped uint64
	link          relayclient.Status
	maxLines      int
	results       []events.Result // answers to this console's commands
	role          events.Role
	drops         uint64 // times the link went down after being live
	now           func() time.Time
	pruned        time.Time             // last prune
	presence      *events.PresenceFrame // the latest, until a batch takes it
	self          string                // the hello's name
	// removing names the rule ("ban", "cap") that claimed a connection's
	// removal, until its connectionDestroyed comes, so the tail says why
	// someone was kicked. Bounded: a dry run's claims never see one.
	removing map[string]string
}

// maxRemoving bounds feed.removing; past it the oldest guesses are let go
// (the tail then says "kicked", not why).
const maxRemoving = 4096

func newFeed(opts Options) *feed {
	f := &feed{
		opts: opts, mirror: relayclient.NewMirror(), touched: map[string]struct{}{},
		cache: map[string]events.Session{}, maxLines: DefaultEventLines, removing: map[string]string{},
		link:  relayclient.Status{State: relayclient.Connecting, Since: time.Now()},
		dirty: true,
	}
	f.now = time.Now
	f.pruned = f.now()
	f.client = relayclient.New(relayclient.Config{URL: opts.RelayURL, Token: opts.Token, OnStatus: f.status, Connect: opts.Connect})
	return f
}

// run keeps the relay link up until ctx ends. A refused token ends the
// client; the console stays up and says why.
func (f *feed) run(ctx context.Context) {
	err := f.client.Run(ctx, f.apply)
	if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		f.status(relayclient.Status{State: relayclient.Stale, Since: time.Now(), Err: err})
	}
}

func (f *feed) status(s relayclient.Status) {
	f.mu.Lock()
	if f.link.State == relayclient.Live && s.State != relayclient.Live {
		f.drops++
	}
	f.link, f.dirty = s, true
	f.mu.Unlock()
}

// apply folds one frame in. It never blocks on the UI.
func (f *feed) apply(fr relayclient.Frame) error {
	var line *EventLine
	var sid string
	if fr.Event != nil && !fr.Event.Duplicate { // a late retry, already listed once
		// Decoded here, outside the lock, and handed to the Mirror: the
		// line needs the event, the batch needs to know which session
		// changed, and decoding is the larger part of a frame's cost.
		if ev, ok := fr.DecodedEvent(); ok {
			fr.Decoded = ev
			ev := *ev
			l := NewEventLine(fr.Event.Seq, fr.Event.ReceivedAt, fr.Event.Source, ev)
			line, sid = &l, ev.SessionID
			if sid == "" {
				sid = l.Session
			}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if fr.Result != nil {
		f.results = append(f.results, *fr.Result)
		f.dirty = true
		return nil
	}
	if fr.Hello != nil && (fr.Hello.Role != f.role || fr.Hello.Name != f.self) {
		f.role, f.self, f.dirty = fr.Hello.Role, fr.Hello.Name, true
	}
	if fr.Type == events.FramePresence {
		var p events.PresenceFrame
		if err := json.Unmarshal(fr.Raw, &p); err == nil {
			f.presence, f.dirty = &p, true
		}
		return nil
	}
	changed := f.mirror.Apply(fr)
	if fr.Snapshot != nil && changed {
		f.all, f.dirty = true, true
	}
	if fr.Snapshot != nil && fr.Snapshot.Part >= fr.Snapshot.Parts && f.mirror.Err != nil {
		// The relay's state contradicts itself: say so rather than show
		// the old picture as live. The next good snapshot clears it.
		f.link, f.dirty = relayclient.Status{State: relayclient.Stale, Since: f.now(), Err: f.mirror.Err}, true
	}
	if changed && (fr.Event != nil || fr.Audit != nil) {
		if fr.Audit != nil {
			sid = fr.Audit.Audit.Session // a mute changes its session
		}
		f.touched[sid] = struct{}{}
		f.dirty = true
	}
	if fr.Audit != nil {
		if len(f.audits) >= f.maxLines {
			n := len(f.audits) / 2
			f.audits = append(f.audits[:0], f.audits[n:]...)
			f.auditsDropped += uint64(n)
		}
		f.audits = append(f.audits, NewAuditLine(fr.Audit.Seq, fr.Audit.Audit))
		f.dirty = true
		f.noteRemoval(fr.Audit.Audit)
	}
	if line != nil {
		if rule, ok := f.removing[line.Subject]; ok && line.Kind == events.ConnectionDestroyed {
			delete(f.removing, line.Subject)
			if line.Reason == events.ReasonForceDisconnected {
				line.Text = removedWords(rule)
			}
		}
		if len(f.lines) >= f.maxLines {
			n := len(f.lines) / 2 // drop the older half: amortised O(1)
			f.lines = append(f.lines[:0], f.lines[n:]...)
			f.dropped += uint64(n)
		}
		f.lines = append(f.lines, *line)
		f.dirty = true
	}
	return nil
}

// noteRemoval remembers a rule's claim to remove a connection (the audit
// entry a rule appends before it acts; a ban itself carries its Ban).
func (f *feed) noteRemoval(a events.Audit) {
	rule, ok := ruleClaim(a)
	if !ok {
		return
	}
	if len(f.removing) >= maxRemoving {
		clear(f.removing)
	}
	f.removing[a.Target] = rule
}

// ruleClaim is the rule an audit entry claims a connection (a.Target)
// for, about to remove it: the entry a rule appends before it acts. A
// ban's own entry carries its Ban and is not one.
func ruleClaim(a events.Audit) (rule string, ok bool) {
	rule, ok = strings.CutPrefix(a.Actor, "rule:")
	return rule, ok && a.Action == rule && a.Ban == nil && a.Target != ""
}

// removedWords says in the tail why a rule disconnected someone.
func removedWords(rule string) string {
	switch rule {
	case "ban":
		return "banned — kicked"
	case "cap":
		return "room full — kicked"
	}
	return "kicked by rule " + Sanitize(rule)
}

// batch takes what changed since the last batch, or reports false.
func (f *feed) batch() (StateMsg, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now := f.now(); now.Sub(f.pruned) >= pruneEvery {
		f.pruned = now
		if f.mirror.State.Prune(now.Add(-pruneAfter).UnixMilli()) > 0 {
			f.all, f.dirty = true, true // ended sessions may have gone
		}
	}
	if !f.dirty {
		return StateMsg{}, false
	}
	st := f.mirror.State
	switch {
	case f.all:
		f.list = st.Sessions()
		clear(f.cache)
		for _, s := range f.list {
			f.cache[s.ID] = s
		}
	case len(f.touched) > 0:
		added := false
		for id := range f.touched {
			s, ok := st.Session(id)
			_, had := f.cache[id]
			if ok {
				f.cache[id] = s
			} else {
				delete(f.cache, id)
			}
			added = added || ok != had
		}
		list := make([]events.Session, 0, len(f.cache))
		if !added {
			// Same ids in the same order: swap the changed ones in.
			for _, s := range f.list {
				list = append(list, f.cache[s.ID])
			}
		} else {
			for _, s := range f.cache {
				list = append(list, s)
			}
			slices.SortFunc(list, func(a, b events.Session) int { return strings.Compare(a.ID, b.ID) })
		}
		f.list = list
	}
	msg := StateMsg{Sessions: f.list, Events: f.lines, EventsDropped: f.dropped,
		Audits: f.audits, AuditsDropped: f.auditsDropped, Link: f.link, Seq: f.mirror.Seq,
		Results: f.results, Role: f.role, Drops: f.drops, Bans: st.Bans(f.now()), Alerts: st.Alerts(), Rules: rulesOf(st), Presence: f.presence, Self: f.self}
	f.lines, f.audits, f.results, f.all, f.dirty = nil, nil, nil, false, false
	f.presence = nil // sent once: the Model keeps it
	clear(f.touched)
	return msg, true
}

// pump hands the UI a batch at most once per interval. Send blocks while
// the UI renders, so a slow terminal slows batches, never the relay link.
func (f *feed) pump(ctx context.Context, every time.Duration, send func(tea.Msg)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if msg, ok := f.batch(); ok {
				send(msg)
			}
		}
	}
}

// rulesOf is the rules in force, nil for none.
func rulesOf(st *events.State) *events.RulesInForce {
	if r, ok := st.Rules(); ok {
		return &r
	}
	return nil
}
