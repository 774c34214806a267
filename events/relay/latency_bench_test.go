package relay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gorilla/websocket"
)

// Shape of BenchmarkCallbackToConsoleLatency.
const (
	latencyConsoles = 100
	latencyRate     = 500 // callbacks per second
	latencySessions = 20
)

// benchConnPrefix starts the connection id of every benchmark callback;
// the callback's index follows it.
var benchConnPrefix = []byte(`"id":"bench-conn-`)

// callbackIndex finds the index in a frame or body that carries a
// benchmark callback, without decoding the JSON: the consoles' own
// bookkeeping should cost next to nothing beside what is measured.
func callbackIndex(data []byte) (int, bool) {
	at := bytes.Index(data, benchConnPrefix)
	if at < 0 {
		return 0, false
	}
	rest := data[at+len(benchConnPrefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return 0, false
	}
	i, err := strconv.Atoi(string(rest[:end]))
	return i, err == nil
}

// latencyConsole records when each benchmark callback reached one console.
type latencyConsole struct {
	mu       sync.Mutex
	received []time.Time // by callback index
	count    int
	ready    bool // past its snapshot: live
}

func (c *latencyConsole) got(data []byte, now time.Time) {
	i, ok := callbackIndex(data)
	if !ok {
		return
	}
	c.mu.Lock()
	if i < len(c.received) && c.received[i].IsZero() {
		c.received[i] = now
		c.count++
	}
	c.mu.Unlock()
}

func (c *latencyConsole) live() {
	c.mu.Lock()
	c.ready = true
	c.mu.Unlock()
}

func (c *latencyConsole) progress() (ready bool, count int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready, c.count
}

// runRelayclient is a console as gavel's is: relayclient.Run, which
// decodes every frame and checks its seq.
func (c *latencyConsole) runRelayclient(ctx context.Context, wsURL, token string) error {
	return relayclient.Run(ctx, relayclient.Config{URL: wsURL, Token: token, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond},
		func(f relayclient.Frame) error {
			now := time.Now()
			switch {
			case f.Snapshot != nil:
				c.live()
			case f.Event != nil:
				c.got(f.Event.Event, now)
			}
			return nil
		})
}

// runWebSocket is the thinnest console: one WebSocket read loop that
// decodes nothing, so what is measured is the relay's share.
func (c *latencyConsole) runWebSocket(ctx context.Context, wsURL, token string) error {
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, http.Header{"Authorization": {"Bearer " + token}})
	if err != nil {
		if resp != nil {
			return fmt.Errorf("dial: %s: %w", resp.Status, err)
		}
		return fmt.Errorf("dial: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer stop()
	defer ws.Close()
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := time.Now()
		if bytes.HasPrefix(data, []byte(`{"type":"snapshot"`)) {
			c.live()
			continue
		}
		c.got(data, now)
	}
}

// BenchmarkCallbackToConsoleLatency measures what a moderator waits for:
// the time from a callback's POST to the relay until each of 100
// consoles connected to it has the event, at a steady 500 callbacks/s
// (b.N callbacks: realistic connectionCreated bodies, each with its own
// connection id, over 20 sessions). Every hop is real: HTTP on loopback,
// the JetStream append fsynced before the 200, the hub's fan-out, 100
// WebSockets. It reports the median and the 99th percentile over every
// (callback, console) pair — the goal is a p99 under 25 ms — and the
// 99th percentile of the POST's own answer (ack-p99-ms).
//
// The consoles run in the benchmark's process, on the same cores as the
// relay, which a deployed relay does not have to share:
//
//   - relayclient: each console is gavel's relayclient.Run, which decodes
//     every frame — the whole client stack, at the price of its CPU;
//   - websocket: each console is a bare WebSocket reader, so nearly all
//     the CPU is the relay's.
//
// Run: go test ./events/relay -run '^$' -bench CallbackToConsoleLatency -benchtime 2000x -count 3
func BenchmarkCallbackToConsoleLatency(b *testing.B) {
	b.Run("relayclient", func(b *testing.B) { benchCallbackLatency(b, (*latencyConsole).runRelayclient) })
	b.Run("websocket", func(b *testing.B) { benchCallbackLatency(b, (*latencyConsole).runWebSocket) })
}

func benchCallbackLatency(b *testing.B, run func(*latencyConsole, context.Context, string, string) error) {
	ln := listenLoopback(b)
	r := startRelay(b, ln, relay.Config{Name: "relay-bench"}, nil)

	consoles := make([]*latencyConsole, latencyConsoles)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	token := r.token(b, "bench", events.RoleViewer)
	for i := range consoles {
		c := &latencyConsole{received: make([]time.Time, b.N)}
		consoles[i] = c
		wg.Go(func() {
			if err := run(c, ctx, r.wsURL, token); err != nil && !errors.Is(err, context.Canceled) {
				b.Errorf("console %d: %v", i, err)
			}
		})
	}
	b.Cleanup(func() { cancel(); wg.Wait() })
	waitFor(b, 30*time.Second, "100 consoles live", func() bool {
		for _, c := range consoles {
			if ready, _ := c.progress(); !ready {
				return false
			}
		}
		return true
	})

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	b.Cleanup(client.CloseIdleConnections)
	url := r.httpURL + "/v1/callbacks/session"
	sent := make([]time.Time, b.N)
	acked := make([]time.Duration, b.N)
	base := time.Now().UnixMilli()
	var senders sync.WaitGroup

	b.ResetTimer()
	tick := time.NewTicker(time.Second / latencyRate)
	for i := range b.N {
		<-tick.C
		ms := base + int64(i)
		body := fmt.Sprintf(`{"sessionId":"2_MX40NjAwMDAwMH5-bench-%02d","projectId":"46000000","event":"connectionCreated","timestamp":%d,"connection":{"id":"bench-conn-%d","createdAt":%d,"data":"{\"name\":\"Viewer %d\",\"role\":\"viewer\"}"}}`,
			i%latencySessions, ms, i, ms, i)
		at := time.Now()
		sent[i] = at
		// Each POST on its own goroutine, as the service's concurrent
		// deliveries are: one slow append must not hold back the next
		// tick, or the rate would sag below 500/s.
		senders.Go(func() {
			resp, err := client.Post(url, "application/json", bytes.NewReader([]byte(body)))
			if err != nil {
				b.Errorf("callback %d: %v", i, err)
				return
			}
			resp.Body.Close()
			acked[i] = time.Since(at)
			if resp.StatusCode != http.StatusOK {
				b.Errorf("callback %d: %s", i, resp.Status)
			}
		})
	}
	tick.Stop()
	senders.Wait()
	waitFor(b, 60*time.Second, "every console to get every callback", func() bool {
		for _, c := range consoles {
			if _, n := c.progress(); n < b.N {
				return false
			}
		}
		return true
	})
	b.StopTimer()

	lat := make([]time.Duration, 0, b.N*len(consoles))
	for _, c := range consoles {
		c.mu.Lock()
		for i, at := range c.received {
			lat = append(lat, at.Sub(sent[i]))
		}
		c.mu.Unlock()
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	pct := func(l []time.Duration, p float64) time.Duration {
		slices.Sort(l)
		return l[min(len(l)-1, int(p*float64(len(l))))]
	}
	b.ReportMetric(ms(pct(lat, 0.50)), "p50-ms")
	b.ReportMetric(ms(pct(lat, 0.99)), "p99-ms")
	b.ReportMetric(ms(pct(acked, 0.99)), "ack-p99-ms")
	// ns/op would be the pacing (2 ms a callback), not a cost: hide it.
	b.ReportMetric(0, "ns/op")
}
