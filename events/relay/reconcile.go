package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/opentok"
	"golang.org/x/time/rate"
)

// Reconciler heals dropped callbacks: Vonage does not guarantee delivery,
// so the relay compares every live session with the REST lists of its
// connections and streams, on start, every interval and on demand, and
// appends the differences to the log as events with source "reconcile".
//
// A pass costs two REST calls per session. It runs them Concurrency at a
// time, no faster than Rate calls a second (the Video API publishes no
// limit and answers 429 past it: the client backs off and retries, and a
// pass that is still refused stops there, to resume at the next tick), in
// a new random order each pass, so a pass cut short never starves the
// same sessions. The Video API has no call that lists a project's
// sessions, so a pass covers the sessions the relay has heard of.
type Reconciler struct {
	cfg     ReconcilerConfig
	limiter *rate.Limiter
	now     func() time.Time
}

// ReconcilerConfig configures a Reconciler.
type ReconcilerConfig struct {
	Client  *opentok.Client           // required
	Log     *Log                      // required
	State   func(func(*events.State)) // the hub's state, under its lock; required
	Metrics *Metrics                  // nil = none
	Logger  *slog.Logger              // nil = discard
	// Concurrency is how many sessions a pass reconciles at once
	// (default DefaultReconcileConcurrency).
	Concurrency int
	// Rate is the most REST calls a second reconciles make, all passes
	// together (default DefaultReconcileRate).
	Rate float64
}

// Defaults of ReconcilerConfig: 8 sessions at a time, 20 calls a second
// (10 sessions a second: a thousand live sessions in under two minutes).
const (
	DefaultReconcileConcurrency = 8
	DefaultReconcileRate        = 20
)

// NewReconciler returns a reconciler over the hub's state.
func NewReconciler(cfg ReconcilerConfig) *Reconciler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultReconcileConcurrency
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultReconcileRate
	}
	cfg.Logger = cfg.Logger.With("component", "reconcile")
	return &Reconciler{cfg: cfg, limiter: rate.NewLimiter(rate.Limit(cfg.Rate), max(1, int(cfg.Rate))), now: time.Now}
}

// recentActivity is how long after its last event an ended-looking
// session is still reconciled.
const recentActivity = 10 * time.Minute

// Run reconciles every live session now and then every interval until
// ctx ends. A pass longer than the interval delays the next one (a
// time.Ticker drops the ticks it missed): passes never pile up.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.Once(ctx, ""); err != nil && ctx.Err() == nil {
			r.cfg.Logger.Warn("reconcile failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Once reconciles one session, or every live session when sessionID is "",
// and returns how many events it appended. A whole pass is timed in
// /metrics.
func (r *Reconciler) Once(ctx context.Context, sessionID string) (int, error) {
	if sessionID != "" {
		return r.session(ctx, sessionID)
	}
	start := time.Now()
	// Live sessions, and those heard from recently: a session whose only
	// live participant's callbacks were all dropped looks ended.
	var sessions []string
	recent := r.now().Add(-recentActivity).UnixMilli()
	r.cfg.State(func(s *events.State) {
		for _, sess := range s.Sessions() {
			if sess.Live || sess.LastEventAt >= recent {
				sessions = append(sessions, sess.ID)
			}
		}
	})
	rand.Shuffle(len(sessions), func(i, j int) { sessions[i], sessions[j] = sessions[j], sessions[i] })

	passCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	var (
		mu    sync.Mutex
		total int
		errs  []error
		done  int
	)
	work := make(chan string)
	var wg sync.WaitGroup
	for range min(r.cfg.Concurrency, len(sessions)) {
		wg.Go(func() {
			for sid := range work {
				n, err := r.session(passCtx, sid)
				mu.Lock()
				total += n
				done++
				if err != nil && passCtx.Err() == nil {
					errs = append(errs, err)
				}
				mu.Unlock()
				if errors.Is(err, opentok.ErrRateLimited) {
					stop(err) // the rest waits for the next pass
				}
			}
		})
	}
feed:
	for _, sid := range sessions {
		select {
		case work <- sid:
		case <-passCtx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if cause := context.Cause(passCtx); errors.Is(cause, opentok.ErrRateLimited) && ctx.Err() == nil {
		errs = append(errs, fmt.Errorf("reconcile: the Video API is rate-limiting: %d of %d sessions done, the rest at the next pass", done, len(sessions)))
	}
	r.cfg.Metrics.ReconcilePass(time.Since(start), len(sessions))
	return total, errors.Join(errs...)
}

func (r *Reconciler) session(ctx context.Context, sid string) (int, error) {
	// now is taken before the REST lists: reconcile must not destroy what
	// the relay heard about while the lists were being fetched.
	now := r.now()
	if err := r.limiter.WaitN(ctx, 2); err != nil {
		return 0, fmt.Errorf("reconcile %s: %w", sid, err)
	}
	conns, err := r.cfg.Client.Connections.List(ctx, sid)
	if err != nil && !errors.Is(err, opentok.ErrNotFound) {
		return 0, fmt.Errorf("reconcile %s: %w", sid, err)
	}
	var connIDs []string
	if conns != nil {
		for _, c := range conns.Items {
			if c.State != opentok.Disconnected {
				connIDs = append(connIDs, c.ID)
			}
		}
	}
	// 404 on the stream list means the session has never had a stream.
	streams, err := r.cfg.Client.Streams.List(ctx, sid)
	if err != nil && !errors.Is(err, opentok.ErrNotFound) {
		return 0, fmt.Errorf("reconcile %s: %w", sid, err)
	}
	rest := make([]events.RESTStream, 0, len(streams))
	for _, s := range streams {
		rest = append(rest, events.RESTStream{ID: s.ID, VideoType: string(s.VideoType), Name: s.Name})
	}
	var evs []events.Event
	r.cfg.State(func(s *events.State) { evs = events.Reconcile(s, sid, connIDs, rest, now.UnixMilli()) })
	for i, ev := range evs {
		sum := sha256.Sum256(ev.Raw)
		rec := events.Record{Type: events.FrameEvent, ReceivedAt: now.UTC(), Source: events.SourceReconcile, Group: events.GroupSession, Event: ev.Raw}
		if _, _, err := r.cfg.Log.Append(ctx, rec, "reconcile-"+hex.EncodeToString(sum[:])); err != nil {
			return i, fmt.Errorf("reconcile %s: append: %w", sid, err)
		}
		r.cfg.Logger.Info("reconciled", "session", sid, "event", ev.Kind, "reason", ev.Reason)
	}
	r.cfg.Metrics.Reconciled(len(evs))
	return len(evs), nil
}
