package relay_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
)

// webhookReceiver is a loopback endpoint that verifies Standard Webhooks
// signatures and is down (503) for its first `down` requests.
type webhookReceiver struct {
	secret string
	mu     sync.Mutex
	down   int
	calls  int
	got    []string // alert ids, in arrival order (repeats kept)
	bad    []string
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if w.calls <= w.down {
		http.Error(rw, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	if r.Header.Get("webhook-signature") != "v1,"+relay.SignStandardWebhook(w.secret, id, ts, body) || id == "" || ts == "" {
		w.bad = append(w.bad, string(body))
		http.Error(rw, "bad signature", http.StatusUnauthorized)
		return
	}
	var d struct {
		Type string       `json:"type"`
		Data events.Alert `json:"data"`
	}
	if err := json.Unmarshal(body, &d); err != nil || d.Type != "alert."+d.Data.Kind {
		w.bad = append(w.bad, string(body))
		return
	}
	w.got = append(w.got, d.Data.ID)
}

// firstSeen is the ids in the order they first arrived.
func (w *webhookReceiver) firstSeen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, id := range w.got {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// serveRelay serves a relay until the returned stop is called (or the
// test ends).
func serveRelay(t *testing.T, cfg relay.Config) (*relay.Server, func()) {
	t.Helper()
	ln := listenLoopback(t)
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	srv, err := relay.NewServer(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("relay %s: Serve: %v", cfg.Name, err)
			}
		})
	}
	t.Cleanup(stop)
	waitFor(t, 15*time.Second, "relay "+cfg.Name+" ready", func() bool { return srv.Hub().Ready() })
	return srv, stop
}

func appendAlert(t *testing.T, srv *relay.Server, id string) {
	t.Helper()
	al := events.Alert{ID: id, Kind: events.AlertHostLeft, Text: "host left: " + id, At: time.Now().UTC()}
	a := events.Audit{At: al.At, Actor: "rule:alert", Action: events.ActionAlert, Target: id, OK: true, Detail: al.Text, Alert: &al}
	if _, _, err := srv.Log().Append(t.Context(), events.Record{Type: events.FrameAudit, Audit: &a}, "alert:"+id); err != nil {
		t.Fatal(err)
	}
}

// TestWebhooksDeliverEveryAlertInOrderAcrossARestart: a receiver that is
// down gets every alert, in order, once it is back, with a valid Standard
// Webhooks signature — and a relay that stops mid-way hands over to the
// next one on the same NATS, which carries on where it was.
func TestWebhooksDeliverEveryAlertInOrderAcrossARestart(t *testing.T) {
	ns := startNATSServer(t)
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a webhook secret of 32 bytes!!!!"))
	recv := &webhookReceiver{secret: secret}
	hook := httptest.NewServer(recv)
	defer hook.Close()
	cfg := func(name string) relay.Config {
		return relay.Config{Name: name, NatsURL: ns.ClientURL(), Secret: e2eSecret(t),
			Webhooks: []relay.WebhookConfig{{URL: hook.URL, Secret: secret, RetryMin: 20 * time.Millisecond}}}
	}
	a, stopA := serveRelay(t, cfg("relay-a"))
	// The outbox starts at what is appended once it exists.
	warmups := 0
	waitFor(t, 10*time.Second, "the webhook's outbox", func() bool {
		warmups++
		appendAlert(t, a, fmt.Sprint("warmup-", warmups))
		return len(recv.firstSeen()) > 0
	})
	// The receiver goes down for the next three deliveries.
	recv.mu.Lock()
	recv.down = recv.calls + 3
	recv.mu.Unlock()
	for i := 1; i <= 3; i++ {
		appendAlert(t, a, fmt.Sprint("a", i))
	}
	waitFor(t, 20*time.Second, "a1 through the receiver's outage", func() bool { return slices.Contains(recv.firstSeen(), "a1") })
	stopA()

	b, _ := serveRelay(t, cfg("relay-b"))
	appendAlert(t, b, "a4")
	waitFor(t, 20*time.Second, "every alert after the restart", func() bool { return slices.Contains(recv.firstSeen(), "a4") })
	got := recv.firstSeen()
	if !slices.Equal(got[len(got)-4:], []string{"a1", "a2", "a3", "a4"}) {
		t.Errorf("alerts arrived in the order %v, want … a1 a2 a3 a4", got)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.bad) > 0 {
		t.Errorf("deliveries with a bad signature or body: %q", recv.bad)
	}
	if recv.calls <= recv.down {
		t.Errorf("the receiver was never down (%d calls)", recv.calls)
	}
}

// TestAFailingWebhookIsAnAlert: a webhook that keeps failing is itself an
// alert in every console, raised once however long it keeps failing.
func TestAFailingWebhookIsAnAlert(t *testing.T) {
	ns := startNATSServer(t)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "gone", http.StatusGone)
	}))
	defer hook.Close()
	srv, _ := serveRelay(t, relay.Config{Name: "relay-hook", NatsURL: ns.ClientURL(), Secret: e2eSecret(t),
		Webhooks: []relay.WebhookConfig{{URL: hook.URL, Format: relay.WebhookSlack, RetryMin: 5 * time.Millisecond}}})
	failing := func() int {
		n := 0
		srv.Hub().State(func(s *events.State) {
			for _, al := range s.Alerts() {
				if al.Kind == events.AlertWebhookFailing {
					n++
				}
			}
		})
		return n
	}
	warmups := 0
	waitFor(t, 20*time.Second, "the webhook_failing alert", func() bool {
		warmups++
		appendAlert(t, srv, fmt.Sprint("never-delivered-", warmups))
		return failing() > 0
	})
	if n := failing(); n != 1 {
		t.Errorf("%d webhook_failing alerts, want 1", n)
	}
}
