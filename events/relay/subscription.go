package relay

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/gavelhq/gavel/events"
)

// outFrame is one encoded frame for a console; seq is 0 for frames that
// are not records (hello, results) and, for snapshots, set only on the
// last part (the console holds state as of seq only once it has them all).
type outFrame struct {
	seq  uint64
	data []byte
	// parsed is the frame as structs, for consoles in this process (nil
	// for frames read back from the log): they need not decode data.
	parsed *ParsedFrame
}

// ParsedFrame is a live record's frame as the hub built it: read-only,
// shared by every local console.
type ParsedFrame struct {
	Event *events.EventFrame
	Audit *events.AuditFrame
	// Decoded is Event's callback, decoded (nil when it does not decode,
	// or repeats one applied before).
	Decoded *events.Event
}

// Subscription is one console's place in the fan-out: the records the hub
// queued for it since it attached, and how it catches up first.
type Subscription struct {
	hub    *Hub
	name   string // the console's name, for logs
	id     string // unique among this relay's and its fleet's consoles
	role   events.Role
	via    string    // events.ViaWebSocket or events.ViaSSH
	joined time.Time // when it attached

	// presenceC holds the latest picture of who is on, for consoles that
	// said where they are (cap 1: only the latest matters).
	presenceC chan []byte

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
	extra    snapshotTail     // snapshot: bans, rules and alerts as of at
	// Presence: where the console is looking, and the claims its open
	// questions hold (let go when it leaves).
	view, session string
	intents       map[string]bool
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
func (h *Hub) Attach(ctx context.Context, claims Claims, via string, since uint64, hasSince bool, epoch string) (*Subscription, events.Hello, error) {
	name := claims.Name
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
		hub:       h,
		name:      name,
		role:      claims.Role,
		via:       via,
		joined:    h.now().UTC(),
		presenceC: make(chan []byte, 1),
		id:        h.cfg.InstanceName + "-" + h.consoleNonce + "-" + strconv.FormatUint(h.consoleIDs.Add(1), 10),
		queue:     make(chan outFrame, h.cfg.SendQueue),
		results:   make(chan []byte, 64),
		stopped:   make(chan struct{}),
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
		sub.sessions, sub.extra = h.state.Snapshot(), tailOf(h.state, h.now())
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
		if h.presence != nil {
			h.presence.leave(sub)
		}
		h.cfg.Metrics.ConsoleDisconnected()
		h.conns.Done()
	})
}

// dropIntent forgets that a console's claim on key is an open question:
// its command has acted, and the claim outlives the console.
func (h *Hub) dropIntent(console, key string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if s.id == console {
			s.dropIntent(key)
			return
		}
	}
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
			if err := emit(outFrame{seq: seq, data: encodeRecordFrame(seq, rec, s.hub.marks(seq, rec))}); err != nil {
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
	sessions, extra, at := s.sessions, s.extra, s.at
	s.sessions, s.extra = nil, snapshotTail{}
	s.mu.Unlock()
	for _, f := range snapshotFrames(at, sessions, extra) {
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
	s.tail, s.at, s.sessions, s.extra = false, h.applied, h.state.Snapshot(), tailOf(h.state, h.now())
	s.mu.Unlock()
}
