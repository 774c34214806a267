package relay_test

// Helpers of the end-to-end tests: a relay served on loopback, consoles
// that record everything they are handed, and the comparison of a
// console's picture with the emulator's ground truth.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

// e2eSecret is a fresh console-token secret for one test.
func e2eSecret(t testing.TB) []byte {
	t.Helper()
	secret := make([]byte, relay.MinSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	return secret
}

// listenLoopback reserves a free loopback port; the relay serves on it, so
// its URL is known before the emulator that posts to it is made.
func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// testRelay is a relay.Server serving on a loopback listener.
type testRelay struct {
	srv     *relay.Server
	httpURL string // http://127.0.0.1:port
	wsURL   string // ws://127.0.0.1:port/v1/stream
	secret  []byte
}

// startRelay builds a relay with cfg and serves it on ln until the test
// ends; Serve must then return without error (a clean shutdown).
func startRelay(t testing.TB, ln net.Listener, cfg relay.Config, client *opentok.Client) *testRelay {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = e2eSecret(t)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	if cfg.Reconcile == 0 {
		// Only the reconcile at start (which may overlap the first
		// callbacks) and the ones a test asks for: a periodic one in the
		// middle of the assertions would move the log under them.
		cfg.Reconcile = time.Hour
	}
	if cfg.Name == "" {
		cfg.Name = "relay-" + ln.Addr().String()
	}
	srv, err := relay.NewServer(t.Context(), cfg, client)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("relay %s: Serve: %v", cfg.Name, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("relay %s: Serve did not return 30 s after shutdown began", cfg.Name)
		}
	})
	addr := ln.Addr().String()
	r := &testRelay{srv: srv, httpURL: "http://" + addr, wsURL: "ws://" + addr + "/v1/stream", secret: cfg.Secret}
	waitFor(t, 15*time.Second, "relay "+cfg.Name+" ready", func() bool { return srv.Hub().Ready() })
	return r
}

// lastSeq is the log's last seq.
func (r *testRelay) lastSeq(t testing.TB) uint64 {
	t.Helper()
	_, last, err := r.srv.Log().Bounds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// token mints a console token for this relay.
func (r *testRelay) token(t testing.TB, name string, role events.Role) string {
	t.Helper()
	return mintToken(t, r.secret, name, role)
}

func mintToken(t testing.TB, secret []byte, name string, role events.Role) string {
	t.Helper()
	tok, err := relay.IssueToken(secret, name, role, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// waitFor polls cond every 10 ms until it holds, or fails the test after
// within.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// position is one seq-bearing frame a console was handed, in order: a
// complete snapshot as of seq, or a record (event or audit) at seq.
type position struct {
	snapshot bool
	seq      uint64
}

// recordFrame is one event or audit frame as received.
type recordFrame struct {
	seq uint64
	raw string
}

// console is a relayclient.Run with a Mirror, recording every frame it is
// handed for the assertions.
type console struct {
	name   string
	client *relayclient.Client
	cancel context.CancelFunc
	done   chan struct{}
	err    error // Run's result, once done is closed

	mu        sync.Mutex
	mirror    *relayclient.Mirror
	positions []position
	records   []recordFrame
	hellos    []events.Hello
	results   map[string]events.Result
	resultsC  chan struct{}        // closed and replaced when a result arrives
	presence  events.PresenceFrame // the latest
}

// consoleOptions tune startConsole.
type consoleOptions struct {
	role events.Role // default viewer
	// since and epoch resume from a position (0, "" = from a snapshot).
	since uint64
	epoch string
}

// startConsole connects a console to wsURL with a token signed by secret;
// it runs until the test ends.
func startConsole(t testing.TB, wsURL string, secret []byte, name string, opt consoleOptions) *console {
	t.Helper()
	if opt.role == "" {
		opt.role = events.RoleViewer
	}
	c := &console{
		name:     name,
		done:     make(chan struct{}),
		mirror:   relayclient.NewMirror(),
		results:  map[string]events.Result{},
		resultsC: make(chan struct{}),
	}
	c.client = relayclient.New(relayclient.Config{
		URL:   wsURL,
		Token: mintToken(t, secret, name, opt.role),
		Since: opt.since,
		Epoch: opt.epoch,
		// A relay killed and restarted is back within a second: come back
		// soon after, not after the default 15 s ceiling.
		MinBackoff: 20 * time.Millisecond,
		MaxBackoff: 250 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		c.err = c.client.Run(ctx, c.onFrame)
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
		if c.err != nil && !errors.Is(c.err, context.Canceled) {
			t.Errorf("console %s: Run: %v", name, c.err)
		}
	})
	return c
}

func (c *console) onFrame(f relayclient.Frame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mirror.Apply(f)
	switch {
	case f.Hello != nil:
		c.hellos = append(c.hellos, *f.Hello)
	case f.Snapshot != nil:
		if f.Snapshot.Part >= f.Snapshot.Parts {
			c.positions = append(c.positions, position{snapshot: true, seq: f.Snapshot.Seq})
		}
	case f.Event != nil, f.Audit != nil:
		c.positions = append(c.positions, position{seq: f.Seq()})
		c.records = append(c.records, recordFrame{seq: f.Seq(), raw: string(f.Raw)})
	case f.Result != nil:
		c.results[f.Result.ID] = *f.Result
		close(c.resultsC)
		c.resultsC = make(chan struct{})
	case f.Type == events.FramePresence:
		var p events.PresenceFrame
		if err := json.Unmarshal(f.Raw, &p); err != nil {
			return err
		}
		c.presence = p
	}
	return nil
}

// whoIsOn is the console's latest picture of who is on.
func (c *console) whoIsOn() events.PresenceFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.presence
}

// stop disconnects the console, as a moderator closing it.
func (c *console) stop() {
	c.cancel()
	<-c.done
}

// applied is the last seq the console's picture reflects (0 before its
// first snapshot).
func (c *console) applied() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mirror.Seq
}

// sessions is the console's picture.
func (c *console) sessions() []events.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mirror.State.Sessions()
}

func (c *console) helloList() []events.Hello {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.hellos)
}

func (c *console) recordList() []recordFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.records)
}

func (c *console) positionList() []position {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.positions)
}

// command sends cmd (retrying while the link is not up yet) and waits for
// its result.
func (c *console) command(t testing.TB, cmd events.Command, within time.Duration) events.Result {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := c.client.Send(cmd)
		if err == nil {
			break
		}
		if !errors.Is(err, relayclient.ErrNotConnected) || time.Now().After(deadline) {
			t.Fatalf("console %s: send %s: %v", c.name, cmd.Action, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		c.mu.Lock()
		res, ok := c.results[cmd.ID]
		wake := c.resultsC
		c.mu.Unlock()
		if ok {
			return res
		}
		select {
		case <-wake:
		case <-time.After(time.Until(deadline)):
			t.Fatalf("console %s: no result for command %s within %s", c.name, cmd.ID, within)
		}
	}
}

// checkGapFree asserts the console was handed one complete snapshot first
// and then every record after it, each seq exactly one more than the one
// before: strictly increasing and without a gap, across reconnects too.
func (c *console) checkGapFree(t testing.TB) {
	t.Helper()
	pos := c.positionList()
	if len(pos) == 0 || !pos[0].snapshot {
		t.Errorf("console %s: first seq-bearing frame is not a snapshot: %v", c.name, head(pos))
		return
	}
	prev := pos[0].seq
	for i, p := range pos[1:] {
		if p.snapshot {
			t.Errorf("console %s: a second snapshot (seq %d) at position %d: it should have resumed by tail", c.name, p.seq, i+1)
			return
		}
		if p.seq != prev+1 {
			t.Errorf("console %s: after seq %d came %d (position %d)", c.name, prev, p.seq, i+1)
			return
		}
		prev = p.seq
	}
}

func head(p []position) []position { return p[:min(len(p), 5)] }

// waitCaughtUp waits until every console's picture reflects the log's last
// seq (re-read on every poll, so records still arriving are waited for).
func waitCaughtUp(t testing.TB, within time.Duration, last func() uint64, consoles ...*console) {
	t.Helper()
	waitFor(t, within, "consoles to apply the whole log", func() bool {
		l := last()
		for _, c := range consoles {
			if c.applied() < l {
				return false
			}
		}
		return true
	})
}

// compareOptions relax compareWithTruth where reconcile is known to know
// less than a callback says.
type compareOptions struct {
	// missingData reports whether a connection's data may be empty in the
	// console's picture while the service has some: true only for a
	// connection the relay learnt of from a reconcile alone (the REST list
	// carries no data). nil: data must always match.
	missingData func(connectionID string) bool
	// counts checks each session's Counts against the ground truth (off
	// when reconcile may have left streams unattributed, whose publishers
	// are counted as viewers by design).
	counts bool
}

// compareWithTruth asserts that a console's picture has, for every
// session, exactly the live connections (with their data) and live
// streams (with their video type) the emulator has.
func compareWithTruth(t testing.TB, who string, got []events.Session, truth []opentoktest.SessionState, opt compareOptions) {
	t.Helper()
	if problems := differences(got, truth, opt); len(problems) > 0 {
		t.Errorf("%s differs from the emulator's ground truth (%d differences):\n  %s", who, len(problems), strings.Join(problems[:min(len(problems), 20)], "\n  "))
	}
}

// differences lists how got differs from the ground truth, sorted.
func differences(got []events.Session, truth []opentoktest.SessionState, opt compareOptions) []string {
	byID := make(map[string]events.Session, len(got))
	for _, s := range got {
		byID[s.ID] = s
	}
	var problems []string
	add := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	for _, want := range truth {
		have := byID[want.ID]
		delete(byID, want.ID)
		wantConns := map[string]string{}
		for _, c := range want.Connections {
			wantConns[c.ID] = c.Data
		}
		haveConns := map[string]string{}
		for _, c := range have.Connections {
			haveConns[c.ID] = c.Data
		}
		for id, data := range wantConns {
			hd, ok := haveConns[id]
			switch {
			case !ok:
				add("session %s: connection %s (data %q) is live but missing", short(want.ID), id, data)
			case hd != data && !(hd == "" && opt.missingData != nil && opt.missingData(id)):
				add("session %s: connection %s: data %q, want %q", short(want.ID), id, hd, data)
			}
		}
		for id := range haveConns {
			if _, ok := wantConns[id]; !ok {
				add("session %s: connection %s is shown live but has gone", short(want.ID), id)
			}
		}
		wantStreams := map[string]string{}
		for _, s := range want.Streams {
			wantStreams[s.ID] = s.VideoType
		}
		haveStreams := map[string]string{}
		for _, s := range have.Streams {
			haveStreams[s.ID] = s.VideoType
		}
		for id, vt := range wantStreams {
			hv, ok := haveStreams[id]
			switch {
			case !ok:
				add("session %s: stream %s (%q) is live but missing", short(want.ID), id, vt)
			case hv != vt:
				add("session %s: stream %s: video type %q, want %q", short(want.ID), id, hv, vt)
			}
		}
		for id := range haveStreams {
			if _, ok := wantStreams[id]; !ok {
				add("session %s: stream %s is shown live but has gone", short(want.ID), id)
			}
		}
		if opt.counts {
			publishers := 0
			for _, c := range want.Connections {
				if slices.ContainsFunc(want.Streams, func(s opentoktest.StreamState) bool { return s.ConnectionID == c.ID }) {
					publishers++
				}
			}
			wantCounts := struct{ conns, pubs, viewers, streams int }{len(want.Connections), publishers, len(want.Connections) - publishers, len(want.Streams)}
			haveCounts := struct{ conns, pubs, viewers, streams int }{have.Counts.Connections, have.Counts.Publishers, have.Counts.Viewers, have.Counts.Streams}
			if wantCounts != haveCounts {
				add("session %s: counts (connections, publishers, viewers, streams) %v, want %v", short(want.ID), haveCounts, wantCounts)
			}
		}
	}
	for id, s := range byID {
		if len(s.Connections) > 0 || len(s.Streams) > 0 {
			add("session %s is not one the service knows, yet shows %d connections and %d streams", short(id), len(s.Connections), len(s.Streams))
		}
	}
	sort.Strings(problems)
	return problems
}

// short shortens a session ID for messages.
func short(id string) string {
	if len(id) > 16 {
		return "…" + id[len(id)-12:]
	}
	return id
}

// truthTotals counts live connections and streams across sessions, to
// show a test exercised something.
func truthTotals(truth []opentoktest.SessionState) (sessions, conns, streams int) {
	for _, s := range truth {
		if len(s.Connections) > 0 {
			sessions++
		}
		conns += len(s.Connections)
		streams += len(s.Streams)
	}
	return
}

// runScenarios runs each scenario against emu on its own goroutine and
// returns a channel closed when all have ended, and a function returning
// their errors.
func runScenarios(ctx context.Context, emu *opentoktest.Server, scenarios ...opentoktest.Scenario) (done <-chan struct{}, errs func() error) {
	ch := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []error
	for _, sc := range scenarios {
		wg.Go(func() {
			if err := sc.Run(ctx, emu); err != nil {
				mu.Lock()
				all = append(all, fmt.Errorf("scenario %s: %w", sc.Name(), err))
				mu.Unlock()
			}
		})
	}
	go func() { wg.Wait(); close(ch) }()
	return ch, func() error {
		mu.Lock()
		defer mu.Unlock()
		return errors.Join(all...)
	}
}

// standardScenarios is the mix the end-to-end tests play: a classroom,
// one-to-one calls and a small town hall, sped up, bounded in scenario
// time. scale multiplies the crowd sizes.
func standardScenarios(seed uint64, scale int, speed float64, duration time.Duration) []opentoktest.Scenario {
	return []opentoktest.Scenario{
		opentoktest.Classroom{Seed: seed, Students: 6 * scale, Speed: speed, Duration: duration},
		opentoktest.OneToOne{Seed: seed + 1, Calls: 4 * scale, MeanDuration: 40 * time.Second, Speed: speed, Duration: duration},
		opentoktest.TownHall{Seed: seed + 2, Viewers: 60 * scale, Panelists: 2, JoinOver: duration / 2, Churn: 0.2, Speed: speed, Duration: duration},
	}
}

// newEmulator starts an emulator that posts session and archive callbacks
// to the given URLs (base URLs of relays: /v1/callbacks/<group> is added).
func newEmulator(t testing.TB, sessionBase, archiveBase string, opts ...opentoktest.Option) *opentoktest.Server {
	t.Helper()
	all := append([]opentoktest.Option{
		opentoktest.WithCallbackURL(opentoktest.GroupSession, sessionBase+"/v1/callbacks/session"),
		opentoktest.WithCallbackURL(opentoktest.GroupArchive, archiveBase+"/v1/callbacks/archive"),
	}, opts...)
	emu, err := opentoktest.NewServer(all...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	return emu
}

// flush waits until the emulator has delivered (or given up) every callback.
func flush(t testing.TB, emu *opentoktest.Server, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	if err := emu.FlushCallbacks(ctx); err != nil {
		t.Fatalf("flushing callbacks: %v (stats %+v)", err, emu.CallbackStats())
	}
}

// eventBody is what the tests read from a callback body.
type eventBody struct {
	Event      string `json:"event"`
	Connection *struct {
		ID   string `json:"id"`
		Data string `json:"data"`
	} `json:"connection"`
	Stream *struct {
		Connection struct {
			ID   string `json:"id"`
			Data string `json:"data"`
		} `json:"connection"`
	} `json:"stream"`
}

// connectionsWithData lists the connections some callback in frames
// carried the data of (connectionCreated/Destroyed, or a stream's copy).
func connectionsWithData(t testing.TB, frames []recordFrame) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, f := range frames {
		var ef events.EventFrame
		if err := json.Unmarshal([]byte(f.raw), &ef); err != nil || ef.Type != events.FrameEvent || ef.Source != events.SourceCallback {
			continue
		}
		var b eventBody
		if json.Unmarshal(ef.Event, &b) != nil {
			continue
		}
		if b.Connection != nil {
			out[b.Connection.ID] = true
		}
		if b.Stream != nil && b.Stream.Connection.ID != "" {
			out[b.Stream.Connection.ID] = true
		}
	}
	return out
}

// countCallbacks counts the records of callbacks (not reconcile events or
// audit entries) among frames.
func countCallbacks(frames []recordFrame) uint64 {
	n := uint64(0)
	for _, f := range frames {
		var ef events.EventFrame
		if json.Unmarshal([]byte(f.raw), &ef) == nil && ef.Type == events.FrameEvent && ef.Source == events.SourceCallback {
			n++
		}
	}
	return n
}

// newEmulatorClient is the relay's Video API client for emu, with its own
// connection pool. closeIdle closes that pool's idle connections.
func newEmulatorClient(t testing.TB, emu *opentoktest.Server) (client *opentok.Client, closeIdle func()) {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 4}
	c, err := emu.Client(false, opentok.WithHTTPClient(&http.Client{Transport: tr, Timeout: 30 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return c, tr.CloseIdleConnections
}

// beforeRelaysStop registers fns to run at the end of the test before the
// relays started so far shut down (cleanups run last-registered first).
// Closing the HTTP clients that talk to a relay first matters: a client's
// pool may hold a connection it dialled but never sent a request on, and
// http.Server.Shutdown, in the relay's Serve, waits up to 5 s for such a
// connection (the emulator's Close likewise, 2 s).
func beforeRelaysStop(t testing.TB, fns ...func()) {
	t.Cleanup(func() {
		for _, fn := range fns {
			fn()
		}
	})
}

// httpBase turns a listener into its http:// base URL.
func httpBase(ln net.Listener) string { return "http://" + ln.Addr().String() }
