package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Presence: every console of the fleet knows who else is on, how they came
// in and where they are looking, and sees the questions others have open
// about a target. A console opts in by saying where it is (ActionWhere).
// Each relay writes its consoles to a key-value bucket on the NATS, keyed
// per console, refreshed while they stay (presenceBeat) and expiring when
// a relay dies (presenceTTL); every relay watches that bucket and the
// claims bucket (whose entries are the intents) and sends its consoles
// the whole picture on every change. Nothing of it is in the log.

const (
	presenceTTL  = 90 * time.Second
	presenceBeat = 30 * time.Second
	// presenceCoalesce is how long a change waits for the next before the
	// picture is sent: a town hall's moderators arriving at once make one
	// frame, not one each.
	presenceCoalesce = 100 * time.Millisecond
)

// presenceBucket is the bucket consoles are written to, named after the
// log's stream.
func (l *Log) presenceBucket(ctx context.Context) (jetstream.KeyValue, error) {
	return l.bucket(ctx, "presence", "the consoles connected to every relay of the fleet", presenceTTL)
}

// presence keeps this relay's side of the picture and the whole of it.
type presence struct {
	kv      jetstream.KeyValue
	claims  *targetClaims
	gateway *Gateway // names targets in refusals
	logger  *slog.Logger

	mu      sync.Mutex
	local   map[string]*Subscription   // this relay's consoles that said where they are, by key
	fleet   map[string]events.Presence // every relay's, from the watch, by key
	intents map[string]events.Intent   // from the claims watch, by claim key
	changed chan struct{}              // cap 1: the picture changed
}

func newPresence(kv jetstream.KeyValue, claims *targetClaims, gateway *Gateway, logger *slog.Logger) *presence {
	return &presence{kv: kv, claims: claims, gateway: gateway, logger: logger.With("component", "presence"),
		local: map[string]*Subscription{}, fleet: map[string]events.Presence{}, intents: map[string]events.Intent{},
		changed: make(chan struct{}, 1)}
}

// keyOf is a console's key in the bucket (ids may hold any character).
func keyOf(consoleID string) string {
	sum := sha256.Sum256([]byte(consoleID))
	return "c." + hex.EncodeToString(sum[:12])
}

func (p *presence) touch() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// run watches both buckets, refreshes this relay's consoles and sends the
// picture on changes, until ctx ends.
func (p *presence) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { p.watch(ctx, p.kv, p.seeConsole) })
	if p.claims != nil {
		wg.Go(func() { p.watch(ctx, p.claims.kv, p.seeIntent) })
	}
	wg.Go(func() { p.beat(ctx) })
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.changed:
		}
		t := time.NewTimer(presenceCoalesce)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		p.send()
	}
}

// watch follows a bucket, rewatching after a failure.
func (p *presence) watch(ctx context.Context, kv jetstream.KeyValue, see func(jetstream.KeyValueEntry)) {
	for ctx.Err() == nil {
		w, err := kv.WatchAll(ctx)
		if err != nil {
			p.logger.Warn("presence: cannot watch a bucket: retrying", "bucket", kv.Bucket(), "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		for e := range w.Updates() {
			if e != nil {
				see(e)
			}
		}
		_ = w.Stop()
		sleepCtx(ctx, time.Second)
	}
}

func (p *presence) seeConsole(e jetstream.KeyValueEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(p.fleet, e.Key())
	} else {
		var c events.Presence
		if json.Unmarshal(e.Value(), &c) != nil {
			return
		}
		p.fleet[e.Key()] = c
	}
	p.touch()
}

func (p *presence) seeIntent(e jetstream.KeyValueEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(p.intents, e.Key())
	} else {
		var c claim
		if json.Unmarshal(e.Value(), &c) != nil {
			return
		}
		p.intents[e.Key()] = events.Intent{Name: c.Name, Console: c.Console, Action: c.Action, Session: c.Session, Target: c.Target, At: c.At}
	}
	p.touch()
}

// beat rewrites this relay's consoles before they expire.
func (p *presence) beat(ctx context.Context) {
	t := time.NewTicker(presenceBeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		subs := make([]*Subscription, 0, len(p.local))
		for _, s := range p.local {
			subs = append(subs, s)
		}
		p.mu.Unlock()
		for _, s := range subs {
			p.put(ctx, s)
		}
	}
}

func (p *presence) put(ctx context.Context, s *Subscription) {
	data, _ := json.Marshal(s.presence())
	if _, err := p.kv.Put(ctx, keyOf(s.id), data); err != nil {
		p.logger.Warn("presence: cannot write a console", "console", s.name, "err", err)
	}
}

// where records where a console is looking, and opts it in.
func (p *presence) where(ctx context.Context, s *Subscription, view, session string) {
	s.mu.Lock()
	s.view, s.session = view, session
	s.mu.Unlock()
	p.mu.Lock()
	p.local[keyOf(s.id)] = s
	p.mu.Unlock()
	p.put(ctx, s)
	p.touch() // a newcomer gets the picture even when nothing changed
}

// leave takes a console out, and lets go of the questions it had open.
func (p *presence) leave(s *Subscription) {
	key := keyOf(s.id)
	p.mu.Lock()
	_, joined := p.local[key]
	delete(p.local, key)
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if joined {
		_ = p.kv.Delete(ctx, key)
	}
	for _, k := range s.takeIntents() {
		p.claims.release(ctx, k, s.id)
	}
}

// send hands the picture to this relay's consoles that opted in.
func (p *presence) send() {
	p.mu.Lock()
	f := events.PresenceFrame{Type: events.FramePresence, Consoles: make([]events.Presence, 0, len(p.fleet)), Intents: make([]events.Intent, 0, len(p.intents))}
	for _, c := range p.fleet {
		f.Consoles = append(f.Consoles, c)
	}
	for _, in := range p.intents {
		f.Intents = append(f.Intents, in)
	}
	subs := make([]*Subscription, 0, len(p.local))
	for _, s := range p.local {
		subs = append(subs, s)
	}
	p.mu.Unlock()
	slices.SortFunc(f.Consoles, func(a, b events.Presence) int { return a.Since.Compare(b.Since) })
	slices.SortFunc(f.Intents, func(a, b events.Intent) int { return a.At.Compare(b.At) })
	data, _ := json.Marshal(f)
	for _, s := range subs {
		s.offerPresence(data)
	}
}

// maxViewLen bounds what a console may say of where it is.
const maxViewLen = 64

// admitAside checks a command answered beside the gateway (presence,
// history): the role's, then the command's bounds. A refusal is the
// result to send.
func admitAside(claims Claims, cmd events.Command) (events.CommandParams, *events.Result) {
	if !claims.Role.Allows(cmd.Action) {
		res := failure(cmd.ID, http.StatusForbidden, fmt.Sprintf("role %s may not %s", claims.Role, cmd.Action))
		return events.CommandParams{}, &res
	}
	p, err := checkCommand(cmd)
	if err != nil {
		res := failure(cmd.ID, http.StatusBadRequest, err.Error())
		return p, &res
	}
	return p, nil
}

// handle answers the presence actions, which never reach the gateway:
// where a console is, and the questions it opens and closes.
func (p *presence) handle(ctx context.Context, sub *Subscription, claims Claims, cmd events.Command) events.Result {
	g := p.gateway
	res := events.Result{Type: events.FrameResult, ID: cmd.ID, OK: true, Data: json.RawMessage(`{}`)}
	fail := func(status int, msg string) events.Result { return failure(cmd.ID, status, msg) }
	params, refused := admitAside(claims, cmd)
	if refused != nil {
		return *refused
	}
	switch cmd.Action {
	case events.ActionWhere:
		if len(params.View) > maxViewLen {
			return fail(http.StatusBadRequest, fmt.Sprintf("params.view: at most %d bytes", maxViewLen))
		}
		p.where(ctx, sub, params.View, cmd.Session)
		return res
	}
	// intend and release: about the command the question is for.
	target := events.Command{Action: params.Intent, Session: cmd.Session, Connection: cmd.Connection, Stream: cmd.Stream}
	key, ok := claimKey(target, params)
	if !ok {
		return fail(http.StatusBadRequest, fmt.Sprintf("intent %q: expected a destructive action (disconnect, unpublish, mute_all, mute_all_off, archive_start, archive_stop, ban)", params.Intent))
	}
	if cmd.Action == events.ActionRelease {
		sub.dropIntent(key)
		p.claims.release(context.WithoutCancel(ctx), key, sub.id)
		return res
	}
	if err := g.hold(ctx, key, claims.Name, sub.id, target, params); err != nil {
		return fail(describe(err))
	}
	sub.addIntent(key)
	return res
}

// presence is how other consoles see this one.
func (s *Subscription) presence() events.Presence {
	s.mu.Lock()
	defer s.mu.Unlock()
	return events.Presence{ID: s.id, Name: s.name, Role: s.role, Via: s.via, Relay: s.hub.cfg.InstanceName, Since: s.joined, View: s.view, Session: s.session}
}

// offerPresence replaces the picture waiting for the console's writer:
// only the latest matters.
func (s *Subscription) offerPresence(data []byte) {
	for range 2 {
		select {
		case s.presenceC <- data:
			return
		default:
		}
		select {
		case <-s.presenceC:
		default:
		}
	}
}

func (s *Subscription) addIntent(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.intents == nil {
		s.intents = map[string]bool{}
	}
	s.intents[key] = true
}

func (s *Subscription) dropIntent(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.intents, key)
}

func (s *Subscription) takeIntents() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.intents))
	for k := range s.intents {
		keys = append(keys, k)
	}
	s.intents = nil
	return keys
}

// isPresenceAction reports whether a command is presence, not moderation.
func isPresenceAction(action string) bool {
	return action == events.ActionWhere || action == events.ActionIntend || action == events.ActionRelease
}
