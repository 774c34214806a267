package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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

// snapshotVersion is the version of the snapshot file's format.
const snapshotVersion = 1

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
	ready    atomic.Bool

	mu        sync.Mutex
	state     *events.State
	applied   uint64 // the seq the state reflects
	target    uint64 // the log's last seq when (re)starting to follow: ready once applied reaches it
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
		cfg:      cfg,
		log:      cfg.Log,
		logger:   cfg.Logger.With("component", "hub"),
		now:      cfg.Now,
		started:  make(chan struct{}),
		limiters: newCommandLimiters(cfg.CommandRate, cfg.CommandBurst),
		state:    events.NewState(),
		subs:     map[*Subscription]struct{}{},
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
	if st, seq, ok := h.loadSnapshot(epoch, last); ok {
		h.state = st
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
		if ev, err = events.Decode(rec.Group, rec.Event); err == nil {
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
	superseded := false
	if decoded {
		superseded = h.state.Superseded(ev)
		h.state.Apply(ev)
	}
	if rec.Type == events.FrameAudit && rec.Audit != nil {
		h.state.ApplyAudit(*rec.Audit)
	}
	data := encodeRecordFrame(seq, rec, superseded)
	h.setAppliedLocked(seq)
	f := outFrame{seq: seq, data: data}
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

// encodeRecordFrame is the frame consoles get for rec at seq. Every seq
// gets a frame, even if its event cannot be encoded (invalid JSON that
// reached the log some other way), or consoles would see a gap forever.
func encodeRecordFrame(seq uint64, rec events.Record, superseded bool) []byte {
	frame := func() any {
		f := rec.Frame(seq)
		if ef, ok := f.(events.EventFrame); ok {
			ef.Superseded = superseded
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

// superseded reports whether rec, read from the log for a console catching
// up, is a late create of something the hub's state holds dead.
func (h *Hub) superseded(rec events.Record) bool {
	if rec.Type != events.FrameEvent {
		return false
	}
	ev, err := events.Decode(rec.Group, rec.Event)
	if err != nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state.Superseded(ev)
}

// snapshotFile is what SnapshotPath holds.
type snapshotFile struct {
	Version int             `json:"version"`
	Epoch   string          `json:"epoch"`
	Seq     uint64          `json:"seq"`
	SavedAt time.Time       `json:"saved_at"`
	State   json.RawMessage `json:"state"`
}

// loadSnapshot reads the saved state if it belongs to this log's epoch and
// does not claim records the log does not have. Any problem means
// replaying the log from its head, which is slower but right.
func (h *Hub) loadSnapshot(epoch string, last uint64) (*events.State, uint64, bool) {
	if h.cfg.SnapshotPath == "" {
		return nil, 0, false
	}
	data, err := os.ReadFile(h.cfg.SnapshotPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, false
	}
	if err != nil {
		h.logger.Warn("cannot read the state snapshot: replaying the log", "path", h.cfg.SnapshotPath, "err", err)
		return nil, 0, false
	}
	var f snapshotFile
	if err := json.Unmarshal(data, &f); err != nil || f.Version != snapshotVersion {
		h.logger.Warn("the state snapshot is damaged or of another version: replaying the log", "path", h.cfg.SnapshotPath, "err", err, "version", f.Version)
		return nil, 0, false
	}
	if f.Epoch != epoch {
		h.logger.Info("the state snapshot is of another log: replaying the log", "snapshot_epoch", f.Epoch, "epoch", epoch)
		return nil, 0, false
	}
	if f.Seq > last {
		h.logger.Warn("the state snapshot is ahead of the log: replaying the log", "snapshot_seq", f.Seq, "last_seq", last)
		return nil, 0, false
	}
	st := events.NewState()
	if err := st.UnmarshalJSON(f.State); err != nil {
		h.logger.Warn("the state snapshot does not load: replaying the log", "err", err)
		return nil, 0, false
	}
	h.logger.Info("state snapshot loaded", "seq", f.Seq, "sessions", st.Len())
	return st, f.Seq, true
}

// saveSnapshot writes the state as of the applied seq: to a temporary file
// in the same directory, fsynced, then renamed over the old one, so a
// crash leaves either the old snapshot or the new, never half of one.
// Failing to save is logged, not fatal: the log still has everything.
func (h *Hub) saveSnapshot() {
	if h.cfg.SnapshotPath == "" {
		return
	}
	h.saveMu.Lock()
	defer h.saveMu.Unlock()
	h.mu.Lock()
	if h.cfg.PruneAfter > 0 {
		h.state.Prune(h.now().Add(-h.cfg.PruneAfter).UnixMilli())
	}
	state, err := h.state.MarshalJSON()
	seq := h.applied
	h.sinceSnap = 0
	h.mu.Unlock()
	if err != nil {
		h.logger.Error("cannot encode the state snapshot", "err", err)
		return
	}
	data, err := json.Marshal(snapshotFile{Version: snapshotVersion, Epoch: h.log.Epoch(), Seq: seq, SavedAt: h.now().UTC(), State: state})
	if err != nil {
		h.logger.Error("cannot encode the state snapshot", "err", err)
		return
	}
	if err := writeFileAtomic(h.cfg.SnapshotPath, data); err != nil {
		h.logger.Warn("cannot save the state snapshot", "path", h.cfg.SnapshotPath, "err", err)
		return
	}
	h.logger.Debug("state snapshot saved", "seq", seq, "bytes", len(data))
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("snapshot: rename: %w", err)
	}
	// Make the rename itself durable; not every platform can sync a
	// directory, and the old snapshot is a fine fallback, so best effort.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// outFrame is one encoded frame for a console; seq is 0 for frames that
// are not records (hello, results) and, for snapshots, set only on the
// last part (the console holds state as of seq only once it has them all).
type outFrame struct {
	seq  uint64
	data []byte
}

// Subscription is one console's place in the fan-out: the records the hub
// queued for it since it attached, and how it catches up first.
type Subscription struct {
	hub  *Hub
	name string // the console's name, for logs

	queue   chan outFrame // records after `at`, in seq order, filled by the hub
	results chan []byte   // answers to the console's commands

	stopOnce   sync.Once
	detachOnce sync.Once
	stopped    chan struct{} // closed when the console must go
	code       int           // close code, set before stopped is closed
	reason     string        // close reason; "" = "resume since=<last sent>"

	mu       sync.Mutex
	at       uint64           // the seq the console is caught up to once catch-up is done
	tail     bool             // catch up from the log (since+1 … at) rather than a snapshot
	since    uint64           // tail: the console's own seq
	sessions []events.Session // snapshot: the state as of at
}

// offer queues f without waiting; false means the queue is full and the
// console has been told to go (4000, resume).
func (s *Subscription) offer(f outFrame) bool {
	select {
	case s.queue <- f:
		return true
	default:
		s.stop(events.CloseLagging, "")
		return false
	}
}

// stop asks the console's connection to close with code and reason ("" =
// the resume hint with the last seq it was sent). Only the first call
// counts.
func (s *Subscription) stop(code int, reason string) {
	s.stopOnce.Do(func() {
		s.code, s.reason = code, reason
		close(s.stopped)
	})
}

// Stopped is closed when the hub wants the console gone.
func (s *Subscription) Stopped() <-chan struct{} { return s.stopped }

// Detach removes the console from the fan-out; call it once its
// connection ends.
func (s *Subscription) Detach() { s.hub.detach(s) }

// Attach registers a console. hasSince says whether it gave a since;
// epoch is the epoch it got that since in ("" = trust since). It answers
// with the console's subscription and the hello frame to send first (the
// caller fills in name and role). The console then gets, from
// Subscription.catchUp, either the tail after since (same epoch or none,
// since+1 still in the log, since ≤ applied) or a snapshot as of the
// applied seq, and after that every record the hub applies.
//
// It waits for Run to have loaded the snapshot, so no console is given a
// position the hub is about to jump past.
func (h *Hub) Attach(ctx context.Context, name string, since uint64, hasSince bool, epoch string) (*Subscription, events.Hello, error) {
	select {
	case <-h.started:
	case <-ctx.Done():
		return nil, events.Hello{}, fmt.Errorf("relay hub: not started: %w", ctx.Err())
	}
	// Bounds before the lock: it is I/O, and first only ever grows, so a
	// stale first can only make the tail look available when it has just
	// aged out, which catch-up handles by sending a snapshot instead.
	first, last, err := h.log.Bounds(ctx)
	if err != nil {
		return nil, events.Hello{}, fmt.Errorf("relay hub: %w", err)
	}
	logEpoch := h.log.Epoch()
	epochOK := epoch == "" || epoch == logEpoch
	if hasSince && epochOK && since > h.Applied() && since <= last {
		// The console has seen records this hub has not applied yet (it
		// has just restarted, or another relay is ahead): wait a moment
		// for them, so it gets its tail rather than an older snapshot.
		wctx, cancel := context.WithTimeout(ctx, attachWait)
		h.waitApplied(wctx, since)
		cancel()
	}
	sub := &Subscription{
		hub:     h,
		name:    name,
		queue:   make(chan outFrame, h.cfg.SendQueue),
		results: make(chan []byte, 64),
		stopped: make(chan struct{}),
	}
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return nil, events.Hello{}, ErrHubClosing
	}
	n := h.applied
	sub.at = n
	if hasSince && epochOK && since <= n && since+1 >= first {
		sub.tail, sub.since = true, since
	} else {
		sub.sessions = h.state.Sessions()
	}
	h.subs[sub] = struct{}{}
	h.conns.Add(1)
	h.mu.Unlock()
	h.cfg.Metrics.ConsoleConnected()
	hello := events.Hello{Type: events.FrameHello, Epoch: logEpoch, FirstSeq: first, LastSeq: max(last, n), Relay: h.cfg.InstanceName}
	return sub, hello, nil
}

func (h *Hub) detach(sub *Subscription) {
	sub.detachOnce.Do(func() {
		h.mu.Lock()
		delete(h.subs, sub)
		h.mu.Unlock()
		sub.stop(closeNormal, "")
		h.cfg.Metrics.ConsoleDisconnected()
		h.conns.Done()
	})
}

// attachWait bounds how long Attach waits for the hub to apply a seq a
// console already has.
const attachWait = 10 * time.Second

// waitApplied waits until the hub has applied seq or ctx ends.
func (h *Hub) waitApplied(ctx context.Context, seq uint64) bool {
	for {
		h.mu.Lock()
		if h.applied >= seq {
			h.mu.Unlock()
			return true
		}
		if h.advanced == nil {
			h.advanced = make(chan struct{})
		}
		ch := h.advanced
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// errCaughtUp ends a tail read once it reaches the subscription's seq.
var errCaughtUp = errors.New("caught up")

// catchUp sends the console what it needs before the live records: the
// tail after its since, read from the log, or a snapshot in parts. emit
// writes one frame; its error ends catch-up.
func (s *Subscription) catchUp(ctx context.Context, emit func(outFrame) error) error {
	s.mu.Lock()
	tail, since, at := s.tail, s.since, s.at
	s.mu.Unlock()
	if tail {
		if since >= at {
			return nil
		}
		next := since + 1
		err := s.hub.log.Follow(ctx, next, func(seq uint64, rec events.Record) error {
			if seq != next {
				return fmt.Errorf("relay hub: tail: got seq %d, want %d", seq, next)
			}
			if err := emit(outFrame{seq: seq, data: encodeRecordFrame(seq, rec, s.hub.superseded(rec))}); err != nil {
				return err
			}
			next++
			if seq >= at {
				return errCaughtUp
			}
			return nil
		})
		var trimmed *ErrTrimmed
		switch {
		case errors.Is(err, errCaughtUp):
			return nil
		case errors.As(err, &trimmed):
			// The tail aged out between Attach and now: start over from a
			// snapshot, re-taken under the hub's lock with the queue
			// emptied, so the live records still follow without a gap.
			// Frames already sent are older than the snapshot and are
			// replaced by it.
			s.resnapshot()
		default:
			return err
		}
	}
	s.mu.Lock()
	sessions, at := s.sessions, s.at
	s.sessions = nil
	s.mu.Unlock()
	for _, f := range snapshotFrames(at, sessions) {
		if err := emit(f); err != nil {
			return err
		}
	}
	return nil
}

// resnapshot switches a tail subscription to a snapshot as of now.
func (s *Subscription) resnapshot() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	for drained := false; !drained; {
		select {
		case <-s.queue:
		default:
			drained = true
		}
	}
	s.mu.Lock()
	s.tail, s.at, s.sessions = false, h.applied, h.state.Sessions()
	s.mu.Unlock()
}

// snapshotPartBytes is the size a snapshot part stops growing at (one
// session larger than it still goes, alone): consoles read frames whole.
const snapshotPartBytes = 1 << 20

// snapshotFrames splits the state as of seq into frames of at most
// SnapshotPartSessions sessions and about snapshotPartBytes; an empty
// state is one empty part.
func snapshotFrames(seq uint64, sessions []events.Session) []outFrame {
	var parts [][]json.RawMessage
	var cur []json.RawMessage
	size := 0
	for _, sess := range sessions {
		data, err := json.Marshal(sess)
		if err != nil {
			// A Session is plain data; this cannot fail.
			panic(fmt.Sprintf("relay hub: encode snapshot: %v", err))
		}
		if len(cur) > 0 && (len(cur) == SnapshotPartSessions || size+len(data) > snapshotPartBytes) {
			parts = append(parts, cur)
			cur, size = nil, 0
		}
		cur = append(cur, data)
		size += len(data)
	}
	if len(cur) > 0 || len(parts) == 0 {
		parts = append(parts, cur)
	}
	out := make([]outFrame, 0, len(parts))
	for i, part := range parts {
		if part == nil {
			part = []json.RawMessage{}
		}
		// events.SnapshotFrame with its sessions already encoded.
		data, err := json.Marshal(struct {
			Type     string            `json:"type"`
			Seq      uint64            `json:"seq"`
			Part     int               `json:"part"`
			Parts    int               `json:"parts"`
			Sessions []json.RawMessage `json:"sessions"`
		}{events.FrameSnapshot, seq, i + 1, len(parts), part})
		if err != nil {
			panic(fmt.Sprintf("relay hub: encode snapshot: %v", err))
		}
		f := outFrame{data: data}
		if i == len(parts)-1 {
			f.seq = seq
		}
		out = append(out, f)
	}
	return out
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
