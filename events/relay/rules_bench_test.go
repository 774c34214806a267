package relay_test

import (
	"encoding/json"
	"net/http"
	"path"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok"
)

// disconnectClock records when each force disconnect left for the Video
// API, by connection id.
type disconnectClock struct {
	base http.RoundTripper
	mu   sync.Mutex
	sent map[string]time.Time
}

func (d *disconnectClock) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodDelete {
		d.mu.Lock()
		d.sent[path.Base(req.URL.Path)] = time.Now()
		d.mu.Unlock()
	}
	return d.base.RoundTrip(req)
}

// BenchmarkBanRemovalLatency: a banned person rejoins b.N times; each
// time, how long from their connectionCreated reaching the relay (the
// record's received_at) to the force-disconnect request leaving it for
// the Video API (the emulator, on loopback). In between: the log append,
// the hub applying the record, the rule's decision, its claim (an audit
// append), the gavel-banned signal (a REST call), then the disconnect.
//
//	go test ./events/relay -run '^$' -bench BanRemovalLatency -benchtime 1000x -count 3
func BenchmarkBanRemovalLatency(b *testing.B) {
	ln := listenLoopback(b)
	emu := newEmulator(b, httpBase(ln), httpBase(ln))
	clock := &disconnectClock{base: &http.Transport{MaxIdleConnsPerHost: 8}, sent: map[string]time.Time{}}
	client, err := emu.Client(false, opentok.WithHTTPClient(&http.Client{Transport: clock, Timeout: 30 * time.Second}))
	if err != nil {
		b.Fatal(err)
	}
	r := startRelay(b, ln, relay.Config{Name: "relay-ban-bench"}, client)
	beforeRelaysStop(b, clock.base.(*http.Transport).CloseIdleConnections, func() { _ = emu.Close() })
	sess, err := client.Sessions.Create(b.Context(), opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		b.Fatal(err)
	}
	mod := startConsole(b, r.wsURL, r.secret, "mia", consoleOptions{role: events.RoleModerator})
	params, _ := json.Marshal(events.CommandParams{Match: "Troll", For: "1h"})
	if res := mod.command(b, events.Command{Type: events.FrameCommand, ID: "ban", Action: events.ActionBan, Session: sess.ID, Params: params}, 30*time.Second); !res.OK {
		b.Fatalf("ban: %+v", res.Error)
	}
	tok, err := client.Token(sess.ID, opentok.TokenOptions{Data: `{"name":"Troll"}`})
	if err != nil {
		b.Fatal(err)
	}
	conns := make([]string, 0, b.N)
	b.ResetTimer()
	for range b.N {
		p, err := emu.Join(sess.ID, tok.Value)
		if err != nil {
			b.Fatal(err)
		}
		waitFor(b, 10*time.Second, "the banned person to be removed", func() bool {
			connected, _ := p.Connected()
			return !connected
		})
		conns = append(conns, p.ConnectionID())
	}
	b.StopTimer()
	received := map[string]time.Time{}
	for _, rec := range logRecords(b, r) {
		if ev, err := events.Decode(rec.Group, rec.Event); err == nil && rec.Type == events.FrameEvent && ev.Kind == events.ConnectionCreated {
			received[ev.Connection.ID] = rec.ReceivedAt
		}
	}
	lat := make([]time.Duration, 0, len(conns))
	clock.mu.Lock()
	for _, id := range conns {
		sent, ok := clock.sent[id]
		at, heard := received[id]
		if !ok || !heard {
			b.Fatalf("connection %s: disconnect sent %v, callback logged %v", id, ok, heard)
		}
		lat = append(lat, sent.Sub(at))
	}
	clock.mu.Unlock()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99-ms")
}
