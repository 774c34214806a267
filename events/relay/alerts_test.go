package relay_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

// alertsOf is what a console holds.
func (c *console) alerts() []events.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mirror.State.Alerts()
}

func findAlert(alerts []events.Alert, kind string) (events.Alert, bool) {
	for _, al := range alerts {
		if al.Kind == kind {
			return al, true
		}
	}
	return events.Alert{}, false
}

// TestAlertsReachEveryConsoleOnceUntilAcknowledged: a host who leaves a
// session with viewers in it, and a burst of network drops in a session,
// raise one alert each — once, though two relays on one NATS both see
// the callbacks — which every console holds, a late one too; a moderator
// acknowledges one, and every console sees who did.
func TestAlertsReachEveryConsoleOnceUntilAcknowledged(t *testing.T) {
	ns := startNATSServer(t)
	secret := e2eSecret(t)
	lnA, lnB := listenLoopback(t), listenLoopback(t)
	lb, rr := newRoundRobin(t, httpBase(lnA), httpBase(lnB))
	emu := newEmulator(t, lb.URL, lb.URL)
	client, closeIdle := newEmulatorClient(t, emu)
	alerts := relay.AlertsConfig{NetworkDrops: 3, NetworkWindow: time.Minute}
	a := startRelay(t, lnA, relay.Config{Name: "relay-a", NatsURL: ns.ClientURL(), Secret: secret, Alerts: alerts}, client)
	startRelay(t, lnB, relay.Config{Name: "relay-b", NatsURL: ns.ClientURL(), Secret: secret, Alerts: alerts}, client)
	beforeRelaysStop(t, closeIdle, func() { _ = emu.Close() }, lb.Close, rr.tr.CloseIdleConnections)
	mod := startConsole(t, a.wsURL, secret, "mia", consoleOptions{role: events.RoleModerator})

	sess, err := client.Sessions.Create(t.Context(), opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	join := func(data string) *opentoktest.Participant {
		tok, err := client.Token(sess.ID, opentok.TokenOptions{Data: data})
		if err != nil {
			t.Fatal(err)
		}
		p, err := emu.Join(sess.ID, tok.Value)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	host := join(`{"name":"Dana","role":"host"}`)
	var viewers []*opentoktest.Participant
	for i := range 4 {
		viewers = append(viewers, join(fmt.Sprintf(`{"name":"V%d","role":"viewer"}`, i)))
	}
	flush(t, emu, 10*time.Second)
	if err := host.Leave(); err != nil {
		t.Fatal(err)
	}
	for _, v := range viewers[:3] {
		if err := v.DropNetwork(); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, emu, 10*time.Second)
	waitFor(t, 10*time.Second, "both alerts at the moderator's console", func() bool {
		_, left := findAlert(mod.alerts(), events.AlertHostLeft)
		_, net := findAlert(mod.alerts(), events.AlertNetworkIncident)
		return left && net
	})
	hostLeft, _ := findAlert(mod.alerts(), events.AlertHostLeft)
	if hostLeft.Session != sess.ID || hostLeft.Text == "" {
		t.Errorf("host_left alert %+v", hostLeft)
	}

	raised := 0
	for _, rec := range logRecords(t, a) {
		if rec.Type == events.FrameAudit && rec.Audit.Action == events.ActionAlert {
			raised++
		}
	}
	if raised != 2 {
		t.Errorf("%d alerts in the log, want 2: each raised once by two relays", raised)
	}

	params, _ := json.Marshal(events.CommandParams{Alert: hostLeft.ID})
	if res := mod.command(t, events.Command{Type: events.FrameCommand, ID: "ack-1", Action: events.ActionAck, Params: params}, 30*time.Second); !res.OK {
		t.Fatalf("ack: %+v", res.Error)
	}
	if res := mod.command(t, events.Command{Type: events.FrameCommand, ID: "ack-2", Action: events.ActionAck, Params: params}, 30*time.Second); res.OK || res.Error.Status != http.StatusConflict {
		t.Errorf("a second ack: %+v, want 409", res.Error)
	}
	late := startConsole(t, a.wsURL, secret, "late", consoleOptions{})
	for _, c := range []*console{mod, late} {
		waitFor(t, 10*time.Second, "console "+c.name+" to hold the acknowledgement", func() bool {
			al, ok := findAlert(c.alerts(), events.AlertHostLeft)
			return ok && al.AckedBy == "mia"
		})
		if al, _ := findAlert(c.alerts(), events.AlertNetworkIncident); al.AckedBy != "" {
			t.Errorf("console %s: the network incident was acknowledged too", c.name)
		}
	}
}

// TestRelayHealthAlerts: callbacks refused for a bad signature, and the
// Video API refusing the relay's credentials, are alerts — once an hour,
// however often they happen.
func TestRelayHealthAlerts(t *testing.T) {
	ln := listenLoopback(t)
	emu := newEmulator(t, httpBase(ln), httpBase(ln))
	creds, err := opentok.ProjectCredentials(emu.APIKey, "not-the-secret")
	if err != nil {
		t.Fatal(err)
	}
	client, err := opentok.New(creds, opentok.WithBaseURL(emu.URL))
	if err != nil {
		t.Fatal(err)
	}
	r := startRelay(t, ln, relay.Config{Name: "relay-health", SignatureSecret: "the-callback-signature-secret"}, client)
	beforeRelaysStop(t, func() { _ = emu.Close() })
	mod := startConsole(t, r.wsURL, r.secret, "mia", consoleOptions{role: events.RoleModerator})

	for range 2 {
		resp, err := http.Post(r.httpURL+"/v1/callbacks/session", "application/json",
			bytes.NewReader([]byte(`{"sessionId":"s","projectId":"1","event":"connectionCreated","timestamp":1,"connection":{"id":"c","createdAt":1,"data":""}}`)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("an unsigned callback: %s", resp.Status)
		}
	}
	for i := range 2 {
		res := mod.command(t, events.Command{Type: events.FrameCommand, ID: fmt.Sprint("d", i), Action: events.ActionDisconnect, Session: "1_MX4-s", Connection: "c1"}, 30*time.Second)
		if res.OK {
			t.Fatal("a command with refused credentials succeeded")
		}
	}
	waitFor(t, 10*time.Second, "both health alerts", func() bool {
		_, sig := findAlert(mod.alerts(), events.AlertSignaturesRefused)
		_, cred := findAlert(mod.alerts(), events.AlertCredentialsRefused)
		return sig && cred
	})
	n := map[string]int{}
	for _, rec := range logRecords(t, r) {
		if rec.Type == events.FrameAudit && rec.Audit.Action == events.ActionAlert {
			n[rec.Audit.Alert.Kind]++
		}
	}
	if n[events.AlertSignaturesRefused] != 1 || n[events.AlertCredentialsRefused] != 1 {
		t.Errorf("alerts raised %v, want one of each", n)
	}
}

// TestARelayBehindItsLogIsAnAlert: a relay that keeps up raises nothing;
// one whose hub stops applying the log (here: its lock held, as a stalled
// fold would) raises relay_behind once the oldest record it has not
// applied has waited alerts.log_lag, once, and its consoles see it when
// it catches up.
func TestARelayBehindItsLogIsAnAlert(t *testing.T) {
	ln := listenLoopback(t)
	r := startRelay(t, ln, relay.Config{Name: "slow-relay", Alerts: relay.AlertsConfig{LogLag: time.Second}}, nil)
	mod := startConsole(t, r.wsURL, r.secret, "mia", consoleOptions{role: events.RoleModerator})
	join := func(i int) {
		postCallback(t, r.httpURL, events.GroupSession, fmt.Sprintf(
			`{"sessionId":"s","projectId":"1","event":"connectionCreated","timestamp":%d,"connection":{"id":"c%d","createdAt":1,"data":""}}`,
			time.Now().UnixMilli(), i))
	}
	behindAlerts := func() int {
		n := 0
		for _, rec := range logRecords(t, r) {
			if rec.Type == events.FrameAudit && rec.Audit.Alert != nil && rec.Audit.Alert.Kind == events.AlertRelayBehind {
				n++
			}
		}
		return n
	}
	// Keeping up, for twice the threshold.
	for i := range 20 {
		join(i)
		time.Sleep(100 * time.Millisecond)
	}
	if n := behindAlerts(); n != 0 {
		t.Fatalf("a relay keeping up raised %d relay_behind alerts", n)
	}

	// Stalled: callbacks are stored, nothing is applied.
	release := make(chan struct{})
	held := make(chan struct{})
	go r.srv.Hub().State(func(*events.State) { close(held); <-release })
	<-held
	stalled := time.Now()
	join(100)
	waitFor(t, 10*time.Second, "a relay_behind alert in the log", func() bool { return behindAlerts() > 0 })
	if d := time.Since(stalled); d < time.Second {
		t.Errorf("relay_behind raised %v into the stall, before log_lag (1s)", d)
	}
	time.Sleep(time.Second) // more ticks, still behind: no second alert
	close(release)
	waitFor(t, 10*time.Second, "the console to hold the alert", func() bool {
		_, ok := findAlert(mod.alerts(), events.AlertRelayBehind)
		return ok
	})
	al, _ := findAlert(mod.alerts(), events.AlertRelayBehind)
	if !strings.Contains(al.Text, "relay slow-relay is ") || !strings.Contains(al.Text, "behind its log") {
		t.Errorf("the alert says %q: want it to name the relay and what is wrong", al.Text)
	}
	if n := behindAlerts(); n != 1 {
		t.Errorf("%d relay_behind alerts for one stall, want 1 (once an hour)", n)
	}
	// The gauge follows at the next tick.
	waitFor(t, 5*time.Second, "log_behind_seconds back to 0", func() bool {
		return scrapeMetrics(t, r)["gavel_relay_log_behind_seconds"] == 0
	})
}
