package relay_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok"
)

var errStop = errors.New("stop")

// slowAPI stands between the relay and the emulator, giving each REST call
// the latency of a real service and recording how many were in flight at
// once.
type slowAPI struct {
	base     http.RoundTripper
	delay    time.Duration
	inFlight atomic.Int64
	most     atomic.Int64
	calls    atomic.Int64
	// limited answers every call 429 with a Retry-After longer than the
	// client waits, as the Video API does past its (unpublished) rate.
	limited atomic.Bool
}

func (s *slowAPI) RoundTrip(req *http.Request) (*http.Response, error) {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	s.calls.Add(1)
	if s.limited.Load() {
		return &http.Response{StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests", Request: req,
			Header: http.Header{"Retry-After": {"60"}, "Content-Type": {"application/json"}},
			Body:   io.NopCloser(strings.NewReader(`{"code":429,"message":"Too many requests"}`))}, nil
	}
	for m := s.most.Load(); n > m && !s.most.CompareAndSwap(m, n); m = s.most.Load() {
	}
	select {
	case <-time.After(s.delay):
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return s.base.RoundTrip(req)
}

// scrapeMetrics reads /metrics as a console token's holder (Prometheus)
// would, and returns each sample's value by its name and labels.
func scrapeMetrics(t *testing.T, r *testRelay) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, r.httpURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+r.token(t, "prometheus", events.RoleViewer))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// TestPeriodicReconcileHealsEverySessionConcurrently: with nobody asking,
// the relay's periodic pass finds the connections whose connectionDestroyed
// never came (here: connections the service never had) in every session it
// knows, and ends them. It reconciles several sessions at once, never more
// than reconcile_concurrency, /metrics says how long a pass took and how
// many sessions it covered, and a pass the Video API rate-limits stops.
func TestPeriodicReconcileHealsEverySessionConcurrently(t *testing.T) {
	const sessions, concurrency = 40, 4
	ln := listenLoopback(t)
	emu := newEmulator(t, httpBase(ln), httpBase(ln))
	plain, closePlain := newEmulatorClient(t, emu)
	api := &slowAPI{base: &http.Transport{MaxIdleConnsPerHost: concurrency}, delay: 20 * time.Millisecond}
	client, err := emu.Client(false, opentok.WithHTTPClient(&http.Client{Transport: api, Timeout: 30 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, ln, relay.Config{Name: "relay-reconcile", Reconcile: time.Second, ReconcileConcurrency: concurrency, ReconcileRate: 1000}, client)
	beforeRelaysStop(t, closePlain, api.base.(*http.Transport).CloseIdleConnections, func() { _ = emu.Close() })
	// The pass at start has run (over no session): whatever heals below
	// is the periodic pass's doing.
	waitFor(t, 10*time.Second, "the reconcile at start", func() bool {
		return scrapeMetrics(t, r)["gavel_relay_reconcile_pass_seconds_count"] >= 1
	})

	ids := make([]string, sessions)
	now := time.Now().UnixMilli()
	for i := range ids {
		s, err := plain.Sessions.Create(t.Context(), opentok.SessionOptions{MediaMode: opentok.Routed})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = s.ID
		body := fmt.Sprintf(`{"sessionId":%q,"projectId":"1","event":"connectionCreated","timestamp":%d,"connection":{"id":"ghost-%d","createdAt":%d,"data":""}}`, s.ID, now, i, now)
		resp, err := http.Post(r.httpURL+"/v1/callbacks/session", "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("callback: %s", resp.Status)
		}
	}
	live := func() int {
		n := 0
		r.srv.Hub().State(func(s *events.State) {
			for _, id := range ids {
				n += s.Counts(id).Connections
			}
		})
		return n
	}
	// Every ghost ends in a reconcile event of the log (and then, as the
	// hub applies it, in the state): nothing else ends them.
	ended := func() int {
		n := 0
		last := r.lastSeq(t)
		_ = r.srv.Log().Follow(t.Context(), 1, func(seq uint64, rec events.Record) error {
			if rec.Source == events.SourceReconcile && bytes.Contains(rec.Event, []byte(`"id":"ghost-`)) && bytes.Contains(rec.Event, []byte(`"connectionDestroyed"`)) {
				n++
			}
			if seq >= last {
				return errStop
			}
			return nil
		})
		return n
	}
	waitFor(t, 30*time.Second, "the periodic reconcile to end every ghost", func() bool { return ended() == sessions })
	waitFor(t, 10*time.Second, "the hub to apply the reconcile", func() bool { return r.srv.Hub().Applied() >= r.lastSeq(t) })
	if n := live(); n != 0 {
		t.Errorf("%d ghosts still live", n)
	}

	if most := api.most.Load(); most < 2 || most > concurrency {
		t.Errorf("at most %d REST calls were in flight at once; want 2 to %d (reconcile_concurrency)", most, concurrency)
	}
	// A pass appends its events before it records its own figures: wait
	// for the pass that ended the ghosts to have finished.
	var m map[string]float64
	waitFor(t, 10*time.Second, "the periodic pass to record its figures", func() bool {
		m = scrapeMetrics(t, r)
		return m["gavel_relay_reconcile_pass_seconds_count"] >= 2
	})
	if got := m["gavel_relay_reconcile_pass_sessions"]; got != sessions {
		t.Errorf("reconcile_pass_sessions = %v, want %d (every session, heard from in the last 10 minutes)", got, sessions)
	}
	if m["gavel_relay_reconcile_pass_seconds_count"] < 2 || m["gavel_relay_reconcile_pass_seconds_sum"] <= 0 {
		t.Errorf("reconcile passes timed: count %v sum %v", m["gavel_relay_reconcile_pass_seconds_count"], m["gavel_relay_reconcile_pass_seconds_sum"])
	}
	if got := m["gavel_relay_reconcile_events_total"]; got < sessions {
		t.Errorf("reconcile_events_total = %v, want at least %d", got, sessions)
	}

	// Rate-limited, a pass stops at the first refusals instead of asking
	// for every session's lists regardless; the next pass tries again.
	passes := m["gavel_relay_reconcile_pass_seconds_count"]
	api.limited.Store(true)
	api.calls.Store(0)
	waitFor(t, 10*time.Second, "a rate-limited pass", func() bool {
		return scrapeMetrics(t, r)["gavel_relay_reconcile_pass_seconds_count"] >= passes+2
	})
	if calls := api.calls.Load(); calls > 4*concurrency {
		t.Errorf("two rate-limited passes over %d sessions made %d REST calls; want them to stop after about %d each", sessions, calls, concurrency)
	}
}
