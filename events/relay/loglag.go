package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/gavelhq/gavel/events"
)

// A relay whose hub falls behind its log (a stalled NATS consumer, a CPU
// starved host, a burst it cannot fold fast enough) shows its consoles old
// news while looking healthy. The lag watch notices: it samples the log's
// last seq and the hub's applied seq, and measures how long the oldest
// record the hub has not applied yet has been in the log.

// lagWatch is the lag watch's memory: the log's last seq at each tick
// still ahead of what the hub applied, oldest first.
type lagWatch struct{ samples []lagSample }

type lagSample struct {
	at   time.Time
	last uint64
}

// observe records the log's last seq at now and returns how long the hub,
// having applied up to applied, has been behind: since the first tick
// that saw a record it has still not applied (0 when caught up). The
// answer is as fine as the ticks.
func (w *lagWatch) observe(now time.Time, last, applied uint64) time.Duration {
	if n := len(w.samples); n == 0 || w.samples[n-1].last < last {
		w.samples = append(w.samples, lagSample{at: now, last: last})
	}
	i := 0
	for i < len(w.samples) && w.samples[i].last <= applied {
		i++
	}
	w.samples = append(w.samples[:0], w.samples[i:]...)
	if len(w.samples) == 0 {
		return 0
	}
	return now.Sub(w.samples[0].at)
}

// lagTick is how often the lag watch samples: a fifth of the threshold,
// so an alert comes at most a fifth late, and at most every 5 s.
func lagTick(threshold time.Duration) time.Duration {
	return min(max(threshold/5, 100*time.Millisecond), 5*time.Second)
}

// watchLag samples until ctx ends, once the hub has caught up at start
// (catching up is behind by design), keeps the log_behind_seconds gauge,
// and raises a relay_behind alert, once an hour at most, when the hub has
// been behind for the threshold.
func (s *Server) watchLag(ctx context.Context) {
	threshold := s.cfg.Alerts.withDefaults().LogLag
	if threshold < 0 {
		return
	}
	t := time.NewTicker(lagTick(threshold))
	defer t.Stop()
	var w lagWatch
	alerted := int64(-1)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !s.hub.Ready() {
			continue
		}
		_, last, err := s.log.Bounds(ctx)
		if err != nil {
			continue // the log says why elsewhere; the next tick tries again
		}
		applied := s.hub.Applied()
		now := time.Now().UTC()
		behind := w.observe(now, last, applied)
		s.metrics.LogBehind(behind)
		if behind < threshold || now.Unix()/3600 == alerted {
			continue
		}
		alerted = now.Unix() / 3600
		s.raise(ctx, events.Alert{ID: fmt.Sprintf("%s:%s:%d", events.AlertRelayBehind, s.cfg.Name, alerted), Kind: events.AlertRelayBehind, At: now,
			Text: fmt.Sprintf("relay %s is %s behind its log (%d records not applied): its consoles show old news", s.cfg.Name, behind.Round(time.Second), last-applied)})
	}
}
