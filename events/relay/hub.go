package relay

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gavelhq/gavel/events"
)

// Defaults of HubConfig.
const (
	DefaultSnapshotEvery = 1000
	DefaultSendQueue     = 1024
	DefaultPruneAfter    = 48 * time.Hour
	// SnapshotPartSessions is the most sessions one snapshot frame
	// carries: a large state goes in parts, so no frame grows without
	// bound and a console can show progress.
	SnapshotPartSessions = 500
)

// ErrHubClosing is returned by Attach once Shutdown has begun.
var ErrHubClosing = errors.New("relay: shutting down")

// CommandHandler executes one console command and returns its answer. The
// server sets it to the gateway, which checks the role; nil answers every
// command with 501.
type CommandHandler func(ctx context.Context, claims Claims, cmd events.Command) events.Result

// HubConfig configures a Hub.
type HubConfig struct {
	Log     *Log     // required
	Metrics *Metrics // nil = none
	Logger  *slog.Logger
	// SnapshotPath is the file the state is saved to (with its seq and the
	// log's epoch), so a restart replays only the tail; "" = never saved.
	SnapshotPath string
	// SnapshotEvery is how many records are applied between snapshots
	// (default 1000); one is also written at shutdown.
	SnapshotEvery int
	// SendQueue is how many frames may wait for one console (default
	// 1024); a console whose queue is full is closed with 4000 and resumes.
	SendQueue int
	// InstanceName is this relay's name in hello frames.
	InstanceName string
	// Commands answers consoles' command frames; nil = 501 for every one.
	Commands CommandHandler
	// CommandRate and CommandBurst bound each console token's commands (a
	// token bucket shared by the token's connections; defaults 5 per
	// second, bursts of 20); over it → 429.
	CommandRate  float64
	CommandBurst int
	// PruneAfter is how long tombstones and ended sessions are kept before
	// snapshots forget them (default 48 h, twice the service's 24 h retry
	// horizon; negative = never).
	PruneAfter time.Duration
	// Now is the clock for pruning (nil = time.Now).
	Now func() time.Time
	// OnLive is called, under the hub's lock, with the state and each
	// event just applied from a record read live — not while catching up
	// with the log, whose records are the past's: the rules' hook. It
	// must only decide and queue.
	OnLive func(st *events.State, ev *events.Event, a *events.Audit)
}

// Hub is the relay's fan-out core, independent of HTTP: it follows the log,
// applies every record to the state under one lock, and hands every record
// to every attached console, in seq order, without ever waiting for one.
//
// The invariant that makes resuming exact: a record is applied to the
// state and queued for the consoles in one critical section, and a console
// is attached (and its snapshot taken, or its tail bound fixed) in another
// critical section of the same lock. So a console's first live frame is
// exactly the one after its snapshot or tail: no gap, no duplicate.
type Hub struct {
	cfg    HubConfig
	log    *Log
	logger *slog.Logger
	now    func() time.Time

	started  chan struct{}    // closed once Run has loaded the snapshot
	limiters *commandLimiters // command budgets by console token
	// consoleIDs numbers the consoles attached, after this hub's nonce,
	// for Subscription.id: unique across relays that share a name.
	consoleIDs   atomic.Uint64
	consoleNonce string
	// presence is who is on across the fleet (nil: consoles are not told).
	presence *presence
	ready    atomic.Bool

	mu        sync.Mutex
	state     *events.State
	retries   *lateRetries // callbacks applied within the retry horizon
	applied   uint64       // the seq the state reflects
	target    uint64       // the log's last seq when (re)starting to follow: ready once applied reaches it
	sinceSnap int
	subs      map[*Subscription]struct{}
	advanced  chan struct{} // closed (and cleared) by apply, when someone waits in waitApplied
	closing   bool
	conns     sync.WaitGroup // one per attached console, until its connection ends

	appliedSeq atomic.Uint64 // applied, readable without the lock
	saveMu     sync.Mutex    // serialises snapshot writes
}

// NewHub builds a hub over cfg.Log; call Run to start it.
func NewHub(cfg HubConfig) *Hub {
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = DefaultSnapshotEvery
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.CommandRate <= 0 {
		cfg.CommandRate = 5
	}
	if cfg.CommandBurst <= 0 {
		cfg.CommandBurst = 20
	}
	if cfg.PruneAfter == 0 {
		cfg.PruneAfter = DefaultPruneAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Hub{
		cfg:          cfg,
		log:          cfg.Log,
		logger:       cfg.Logger.With("component", "hub"),
		now:          cfg.Now,
		started:      make(chan struct{}),
		limiters:     newCommandLimiters(cfg.CommandRate, cfg.CommandBurst),
		state:        events.NewState(),
		retries:      newLateRetries(),
		subs:         map[*Subscription]struct{}{},
		consoleNonce: rand.Text()[:8],
	}
}

// Ready reports whether the hub has caught up with the log (applied every
// record that was in it when it started following) and is following it
// live: what /readyz reports.
func (h *Hub) Ready() bool { return h.ready.Load() }

// Applied returns the seq of the last record applied to the state.
func (h *Hub) Applied() uint64 { return h.appliedSeq.Load() }

// State calls fn with the state under the hub's lock: fn must not keep
// the pointer or call back into the hub.
func (h *Hub) State(fn func(*events.State)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fn(h.state)
}

// Run loads the snapshot, then follows the log until ctx ends, applying
// and fanning out every record; it saves a snapshot as it goes and when it
// returns. It returns ctx's error, or an error if the log cannot be read at
// all at start. Call it once.
func (h *Hub) Run(ctx context.Context) error {
	epoch := h.log.Epoch()
	first, last, err := h.log.Bounds(ctx)
	if err != nil {
		return fmt.Errorf("relay hub: %w", err)
	}
	h.mu.Lock()
	if st, retries, seq, ok := h.loadSnapshot(epoch, last); ok {
		h.state, h.retries = st, retries
		h.setAppliedLocked(seq)
	}
	if h.applied+1 < first {
		// Records between the snapshot (or the start) and the head of the
		// log have aged out: the state cannot include them. Carry on from
		// what is there; consoles resume from a snapshot anyway.
		h.logger.Warn("the log was trimmed past the saved state: starting from its head", "applied", h.applied, "first_seq", first)
		h.setAppliedLocked(first - 1)
	}
	h.target = last
	applied := h.applied
	h.mu.Unlock()
	close(h.started)
	h.logger.Info("hub started", "epoch", epoch, "applied", applied, "last_seq", last)

	defer func() {
		h.ready.Store(false)
		h.saveSnapshot()
	}()
	backoff := 100 * time.Millisecond
	for {
		h.mu.Lock()
		from := h.applied + 1
		if h.applied >= h.target {
			h.ready.Store(true)
		}
		h.mu.Unlock()
		err := h.log.Follow(ctx, from, h.apply)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		h.ready.Store(false)
		h.mu.Lock()
		progressed := h.applied >= from
		h.mu.Unlock()
		if progressed {
			backoff = 100 * time.Millisecond // it had been working: retry soon
		}
		var trimmed *ErrTrimmed
		if errors.As(err, &trimmed) {
			h.logger.Warn("records aged out of the log before the hub read them", "applied", from-1, "first_seq", trimmed.First)
			h.mu.Lock()
			h.setAppliedLocked(max(h.applied, trimmed.First-1))
			h.mu.Unlock()
			continue
		}
		h.logger.Warn("following the log failed: retrying", "from", from, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
		// Catch up with what was appended meanwhile before saying ready.
		if _, last, err := h.log.Bounds(ctx); err == nil {
			h.mu.Lock()
			h.target = max(h.target, last)
			h.mu.Unlock()
		}
	}
}

// apply folds one record into the state and queues it for every console.
func (h *Hub) apply(seq uint64, rec events.Record) error {
	var ev events.Event
	decoded := false
	if rec.Type == events.FrameEvent {
		var err error
		if ev, err = events.DecodeReceived(rec.Group, rec.Event, rec.ReceivedAt); err == nil {
			decoded = true
		} else {
			// Kept and fanned out all the same: a console may show it, and
			// the seq must stay gap-free.
			h.logger.Debug("record does not decode as a callback", "seq", seq, "group", rec.Group, "err", err)
		}
	}
	h.mu.Lock()
	if seq <= h.applied {
		h.mu.Unlock()
		return nil // already applied (a restarted Follow)
	}
	if seq != h.applied+1 {
		h.logger.Warn("gap in the log", "after", h.applied, "got", seq)
	}
	var marks frameMarks
	marks.duplicate = h.retries.observe(seq, rec)
	if decoded && !marks.duplicate {
		marks.superseded = h.state.Superseded(ev)
		h.state.Apply(ev)
		if h.cfg.OnLive != nil && h.ready.Load() {
			h.cfg.OnLive(h.state, &ev, nil)
		}
	}
	if rec.Type == events.FrameAudit && rec.Audit != nil {
		h.state.ApplyAudit(*rec.Audit)
		if h.cfg.OnLive != nil && h.ready.Load() {
			h.cfg.OnLive(h.state, nil, rec.Audit)
		}
	}
	data := encodeRecordFrame(seq, rec, marks)
	h.setAppliedLocked(seq)
	f := outFrame{seq: seq, data: data, parsed: parsedFrame(seq, rec, marks, ev, decoded)}
	for sub := range h.subs {
		if !sub.offer(f) {
			delete(h.subs, sub)
			h.cfg.Metrics.ConsoleLagging()
			h.logger.Info("console fell behind: closing it so it resumes", "console", sub.name, "seq", seq)
		}
	}
	caughtUp := seq >= h.target
	h.sinceSnap++
	save := h.cfg.SnapshotPath != "" && h.sinceSnap >= h.cfg.SnapshotEvery
	h.mu.Unlock()

	h.cfg.Metrics.LogAppended(seq)
	if caughtUp {
		h.ready.Store(true)
	}
	if save {
		h.saveSnapshot()
	}
	return nil
}

// setAppliedLocked moves the applied seq and wakes waitApplied; h.mu is held.
func (h *Hub) setAppliedLocked(seq uint64) {
	h.applied = seq
	h.appliedSeq.Store(seq)
	if h.advanced != nil {
		close(h.advanced)
		h.advanced = nil
	}
}

// frameMarks are what the hub knows about an event record that the
// record itself does not say.
type frameMarks struct {
	superseded bool // a late create of something the state holds dead
	duplicate  bool // a late retry of a callback already applied (lateRetries)
}

// encodeRecordFrame is the frame consoles get for rec at seq. Every seq
// gets a frame, even if its event cannot be encoded (invalid JSON that
// reached the log some other way), or consoles would see a gap forever.
func encodeRecordFrame(seq uint64, rec events.Record, marks frameMarks) []byte {
	frame := func() any {
		f := rec.Frame(seq)
		if ef, ok := f.(events.EventFrame); ok {
			ef.Superseded, ef.Duplicate = marks.superseded, marks.duplicate
			return ef
		}
		return f
	}
	data, err := json.Marshal(frame())
	if err != nil {
		rec.Event = json.RawMessage("null")
		rec.Audit = nil
		data, _ = json.Marshal(frame())
	}
	return data
}

// parsedFrame is what encodeRecordFrame encoded, as structs, with the
// callback decoded when it was.
func parsedFrame(seq uint64, rec events.Record, marks frameMarks, ev events.Event, decoded bool) *ParsedFrame {
	switch f := rec.Frame(seq).(type) {
	case events.EventFrame:
		f.Superseded, f.Duplicate = marks.superseded, marks.duplicate
		p := &ParsedFrame{Event: &f}
		if decoded && !marks.duplicate {
			p.Decoded = &ev
		}
		return p
	case events.AuditFrame:
		return &ParsedFrame{Audit: &f}
	}
	return nil
}

// marks says, for rec at seq read from the log for a console catching
// up, whether it repeats a callback applied before it, and whether it is
// a late create of something the hub's state holds dead.
func (h *Hub) marks(seq uint64, rec events.Record) frameMarks {
	if rec.Type != events.FrameEvent {
		return frameMarks{}
	}
	ev, err := events.DecodeReceived(rec.Group, rec.Event, rec.ReceivedAt)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.retries.repeats(seq, rec) {
		return frameMarks{duplicate: true}
	}
	return frameMarks{superseded: err == nil && h.state.Superseded(ev)}
}

// Shutdown closes every console with 1001 (going away) and the resume
// hint, refuses new ones, and waits until their connections have ended or
// ctx does. http.Server.Shutdown does not touch hijacked connections, so
// this is what drains the WebSockets.
func (h *Hub) Shutdown(ctx context.Context) {
	h.mu.Lock()
	h.closing = true
	subs := make([]*Subscription, 0, len(h.subs))
	for sub := range h.subs {
		subs = append(subs, sub)
	}
	h.mu.Unlock()
	for _, sub := range subs {
		sub.stop(closeGoingAway, "")
	}
	done := make(chan struct{})
	go func() {
		h.conns.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		h.logger.Warn("shutdown: some consoles did not close in time")
	}
}

// Consoles returns how many consoles are attached.
func (h *Hub) Consoles() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
