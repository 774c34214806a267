package relay_test

// A relay killed with SIGKILL in the middle of the traffic and started
// again on the same address and data dir must lose nothing it answered 200
// for, and its consoles must carry on from where they were, without a gap.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

// The child relay's settings, passed in its environment.
const (
	childEnv       = "GAVEL_TEST_RELAY_CHILD" // "1" in the child
	childAddrEnv   = "GAVEL_TEST_RELAY_ADDR"
	childDirEnv    = "GAVEL_TEST_RELAY_DIR"
	childSecretEnv = "GAVEL_TEST_RELAY_SECRET" // hex
)

// TestRelayChildProcess is the relay process TestKillRelayMidScenario
// starts, kills and starts again: it runs relay.NewServer and Serve on the
// address and data dir of its environment, says "ready <addr>" on stdout,
// and serves until its stdin closes (the parent is done, or gone), then
// shuts down gracefully.
func TestRelayChildProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("the relay process of TestKillRelayMidScenario")
	}
	fail := func(err error) {
		fmt.Println("error", err)
		os.Exit(1)
	}
	secret, err := hex.DecodeString(os.Getenv(childSecretEnv))
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	ln, err := net.Listen("tcp", os.Getenv(childAddrEnv))
	if err != nil {
		fail(err)
	}
	srv, err := relay.NewServer(ctx, relay.Config{
		Listen:  ln.Addr().String(),
		DataDir: os.Getenv(childDirEnv),
		Secret:  secret,
		Name:    "child",
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}, nil)
	if err != nil {
		fail(err)
	}
	fmt.Println("ready", ln.Addr().String())
	if err := srv.Serve(ctx, ln); err != nil {
		fail(err)
	}
	os.Exit(0)
}

// childRelay is one run of TestRelayChildProcess.
type childRelay struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *bytes.Buffer // written by exec's copier until Wait returns
	addr   string
	waited bool
}

// startChildRelay starts the relay process on addr with dir and waits for
// its "ready" line.
func startChildRelay(t *testing.T, addr, dir string, secret []byte) *childRelay {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRelayChildProcess$", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), childEnv+"=1", childAddrEnv+"="+addr, childDirEnv+"="+dir, childSecretEnv+"="+hex.EncodeToString(secret))
	c := &childRelay{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.stop(t) })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent && (strings.HasPrefix(line, "ready ") || strings.HasPrefix(line, "error ")) {
				lines <- line
				sent = true
			}
		}
		if !sent {
			lines <- ""
		}
	}()
	select {
	case line := <-lines:
		if !strings.HasPrefix(line, "ready ") {
			c.kill(t)
			t.Fatalf("relay process did not start: %q; stderr:\n%s", line, c.stderr)
		}
		c.addr = strings.TrimPrefix(line, "ready ")
	case <-time.After(30 * time.Second):
		c.kill(t)
		t.Fatalf("relay process not ready after 30 s; stderr:\n%s", c.stderr)
	}
	return c
}

// kill sends SIGKILL: no shutdown, no snapshot, no flush — a crash.
func (c *childRelay) kill(t *testing.T) {
	t.Helper()
	if c.waited {
		return
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("kill relay process: %v", err)
	}
	_ = c.cmd.Wait()
	c.waited = true
}

// stop closes the child's stdin, so it shuts down gracefully, and waits.
func (c *childRelay) stop(t *testing.T) {
	if c.waited {
		return
	}
	_ = c.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		c.waited = true
		if err != nil {
			t.Errorf("relay process: %v", err)
		}
		if t.Failed() {
			t.Logf("stderr of the relay process on %s:\n%s", c.addr, c.stderr)
		}
	case <-time.After(30 * time.Second):
		c.kill(t)
		t.Errorf("relay process did not shut down within 30 s of its stdin closing")
	}
}

// receiptRecorder sits between the emulator and the relay and remembers,
// for every callback the relay answered 2xx, the body and the seq the
// relay's receipt gave it: what "acknowledged" means to the service.
type receiptRecorder struct {
	tr      *http.Transport
	mu      sync.Mutex
	bodies  map[string]uint64 // body → seq of its receipt
	maxSeq  uint64
	refused int // answers other than 2xx (the relay was down)
	// dupes counts 2xx receipts saying "duplicate": a retry of a callback
	// the relay had stored without its answer getting back (the crash
	// fell between append and answer), or the retry of a lost answer.
	dupes int
}

func newReceiptRecorder(t testing.TB, target string) (*httptest.Server, *receiptRecorder) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	rr := &receiptRecorder{tr: tr, bodies: map[string]uint64{}}
	t.Cleanup(tr.CloseIdleConnections)
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(u) }, Transport: tr,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			rr.mu.Lock()
			rr.refused++
			rr.mu.Unlock()
			w.WriteHeader(http.StatusBadGateway)
		}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		proxy.ServeHTTP(rec, r)
		if rec.Code/100 == 2 {
			var receipt struct {
				Seq       uint64 `json:"seq"`
				Duplicate bool   `json:"duplicate"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &receipt); err != nil || receipt.Seq == 0 {
				t.Errorf("relay answered %d without a receipt: %s", rec.Code, rec.Body)
			}
			rr.mu.Lock()
			if prev, ok := rr.bodies[string(body)]; ok && prev != receipt.Seq {
				t.Errorf("one callback acknowledged at seq %d and again at %d", prev, receipt.Seq)
			}
			rr.bodies[string(body)] = receipt.Seq
			if receipt.Duplicate {
				rr.dupes++
			}
			rr.maxSeq = max(rr.maxSeq, receipt.Seq)
			rr.mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(srv.Close)
	return srv, rr
}

func (rr *receiptRecorder) last() uint64 {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.maxSeq
}

// TestKillRelayMidScenario runs a relay as a separate process, kills it
// with SIGKILL in the middle of the traffic, leaves it dead long enough
// for callbacks to fail, and starts it again on the same address and data
// dir. The emulator's retries deliver what failed meanwhile (out of
// order, as the service's retries are). At the end:
//
//   - every callback the relay acknowledged with a 2xx is in the log, at
//     the seq its receipt named, byte for byte, and none twice: the log
//     lost nothing through the crash, and a callback appended just before
//     the kill but not acknowledged was de-duplicated when retried;
//   - the console that was connected throughout was handed every seq
//     exactly once, resuming by tail after the crash, and, like a console
//     started after the restart, shows exactly the ground truth.
func TestKillRelayMidScenario(t *testing.T) {
	scale, duration := e2eSize()
	dir := t.TempDir()
	secret := e2eSecret(t)
	first := startChildRelay(t, "127.0.0.1:0", dir, secret)
	addr := first.addr
	wsURL := "ws://" + addr + "/v1/stream"
	front, receipts := newReceiptRecorder(t, "http://"+addr)
	// Time scale 1000: the service's retry backoff (5 s, 10 s, …) takes
	// 5 ms, 10 ms, …, so what failed while the relay was down comes back
	// soon after it is up.
	emu := newEmulator(t, front.URL, front.URL, opentoktest.WithTimeScale(1000), opentoktest.WithSeed(41))

	early := startConsole(t, wsURL, secret, "early", consoleOptions{})
	waitFor(t, 10*time.Second, "the console's snapshot", func() bool { return len(early.positionList()) > 0 })
	done, errs := runScenarios(t.Context(), emu, standardScenarios(41, scale, e2eSpeed, duration)...)
	waitFor(t, scenarioWait(duration), "traffic", func() bool {
		select {
		case <-done:
			return true
		default:
			return early.applied() >= 100
		}
	})
	select {
	case <-done:
		t.Fatal("the scenarios ended before the relay could be killed: make them longer")
	default:
	}
	killedAt := early.applied()
	first.kill(t)
	retried := emu.CallbackStats().Retried
	// Dead until callbacks have failed against it (or the traffic is over).
	waitFor(t, 20*time.Second, "callbacks failing against the dead relay", func() bool {
		select {
		case <-done:
			return true
		default:
			return emu.CallbackStats().Retried >= retried+5
		}
	})
	failedWhileDown := emu.CallbackStats().Retried - retried
	second := startChildRelay(t, addr, dir, secret)
	if second.addr != addr {
		t.Fatalf("restarted on %s, want %s", second.addr, addr)
	}
	beforeRelaysStop(t, func() { _ = emu.Close() }, front.Close, receipts.tr.CloseIdleConnections)
	waitScenarios(t, done, errs, scenarioWait(duration))
	flush(t, emu, 60*time.Second)
	late := startConsole(t, wsURL, secret, "late", consoleOptions{})
	waitCaughtUp(t, 30*time.Second, receipts.last, early, late)

	stats := emu.CallbackStats()
	receipts.mu.Lock()
	acked, refused, dupes := len(receipts.bodies), receipts.refused, receipts.dupes
	receipts.mu.Unlock()
	t.Logf("killed at seq %d; %d retries while down; callbacks %+v; %d acknowledged (%d of them as duplicates), %d refused while the relay was down",
		killedAt, failedWhileDown, stats, acked, dupes, refused)
	if stats.Failed != 0 || stats.Retried == 0 || refused == 0 {
		t.Fatalf("the crash did not make callbacks fail and be retried (%+v, %d refused)", stats, refused)
	}
	if uint64(acked) != stats.Delivered {
		t.Errorf("%d distinct callbacks acknowledged; the emulator counts %d delivered", acked, stats.Delivered)
	}

	// Nothing acknowledged was lost: each body is in the log at its seq.
	records := early.recordList()
	bySeq := make(map[uint64]string, len(records))
	for _, f := range records {
		var ef events.EventFrame
		if err := json.Unmarshal([]byte(f.raw), &ef); err != nil {
			t.Fatalf("seq %d: %v", f.seq, err)
		}
		bySeq[f.seq] = string(ef.Event)
	}
	receipts.mu.Lock()
	lost := 0
	for body, seq := range receipts.bodies {
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(body)); err != nil {
			t.Fatal(err)
		}
		if bySeq[seq] != compact.String() {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged at seq %d, but the log has %q there; body %s", seq, bySeq[seq], body)
			}
		}
	}
	receipts.mu.Unlock()
	if lost > 0 {
		t.Errorf("%d acknowledged callbacks are not in the log where their receipt said", lost)
	}
	// And nothing is in it twice: every record is one acknowledged callback.
	if got := countCallbacks(records); got != uint64(acked) {
		t.Errorf("the log holds %d callback records for %d acknowledged callbacks", got, acked)
	}

	truth := emu.Sessions()
	sessions, conns, streams := truthTotals(truth)
	t.Logf("log at seq %d; ground truth: %d live sessions, %d connections, %d streams", receipts.last(), sessions, conns, streams)
	for _, c := range []*console{early, late} {
		c.checkGapFree(t)
		compareWithTruth(t, "console "+c.name, c.sessions(), truth, compareOptions{counts: true})
	}
	hellos := early.helloList()
	if len(hellos) < 2 {
		t.Errorf("the early console connected %d times; it should have reconnected after the kill", len(hellos))
	}
	for _, h := range append(hellos, late.helloList()...) {
		if h.Epoch != hellos[0].Epoch {
			t.Errorf("epoch changed across the restart: %q then %q", hellos[0].Epoch, h.Epoch)
		}
	}
	if t.Failed() {
		t.Logf("stderr of the killed relay process:\n%s", first.stderr)
	}
}
