package relay_test

// End-to-end: the emulator's simulated crowds post real callbacks to a real
// relay on loopback, which logs them in JetStream and fans them out over
// WebSockets to consoles (relayclient + Mirror); every console must end
// with the picture the service itself has (the emulator's ground truth).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok/opentoktest"
	"github.com/nats-io/nats-server/v2/server"
)

// e2eSpeed is how much faster than real time the scenarios run: four
// minutes of a classroom, calls and a town hall in two seconds.
const e2eSpeed = 120

// e2eSize is the crowd scale and scenario length. It is the same with
// -short: the whole set takes about ten seconds, and smaller crowds would
// let the faulty run go without a drop, or the traffic end before the
// relay is killed.
func e2eSize() (scale int, duration time.Duration) {
	return 2, 4 * time.Minute
}

// scenarioWait bounds how long scenarios of duration may take in real time.
func scenarioWait(duration time.Duration) time.Duration {
	return time.Duration(float64(duration)/e2eSpeed) + 30*time.Second
}

// waitScenarios waits for runScenarios to end and fails on their errors.
func waitScenarios(t *testing.T, done <-chan struct{}, errs func() error, within time.Duration) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("scenarios still running after %s", within)
	}
	if err := errs(); err != nil {
		t.Fatal(err)
	}
}

// relayState is the relay's own picture.
func relayState(r *testRelay) []events.Session {
	var out []events.Session
	r.srv.Hub().State(func(s *events.State) { out = s.Sessions() })
	return out
}

// TestScenarioToConsolesMatchesGroundTruth is the relay's promise end to end: a
// faithful emulator's callbacks for a classroom, one-to-one calls and a
// town hall reach, through one relay, three consoles that connected before,
// during and after the traffic — so one follows the live stream from the
// empty log, one starts from a snapshot taken mid-flight and one from the
// final snapshot — and every one of them (and the relay) ends with exactly
// the live connections and streams the service has, having been handed a
// gap-free sequence.
func TestScenarioToConsolesMatchesGroundTruth(t *testing.T) {
	scale, duration := e2eSize()
	ln := listenLoopback(t)
	emu := newEmulator(t, httpBase(ln), httpBase(ln), opentoktest.WithTimeScale(100), opentoktest.WithSeed(11))
	client, closeIdle := newEmulatorClient(t, emu)
	r := startRelay(t, ln, relay.Config{Name: "relay-e2e"}, client)
	beforeRelaysStop(t, closeIdle, func() { _ = emu.Close() })

	early := startConsole(t, r.wsURL, r.secret, "early", consoleOptions{})
	waitFor(t, 10*time.Second, "the early console's snapshot", func() bool { return len(early.positionList()) > 0 })

	done, errs := runScenarios(t.Context(), emu, standardScenarios(11, scale, e2eSpeed, duration)...)
	// The second console joins once a good part of the traffic has gone by.
	waitFor(t, scenarioWait(duration), "traffic", func() bool {
		select {
		case <-done:
			return true
		default:
			return early.applied() >= 60
		}
	})
	select {
	case <-done:
		t.Fatal("the scenarios ended before the mid-scenario console could join: make them longer")
	default:
	}
	mid := startConsole(t, r.wsURL, r.secret, "mid", consoleOptions{})
	waitScenarios(t, done, errs, scenarioWait(duration))
	flush(t, emu, 30*time.Second)
	late := startConsole(t, r.wsURL, r.secret, "late", consoleOptions{})
	waitCaughtUp(t, 20*time.Second, func() uint64 { return r.lastSeq(t) }, early, mid, late)

	stats := emu.CallbackStats()
	if stats.Failed != 0 || stats.Dropped != 0 || stats.Delivered == 0 {
		t.Fatalf("callback delivery: %+v; want everything delivered", stats)
	}
	truth := emu.Sessions()
	sessions, conns, streams := truthTotals(truth)
	t.Logf("%d callbacks delivered, log at seq %d; ground truth: %d live sessions, %d connections, %d streams",
		stats.Delivered, r.lastSeq(t), sessions, conns, streams)
	if conns == 0 || streams == 0 {
		t.Fatal("the scenarios left nothing live to compare")
	}
	if p := mid.positionList(); len(p) == 0 || p[0].seq == 0 {
		t.Errorf("the mid console's snapshot is at seq %v: it should have started mid-flight", head(p))
	}

	strict := compareOptions{counts: true}
	compareWithTruth(t, "the relay's state", relayState(r), truth, strict)
	epoch := r.srv.Log().Epoch()
	for _, c := range []*console{early, mid, late} {
		c.checkGapFree(t)
		compareWithTruth(t, "console "+c.name, c.sessions(), truth, strict)
		for _, h := range c.helloList() {
			if h.Epoch != epoch {
				t.Errorf("console %s: hello epoch %q, log epoch %q", c.name, h.Epoch, epoch)
			}
		}
	}
	// The early console saw every record: one per accepted callback (and
	// any event of the reconcile at start, which may overlap the first
	// callbacks).
	if got := countCallbacks(early.recordList()); got != stats.Delivered {
		t.Errorf("the early console saw %d callback records; %d callbacks were delivered", got, stats.Delivered)
	}
}

// TestFaultyCallbacksHealAfterReconcile: the emulator drops, duplicates,
// reorders and delays callbacks. Duplicates must not show twice (the log
// de-duplicates them), order must not matter (the reducer converges), and
// what was dropped must be healed by the relay's own reconcile, asked for
// by an admin console: afterwards every console and the relay match the
// ground truth, save for the token data of a connection no callback ever
// described (the REST list does not carry it).
func TestFaultyCallbacksHealAfterReconcile(t *testing.T) {
	scale, duration := e2eSize()
	// Enough callbacks (well over a thousand) that a 1 % drop rate drops
	// some on every run: a callback's fate depends on its bytes, which
	// carry wall-clock timestamps, so the seed alone cannot pin it.
	scale *= 2
	ln := listenLoopback(t)
	emu := newEmulator(t, httpBase(ln), httpBase(ln),
		opentoktest.WithTimeScale(100),
		opentoktest.WithSeed(23),
		opentoktest.WithFaults(opentoktest.Faults{Drop: 0.01, Duplicate: 0.05, Reorder: 0.2, Delay: 0.05, MaxDelay: 2 * time.Second}),
	)
	client, closeIdle := newEmulatorClient(t, emu)
	r := startRelay(t, ln, relay.Config{Name: "relay-faulty"}, client)
	beforeRelaysStop(t, closeIdle, func() { _ = emu.Close() })

	early := startConsole(t, r.wsURL, r.secret, "early", consoleOptions{})
	admin := startConsole(t, r.wsURL, r.secret, "admin", consoleOptions{role: events.RoleAdmin})
	waitFor(t, 10*time.Second, "the consoles' snapshots", func() bool {
		return len(early.positionList()) > 0 && len(admin.positionList()) > 0
	})
	done, errs := runScenarios(t.Context(), emu, standardScenarios(23, scale, e2eSpeed, duration)...)
	waitFor(t, scenarioWait(duration), "traffic", func() bool {
		select {
		case <-done:
			return true
		default:
			return early.applied() >= 60
		}
	})
	mid := startConsole(t, r.wsURL, r.secret, "mid", consoleOptions{})
	waitScenarios(t, done, errs, scenarioWait(duration))
	flush(t, emu, 30*time.Second)
	late := startConsole(t, r.wsURL, r.secret, "late", consoleOptions{})
	consoles := []*console{early, admin, mid, late}
	waitCaughtUp(t, 20*time.Second, func() uint64 { return r.lastSeq(t) }, consoles...)

	stats := emu.CallbackStats()
	t.Logf("callback delivery: %+v", stats)
	if stats.Dropped == 0 || stats.Duplicated == 0 || stats.Reordered == 0 || stats.Delayed == 0 {
		t.Fatalf("the faults did not all happen (%+v): the test proves nothing; make the scenarios bigger", stats)
	}
	if stats.Failed != 0 {
		t.Fatalf("%d callbacks given up", stats.Failed)
	}
	// Every duplicate copy was answered 2xx, and stored once.
	if got, want := countCallbacks(early.recordList()), stats.Delivered-stats.Duplicated; got != want {
		t.Errorf("log holds %d records; %d distinct callbacks were delivered (%d copies)", got, want, stats.Delivered)
	}

	truth := emu.Sessions()
	before := differences(relayState(r), truth, compareOptions{})
	t.Logf("before reconcile the relay differs from the ground truth in %d ways (dropped callbacks)", len(before))

	beforeSeq := r.lastSeq(t)
	res := admin.command(t, events.Command{ID: "heal", Action: events.ActionReconcile}, 30*time.Second)
	if !res.OK {
		t.Fatalf("reconcile: %+v", res.Error)
	}
	var answer struct {
		Events int `json:"events"`
	}
	if err := json.Unmarshal(res.Data, &answer); err != nil {
		t.Fatalf("reconcile result data %s: %v", res.Data, err)
	}
	waitCaughtUp(t, 20*time.Second, func() uint64 { return r.lastSeq(t) }, consoles...)
	truth = emu.Sessions() // unchanged: the scenarios are over; read again all the same

	all := early.recordList()
	described := connectionsWithData(t, all)
	missingData := func(id string) bool { return !described[id] }
	compareWithTruth(t, "the relay's state after reconcile", relayState(r), truth, compareOptions{missingData: missingData})
	for _, c := range consoles {
		c.checkGapFree(t)
		// A console that started from a snapshot holds the relay's
		// tombstones: late creates of the dead after it revive nothing.
		compareWithTruth(t, "console "+c.name+" after reconcile", c.sessions(), truth, compareOptions{missingData: missingData})
	}
	// The reconcile's events are in the log after the command, marked as
	// such, as many as it said, followed by the admin's audit entry.
	var reconciled, audited int
	for _, f := range early.recordList() {
		switch {
		case f.seq <= beforeSeq:
		case strings.Contains(f.raw, `"source":"reconcile"`):
			if audited > 0 {
				t.Errorf("reconcile event at seq %d after the audit entry", f.seq)
			}
			reconciled++
		case strings.Contains(f.raw, `"type":"audit"`) && strings.Contains(f.raw, `"action":"reconcile"`):
			audited++
		}
	}
	t.Logf("reconcile said it appended %d events; the log has %d after seq %d", answer.Events, reconciled, beforeSeq)
	if reconciled != answer.Events {
		t.Errorf("reconcile said %d events, the log has %d", answer.Events, reconciled)
	}
	if len(before) > 0 && reconciled == 0 {
		t.Errorf("the relay differed from the ground truth in %d ways but reconcile appended no event", len(before))
	}
	if audited != 1 {
		t.Errorf("%d audit entries for the reconcile command; want 1", audited)
	}
}

// startNATSServer runs a standalone nats-server with JetStream on a free
// loopback port, as a team's shared NATS would be.
func startNATSServer(t testing.TB) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		SyncAlways: true, NoSigs: true, NoLog: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// roundRobin is a load balancer in front of several relays: each callback
// goes to the next one, so a session's callbacks land on different
// instances, and so do the copies of a duplicated callback.
type roundRobin struct {
	proxies []*httputil.ReverseProxy
	tr      *http.Transport
	next    atomic.Uint64

	mu       sync.Mutex
	accepted []int          // 2xx answers per target
	storedBy map[string]int // callback body → the target that stored it
	// crossDuplicates counts copies answered "duplicate" by another
	// target than the one that stored the callback: a retry landing on a
	// second relay instance, de-duplicated by the shared log.
	crossDuplicates int
}

func newRoundRobin(t testing.TB, targets ...string) (*httptest.Server, *roundRobin) {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	rr := &roundRobin{tr: tr, accepted: make([]int, len(targets)), storedBy: map[string]int{}}
	t.Cleanup(tr.CloseIdleConnections)
	for _, target := range targets {
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		rr.proxies = append(rr.proxies, &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }, Transport: tr})
	}
	srv := httptest.NewServer(rr)
	t.Cleanup(srv.Close)
	return srv, rr
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	i := int((rr.next.Add(1) - 1) % uint64(len(rr.proxies)))
	rec := httptest.NewRecorder()
	rr.proxies[i].ServeHTTP(rec, r)
	if rec.Code/100 == 2 {
		var receipt struct {
			Duplicate bool `json:"duplicate"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &receipt)
		rr.mu.Lock()
		rr.accepted[i]++
		if by, ok := rr.storedBy[string(body)]; !ok && !receipt.Duplicate {
			rr.storedBy[string(body)] = i
		} else if ok && receipt.Duplicate && by != i {
			rr.crossDuplicates++
		}
		rr.mu.Unlock()
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// TestTwoRelaysShareOneNATS: two relays on one external JetStream, with a
// round-robin load balancer splitting the emulator's callbacks between
// them, and duplicated callbacks whose copies land on the other relay.
// Being one log, they store each callback once, give their consoles the
// same epoch and the very same sequence of frames, seq for seq and byte
// for byte, and every console and both relays end with the ground truth.
func TestTwoRelaysShareOneNATS(t *testing.T) {
	_, duration := e2eSize()
	ns := startNATSServer(t)
	secret := e2eSecret(t)
	lnA, lnB := listenLoopback(t), listenLoopback(t)
	lb, rr := newRoundRobin(t, httpBase(lnA), httpBase(lnB))
	emu := newEmulator(t, lb.URL, lb.URL, opentoktest.WithTimeScale(100), opentoktest.WithSeed(37),
		opentoktest.WithFaults(opentoktest.Faults{Duplicate: 0.1}))
	client, closeIdle := newEmulatorClient(t, emu)
	a := startRelay(t, lnA, relay.Config{Name: "relay-a", NatsURL: ns.ClientURL(), Secret: secret}, client)
	b := startRelay(t, lnB, relay.Config{Name: "relay-b", NatsURL: ns.ClientURL(), Secret: secret}, client)
	beforeRelaysStop(t, closeIdle, func() { _ = emu.Close() }, lb.Close, rr.tr.CloseIdleConnections)

	onA := startConsole(t, a.wsURL, secret, "on-a", consoleOptions{})
	onB := startConsole(t, b.wsURL, secret, "on-b", consoleOptions{})
	waitFor(t, 10*time.Second, "the consoles' snapshots", func() bool {
		return len(onA.positionList()) > 0 && len(onB.positionList()) > 0
	})
	done, errs := runScenarios(t.Context(), emu, standardScenarios(37, 1, e2eSpeed, duration)...)
	waitScenarios(t, done, errs, scenarioWait(duration))
	flush(t, emu, 30*time.Second)
	lateB := startConsole(t, b.wsURL, secret, "late-on-b", consoleOptions{})
	consoles := []*console{onA, onB, lateB}
	waitCaughtUp(t, 20*time.Second, func() uint64 { return max(a.lastSeq(t), b.lastSeq(t)) }, consoles...)

	stats := emu.CallbackStats()
	if stats.Failed != 0 || stats.Delivered == 0 || stats.Duplicated == 0 {
		t.Fatalf("callback delivery: %+v; want all delivered, some twice", stats)
	}
	rr.mu.Lock()
	t.Logf("load balancer: accepted %v per relay; %d copies de-duplicated by the relay that had not stored the original", rr.accepted, rr.crossDuplicates)
	for i, n := range rr.accepted {
		if n == 0 {
			t.Errorf("relay %d accepted no callback: the load balancer did not split them", i)
		}
	}
	if rr.crossDuplicates == 0 {
		t.Errorf("no duplicate copy landed on the other relay (%d duplicated): the cross-instance de-duplication was not exercised", stats.Duplicated)
	}
	rr.mu.Unlock()

	if a.srv.Log().Epoch() != b.srv.Log().Epoch() {
		t.Fatalf("epochs differ: %s, %s", a.srv.Log().Epoch(), b.srv.Log().Epoch())
	}
	for _, c := range consoles {
		for _, h := range c.helloList() {
			if h.Epoch != a.srv.Log().Epoch() {
				t.Errorf("console %s: hello epoch %q, want %q", c.name, h.Epoch, a.srv.Log().Epoch())
			}
		}
		c.checkGapFree(t)
	}
	ra, rb := onA.recordList(), onB.recordList()
	if got, want := countCallbacks(ra), stats.Delivered-stats.Duplicated; got != want {
		t.Errorf("console on A saw %d callback records; %d distinct callbacks were delivered (%d copies)", got, want, stats.Delivered)
	}
	if !slices.Equal(ra, rb) {
		n := min(len(ra), len(rb))
		i := 0
		for i < n && ra[i] == rb[i] {
			i++
		}
		at := func(l []recordFrame) string {
			if i < len(l) {
				return fmt.Sprintf("seq %d %s", l[i].seq, l[i].raw)
			}
			return "nothing"
		}
		t.Errorf("consoles on A and B saw different sequences (%d and %d frames); first difference at %d: A %s, B %s", len(ra), len(rb), i, at(ra), at(rb))
	}

	truth := emu.Sessions()
	sessions, conns, streams := truthTotals(truth)
	t.Logf("%d callbacks, log at seq %d; ground truth: %d live sessions, %d connections, %d streams", stats.Delivered, a.lastSeq(t), sessions, conns, streams)
	strict := compareOptions{counts: true}
	compareWithTruth(t, "relay A", relayState(a), truth, strict)
	compareWithTruth(t, "relay B", relayState(b), truth, strict)
	for _, c := range consoles {
		compareWithTruth(t, "console "+c.name, c.sessions(), truth, strict)
	}
}

// postCallback POSTs one callback body as the service would and fails
// unless the relay stores it.
func postCallback(t testing.TB, base string, group events.Group, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/v1/callbacks/"+string(group), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("callback answered %s", resp.Status)
	}
}

// TestSnapshotConsoleIgnoresLateCreateOfTheDead pins down, without timing,
// a late create of the dead: a connection's connectionDestroyed is logged,
// a console starts from a snapshot, then the connection's late
// connectionCreated (a retry, or reordered by the service) is logged. The
// relay keeps a tombstone and ignores it; a console that followed the log
// from the start does too, and so does the console that started from the
// snapshot, which carries the tombstone.
func TestSnapshotConsoleIgnoresLateCreateOfTheDead(t *testing.T) {
	ln := listenLoopback(t)
	r := startRelay(t, ln, relay.Config{Name: "relay-late-create"}, nil)
	base := httpBase(ln)
	const sess = "1_MX40NjAwMDAwMH5-late-create"
	conn := func(event, id string, ts int64, reason string) string {
		return fmt.Sprintf(`{"sessionId":%q,"projectId":"46000000","event":%q,"reason":%q,"timestamp":%d,"connection":{"id":%q,"createdAt":1000,"data":"d"}}`,
			sess, event, reason, ts, id)
	}
	from := startConsole(t, r.wsURL, r.secret, "from-the-start", consoleOptions{})
	waitFor(t, 10*time.Second, "the first console's snapshot", func() bool { return len(from.positionList()) > 0 })
	postCallback(t, base, events.GroupSession, conn("connectionCreated", "alive", 1000, ""))
	postCallback(t, base, events.GroupSession, conn("connectionDestroyed", "dead", 2000, "clientDisconnected"))
	waitFor(t, 10*time.Second, "the relay to apply the destroy", func() bool { return r.srv.Hub().Applied() >= 2 })
	snap := startConsole(t, r.wsURL, r.secret, "from-a-snapshot", consoleOptions{})
	waitFor(t, 10*time.Second, "the second console's snapshot", func() bool { return len(snap.positionList()) > 0 })
	postCallback(t, base, events.GroupSession, conn("connectionCreated", "dead", 1000, ""))
	waitCaughtUp(t, 10*time.Second, func() uint64 { return r.lastSeq(t) }, from, snap)

	live := func(sessions []events.Session) []string {
		var ids []string
		for _, s := range sessions {
			for _, c := range s.Connections {
				ids = append(ids, c.ID)
			}
		}
		return ids
	}
	want := []string{"alive"}
	if got := live(relayState(r)); !slices.Equal(got, want) {
		t.Errorf("relay: live connections %v, want %v", got, want)
	}
	if got := live(from.sessions()); !slices.Equal(got, want) {
		t.Errorf("console from the start: live connections %v, want %v", got, want)
	}
	if got := live(snap.sessions()); !slices.Equal(got, want) {
		t.Errorf("console from a snapshot: live connections %v, want %v", got, want)
	}
}
