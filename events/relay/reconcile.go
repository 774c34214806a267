package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/opentok"
)

// Reconciler heals dropped callbacks: Vonage does not guarantee delivery,
// so the relay compares every live session with the REST lists of its
// connections and streams, on start, every interval and on demand, and
// appends the differences to the log as events with source "reconcile".
type Reconciler struct {
	client  *opentok.Client
	log     *Log
	state   func(func(*events.State))
	metrics *Metrics
	logger  *slog.Logger
	now     func() time.Time
}

// NewReconciler returns a reconciler over the hub's state.
func NewReconciler(client *opentok.Client, log *Log, state func(func(*events.State)), metrics *Metrics, logger *slog.Logger) *Reconciler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{client: client, log: log, state: state, metrics: metrics, logger: logger, now: time.Now}
}

// recentActivity is how long after its last event an ended-looking
// session is still reconciled.
const recentActivity = 10 * time.Minute

// Run reconciles every live session now and then every interval until ctx ends.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := r.Once(ctx, ""); err != nil && ctx.Err() == nil {
			r.logger.Warn("reconcile failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Once reconciles one session, or every live session when sessionID is "",
// and returns how many events it appended.
func (r *Reconciler) Once(ctx context.Context, sessionID string) (int, error) {
	sessions := []string{sessionID}
	if sessionID == "" {
		sessions = nil
		// Live sessions, and those heard from recently: a session whose only
		// live participant's callbacks were all dropped looks ended.
		recent := r.now().Add(-recentActivity).UnixMilli()
		r.state(func(s *events.State) {
			for _, sess := range s.Sessions() {
				if sess.Live || sess.LastEventAt >= recent {
					sessions = append(sessions, sess.ID)
				}
			}
		})
	}
	total := 0
	var errs []error
	for _, sid := range sessions {
		n, err := r.session(ctx, sid)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

func (r *Reconciler) session(ctx context.Context, sid string) (int, error) {
	// now is taken before the REST lists: reconcile must not destroy what
	// the relay heard about while the lists were being fetched.
	now := r.now()
	conns, err := r.client.Connections.List(ctx, sid)
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
	streams, err := r.client.Streams.List(ctx, sid)
	if err != nil && !errors.Is(err, opentok.ErrNotFound) {
		return 0, fmt.Errorf("reconcile %s: %w", sid, err)
	}
	rest := make([]events.RESTStream, 0, len(streams))
	for _, s := range streams {
		rest = append(rest, events.RESTStream{ID: s.ID, VideoType: string(s.VideoType), Name: s.Name})
	}
	var evs []events.Event
	r.state(func(s *events.State) { evs = events.Reconcile(s, sid, connIDs, rest, now.UnixMilli()) })
	for i, ev := range evs {
		sum := sha256.Sum256(ev.Raw)
		rec := events.Record{Type: events.FrameEvent, ReceivedAt: now.UTC(), Source: events.SourceReconcile, Group: events.GroupSession, Event: ev.Raw}
		if _, _, err := r.log.Append(ctx, rec, "reconcile-"+hex.EncodeToString(sum[:])); err != nil {
			return i, fmt.Errorf("reconcile %s: append: %w", sid, err)
		}
		r.logger.Info("reconciled", "session", sid, "event", ev.Kind, "reason", ev.Reason)
	}
	if r.metrics != nil && len(evs) > 0 {
		r.metrics.Reconciled(len(evs))
	}
	return len(evs), nil
}
