package opentoktest

// The dispatcher delivers callbacks the way the Vonage callback service does
// (the Session monitoring guide: https://developer.vonage.com/en/video/guides/session-monitoring;
// Vonage support, callback retries: https://api.support.vonage.com/hc/en-us/articles/6646236108700;
// the Secure callbacks guide: https://developer.vonage.com/en/video/guides/secure-callbacks): one
// JSON POST per event, a 2xx is
// success, anything else is retried individually with exponential backoff
// (5 s, doubling, at most 15 min apart) for 24 h, then given up. With a
// signature secret each request carries an HS256 JWT whose payload_hash is
// the SHA-256 of the exact body bytes.
//
// On top of that it can misbehave on purpose (Faults): drop, duplicate,
// reorder and delay callbacks, so that receivers can be tested against the
// at-least-once, unordered delivery the real service only promises.

import (
	"bytes"
	"context"
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// callbackUserAgent is made up: Vonage does not document the agent of
	// its callback service. It names the sender the way one would grep for
	// it in a receiver's access log.
	callbackUserAgent = "Vonage-Video-Callbacks/1.0"

	// retryInitial, retryCap and retryForDefault are the new callback
	// service's policy (Vonage support, callback retries above).
	retryInitial    = 5 * time.Second
	retryCap        = 15 * time.Minute
	retryForDefault = 24 * time.Hour

	defaultDispatchWorkers = 4
	// defaultDispatchQueue bounds each worker's queue of fresh callbacks.
	// At 5,000 callbacks/s it is 13 s of backlog: enough to absorb a burst
	// (a 15,000-viewer session joining), small enough that a receiver
	// which cannot keep up shows up as backpressure, not as memory.
	defaultDispatchQueue = 65536

	// reorderSpan is how many later callbacks of its session a held-back
	// callback waits behind (1 to reorderSpan, drawn per callback).
	reorderSpan = 3
	// reorderHold (service time) bounds how long a callback is held back,
	// for sessions that go quiet: a session's last event is not lost,
	// only late.
	reorderHold = 2 * time.Second

	// maxResponseDrain is how much of a response body is read so that the
	// keep-alive connection can be reused; receivers should answer with
	// next to nothing, and a longer body is not worth reading.
	maxResponseDrain = 64 << 10
)

// callbackJWTHeader is the encoded JWT header of every signed callback,
// {"alg":"HS256","typ":"JWT"} as in Vonage's example: alg first, no spaces.
var callbackJWTHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// errDispatcherClosed is what Flush returns when the dispatcher was closed
// with callbacks still pending.
var errDispatcherClosed = errors.New("opentoktest: callback dispatcher closed with callbacks pending")

// Faults makes the emulator's callback delivery misbehave on purpose, so a
// receiver can be tested against what the real service only tolerates:
// lost, duplicated, reordered and late callbacks. Each fraction is the
// probability, per callback, of that fault; the zero value is a faithful
// sender.
//
// A callback's fate is a pure function of the seed, its group and its body
// bytes, so the same seed drops, duplicates, reorders and delays the same
// callbacks whatever the timing, the worker count or the interleaving of
// sessions.
type Faults struct {
	// Drop is the fraction of callbacks never sent, as if lost by the
	// service (Vonage does not guarantee delivery).
	Drop float64
	// Duplicate is the fraction sent twice: identical body bytes, two
	// separate requests (each signed afresh), as at-least-once retries
	// after a lost response produce.
	Duplicate float64
	// Reorder is the fraction held back until one to three later
	// callbacks of the same session have been sent (or 2 s of service
	// time have passed), which breaks that session's order.
	Reorder float64
	// Delay is the fraction delayed by up to MaxDelay (service time, so
	// divided by the time scale); later callbacks overtake a delayed one.
	Delay float64
	// MaxDelay bounds a Delay fault. It must be positive when Delay is.
	MaxDelay time.Duration
}

// Validate reports the first field out of range: fractions must lie in
// [0, 1], and MaxDelay must be positive when Delay is set.
func (f Faults) Validate() error {
	for _, x := range []struct {
		name string
		v    float64
	}{{"Drop", f.Drop}, {"Duplicate", f.Duplicate}, {"Reorder", f.Reorder}, {"Delay", f.Delay}} {
		// Written so that NaN fails too.
		if !(x.v >= 0 && x.v <= 1) {
			return fmt.Errorf("faults: %s = %v: expected a fraction in [0, 1]", x.name, x.v)
		}
	}
	if f.MaxDelay < 0 {
		return fmt.Errorf("faults: MaxDelay = %v: expected a positive duration", f.MaxDelay)
	}
	if f.Delay > 0 && f.MaxDelay == 0 {
		return errors.New("faults: MaxDelay must be positive when Delay is set")
	}
	return nil
}

// DispatchStats counts what the callback sender has done since it started.
// Delivered + Failed + Dropped = Enqueued + Duplicated once everything is
// flushed; every received request is a delivery, a failed try or a retry.
type DispatchStats struct {
	// Enqueued counts callbacks the emulator emitted.
	Enqueued uint64
	// Delivered counts callbacks (duplicate copies included) that got a
	// 2xx answer.
	Delivered uint64
	// Retried counts requests after the first for the same callback.
	Retried uint64
	// Failed counts callbacks given up: retries exhausted, or a URL that
	// cannot be requested at all.
	Failed uint64
	// Dropped counts callbacks never sent because of Faults.Drop.
	Dropped uint64
	// Duplicated counts extra copies sent because of Faults.Duplicate.
	Duplicated uint64
	// Reordered counts callbacks held back because of Faults.Reorder.
	Reordered uint64
	// Delayed counts callbacks delayed because of Faults.Delay.
	Delayed uint64
}

// dispatchConfig configures a dispatcher. Zero values mean the defaults.
type dispatchConfig struct {
	// SignatureSecret signs every request when not empty (the Secure callbacks guide above):
	// "Authorization: Bearer <jwt>", HS256 with the secret as key. The
	// "Bearer" prefix is the general Vonage signed-webhook convention;
	// receivers strip it if present.
	SignatureSecret string
	// GroupSecrets gives a group its own secret, over SignatureSecret:
	// Vonage lets each kind of callback have one (the Secure callbacks guide above).
	GroupSecrets map[CallbackGroup]string
	// APIKey and ApplicationID fill the api_key and application_id claims
	// (each left out when empty), unless Project is set.
	APIKey, ApplicationID string
	// Project, if set, names the project that owns a callback, for the
	// claims, when one emulator serves several.
	Project func(callback) (apiKey, appID string)
	// Workers is how many requests are in flight at once (0 = 4). One
	// session's callbacks always share a worker, so they leave in order
	// unless Faults or retries reorder them.
	Workers int
	// QueueLen bounds each worker's queue of fresh callbacks (0 = 65536).
	QueueLen int
	// TimeScale divides the service's waits: retry backoff, RetryFor,
	// fault delays (0 = 1, real time).
	TimeScale float64
	// RetryFor is how long, in service time, a callback is retried before
	// it is given up (0 = 24 h).
	RetryFor time.Duration
	// Faults makes delivery misbehave on purpose.
	Faults Faults
	// Seed makes Faults repeatable.
	Seed int64
	// Client sends the requests. nil = a keep-alive client of our own:
	// 10 s timeout, no proxy, no redirects followed (a 3xx is a failure,
	// as for most webhook senders), idle connections for every worker.
	Client *http.Client
	// Now is the service clock for the iat claim (nil = time.Now), so a
	// fake clock signs with the same time it stamps bodies with.
	Now func() time.Time
	// Logf receives give-ups and other diagnostics (nil = silent).
	Logf func(format string, args ...any)
}

// dispatcher delivers callbacks. See the file comment.
type dispatcher struct {
	cfg       dispatchConfig
	scale     float64
	retryFor  time.Duration
	client    *http.Client
	ownClient bool
	key       []byte // signing key; nil when unsigned
	workers   []*dispatchWorker

	ctx    context.Context // cancelled by Close, aborts requests in flight
	cancel context.CancelFunc
	done   chan struct{} // closed by Close
	once   sync.Once
	wg     sync.WaitGroup

	// pmu guards pending and idle. pending counts callbacks (and duplicate
	// copies) neither delivered, given up nor dropped; idle is closed when
	// it falls to zero, which is what Flush waits for.
	pmu     sync.Mutex
	pending int
	idle    chan struct{}

	// tmu guards timers: retries and delayed callbacks waiting to go
	// back on a queue, so Close can stop them rather than leave them
	// holding the dispatcher for up to 15 minutes. nil once closed.
	tmu    sync.Mutex
	timers map[*time.Timer]struct{}

	enqueued, delivered, retried, failed atomic.Uint64
	dropped, duplicated, reordered       atomic.Uint64
	delayed                              atomic.Uint64
}

// dispatchJob is one callback on its way, with its retry state.
type dispatchJob struct {
	cb      callback
	tries   int           // requests made so far
	waited  time.Duration // sum of backoffs so far, service time
	faulted bool          // fate already applied (retries, copies, delayed)
	hold    int           // same-session sends still to let pass while held back
	until   time.Time     // when a held-back job goes anyway
	hashed  bool
	sum     [sha256.Size]byte // payload hash, computed once for all tries
}

// dispatchWorker sends one request at a time from its queue.
type dispatchWorker struct {
	d     *dispatcher
	slots chan struct{} // one token per fresh callback queued: the bound

	mu    sync.Mutex
	queue []*dispatchJob
	head  int
	wake  chan struct{} // capacity 1: "the queue may be non-empty"

	// Owned by the worker goroutine.
	held    []*dispatchJob                    // held back by Faults.Reorder
	signer  *callbackSigner                   // SignatureSecret's; nil when it is empty
	signers map[CallbackGroup]*callbackSigner // GroupSecrets'
}

// signerFor is the signer of a group's callbacks: its own secret's, else
// the default's; nil sends them unsigned.
func (w *dispatchWorker) signerFor(g CallbackGroup) *callbackSigner {
	if s := w.signers[g]; s != nil {
		return s
	}
	return w.signer
}

// newDispatcher starts cfg.Workers workers. Close it when done.
func newDispatcher(cfg dispatchConfig) *dispatcher {
	if cfg.Workers <= 0 {
		cfg.Workers = defaultDispatchWorkers
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = defaultDispatchQueue
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	d := &dispatcher{cfg: cfg, scale: cfg.TimeScale, retryFor: cfg.RetryFor, client: cfg.Client,
		done: make(chan struct{}), timers: map[*time.Timer]struct{}{}}
	if !(d.scale > 0) || math.IsInf(d.scale, 0) {
		d.scale = 1
	}
	if d.retryFor <= 0 {
		d.retryFor = retryForDefault
	}
	if d.client == nil {
		d.client, d.ownClient = newCallbackClient(cfg.Workers), true
	}
	if cfg.SignatureSecret != "" {
		d.key = []byte(cfg.SignatureSecret)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.workers = make([]*dispatchWorker, cfg.Workers)
	for i := range d.workers {
		w := &dispatchWorker{d: d, slots: make(chan struct{}, cfg.QueueLen), wake: make(chan struct{}, 1)}
		for g, secret := range cfg.GroupSecrets {
			if secret != "" {
				if w.signers == nil {
					w.signers = map[CallbackGroup]*callbackSigner{}
				}
				w.signers[g] = newCallbackSigner([]byte(secret))
			}
		}
		if d.key != nil {
			w.signer = newCallbackSigner(d.key)
		}
		d.workers[i] = w
		d.wg.Add(1)
		go w.run()
	}
	return d
}

// newCallbackClient is the default client: keep-alive connections for
// every worker (and duplicates), so sustained traffic reuses them instead
// of opening one per callback.
func newCallbackClient(workers int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The real service does not go through the receiver's proxy.
	tr.Proxy = nil
	tr.MaxIdleConnsPerHost = 2 * workers
	if tr.MaxIdleConns < 2*workers {
		tr.MaxIdleConns = 2 * workers
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// backoff is the wait before the attempt-th retry (attempt ≥ 1): 5 s,
// 10 s, 20 s, … doubling, capped at 15 min, in service time.
func backoff(attempt int) time.Duration {
	if attempt < 1 {
		return 0
	}
	if attempt > 10 { // 5 s << 9 already exceeds the cap; avoid overflow
		return retryCap
	}
	return min(retryInitial<<(attempt-1), retryCap)
}

// scaled turns service time into real time.
func (d *dispatcher) scaled(x time.Duration) time.Duration {
	return time.Duration(float64(x) / d.scale)
}

// enqueue hands cb to its session's worker. It returns at once unless
// that worker already has QueueLen callbacks waiting: then it blocks until
// there is room (backpressure — the emulator slows down rather than lose
// callbacks silently or grow without bound). A full queue takes a receiver
// answering slower than callbacks are made for seconds on end; retries do
// not count against it. After Close it drops cb.
func (d *dispatcher) enqueue(cb callback) {
	w := d.workers[shardOf(cb.sessionID, len(d.workers))]
	select {
	case <-d.done:
		return
	default:
	}
	select {
	case w.slots <- struct{}{}:
	case <-d.done:
		return
	}
	d.enqueued.Add(1)
	d.addPending(1)
	w.push(&dispatchJob{cb: cb})
}

// shardOf picks a worker by FNV-1a of the session ID, so one session's
// callbacks always go through one worker, in order.
func shardOf(sessionID string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(sessionID); i++ {
		h ^= uint32(sessionID[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}

// Flush waits until nothing is pending: every callback enqueued before and
// during the wait delivered, given up or dropped — retries and delayed
// callbacks included. It returns ctx's error if ctx ends first, and an
// error if the dispatcher is closed with callbacks pending.
func (d *dispatcher) Flush(ctx context.Context) error {
	d.pmu.Lock()
	if d.pending == 0 {
		d.pmu.Unlock()
		return nil
	}
	idle := d.idle
	d.pmu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-d.done:
		return errDispatcherClosed
	}
}

// Close stops the workers and aborts requests in flight; pending retries
// and delayed callbacks are abandoned. It waits for the workers to exit.
// Calling it again does nothing.
func (d *dispatcher) Close() {
	d.once.Do(func() {
		close(d.done)
		d.cancel()
		d.tmu.Lock()
		for t := range d.timers {
			t.Stop()
		}
		d.timers = nil
		d.tmu.Unlock()
		d.wg.Wait()
		if d.ownClient {
			d.client.CloseIdleConnections()
		}
	})
}

// Stats returns the counters. Each is read atomically; the set is not a
// consistent snapshot while callbacks are flowing.
func (d *dispatcher) Stats() DispatchStats {
	return DispatchStats{
		Enqueued:   d.enqueued.Load(),
		Delivered:  d.delivered.Load(),
		Retried:    d.retried.Load(),
		Failed:     d.failed.Load(),
		Dropped:    d.dropped.Load(),
		Duplicated: d.duplicated.Load(),
		Reordered:  d.reordered.Load(),
		Delayed:    d.delayed.Load(),
	}
}

func (d *dispatcher) addPending(n int) {
	d.pmu.Lock()
	d.pending += n
	if d.pending > 0 && d.idle == nil {
		d.idle = make(chan struct{})
	}
	d.pmu.Unlock()
}

// settle marks one callback finished: delivered, given up or dropped.
func (d *dispatcher) settle() {
	d.pmu.Lock()
	d.pending--
	if d.pending == 0 && d.idle != nil {
		close(d.idle)
		d.idle = nil
	}
	d.pmu.Unlock()
}

// later puts j back on w's queue after wait (real time). A timer rather
// than a sleep, so the worker keeps sending other callbacks meanwhile.
func (d *dispatcher) later(w *dispatchWorker, j *dispatchJob, wait time.Duration) {
	d.tmu.Lock()
	defer d.tmu.Unlock()
	if d.timers == nil {
		return // closed: abandoned
	}
	var t *time.Timer
	t = time.AfterFunc(wait, func() {
		d.tmu.Lock()
		if d.timers == nil {
			d.tmu.Unlock()
			return
		}
		delete(d.timers, t)
		d.tmu.Unlock()
		w.push(j)
	})
	d.timers[t] = struct{}{}
}

// push appends j to the queue. Re-entries (retries, delayed callbacks,
// duplicate copies) do not take a slot: they are bounded by what was
// admitted, and a timer must never block on a full queue.
func (w *dispatchWorker) push(j *dispatchJob) {
	w.mu.Lock()
	if len(w.queue) == cap(w.queue) && w.head > 0 {
		// Full backing array with a consumed prefix: slide the live part
		// down instead of growing, or a queue that never quite drains
		// would grow for ever.
		n := copy(w.queue, w.queue[w.head:])
		clear(w.queue[n:])
		w.queue, w.head = w.queue[:n], 0
	}
	w.queue = append(w.queue, j)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *dispatchWorker) pop() *dispatchJob {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.head == len(w.queue) {
		// Drained: reuse the backing array from the start.
		w.queue, w.head = w.queue[:0], 0
		return nil
	}
	j := w.queue[w.head]
	w.queue[w.head] = nil
	w.head++
	return j
}

func (w *dispatchWorker) run() {
	d := w.d
	defer d.wg.Done()
	for {
		select {
		case <-d.done:
			return
		default:
		}
		if j := w.pop(); j != nil {
			w.process(j)
			continue
		}
		if len(w.held) == 0 {
			select {
			case <-w.wake:
			case <-d.done:
				return
			}
			continue
		}
		// Callbacks are held back and nothing is queued to overtake them:
		// sleep until more comes or the first hold runs out.
		first := w.held[0].until
		for _, h := range w.held[1:] {
			if h.until.Before(first) {
				first = h.until
			}
		}
		t := time.NewTimer(time.Until(first))
		select {
		case <-w.wake:
			t.Stop()
		case <-t.C:
			w.release("")
		case <-d.done:
			t.Stop()
			return
		}
	}
}

// process applies a fresh callback's fate, then sends it.
func (w *dispatchWorker) process(j *dispatchJob) {
	d := w.d
	if !j.faulted {
		j.faulted = true
		<-w.slots // it has left the bounded part of the queue
		f := d.fate(j.cb)
		if f.drop {
			d.dropped.Add(1)
			d.settle()
			return
		}
		if f.duplicate {
			// The copy goes to the back of the queue, so it arrives a
			// little later, as a redelivery would.
			d.duplicated.Add(1)
			d.addPending(1)
			w.push(&dispatchJob{cb: j.cb, faulted: true})
		}
		if f.delay > 0 {
			d.delayed.Add(1)
			d.later(w, j, d.scaled(f.delay))
			return
		}
		if f.hold > 0 {
			d.reordered.Add(1)
			j.hold, j.until = f.hold, time.Now().Add(d.scaled(reorderHold))
			w.held = append(w.held, j)
			return
		}
	}
	w.attempt(j)
	if len(w.held) > 0 {
		w.release(j.cb.sessionID)
	}
}

// release sends the held-back callbacks that are due: those overtaken by
// enough of their session's callbacks, now that one of sessionID's was
// sent ("" = none was), and those held for long enough.
func (w *dispatchWorker) release(sessionID string) {
	now := time.Now()
	kept := w.held[:0]
	var due []*dispatchJob
	for _, h := range w.held {
		if sessionID != "" && h.cb.sessionID == sessionID {
			h.hold--
		}
		if h.hold <= 0 || !now.Before(h.until) {
			due = append(due, h)
		} else {
			kept = append(kept, h)
		}
	}
	clear(w.held[len(kept):])
	w.held = kept
	for _, h := range due {
		w.attempt(h)
	}
}

// attempt makes one request for j and settles or reschedules it.
//
// A failed callback is retried on its own, from a timer, and the same
// session's later callbacks are NOT held back behind it: the real service
// retries each callback individually (Vonage support, callback retries above), which is exactly how a
// connectionDestroyed can reach a receiver before its connectionCreated.
func (w *dispatchWorker) attempt(j *dispatchJob) {
	d := w.d
	if j.tries > 0 {
		d.retried.Add(1)
	}
	j.tries++
	permanent, err := w.send(j)
	if err == nil {
		d.delivered.Add(1)
		d.settle()
		return
	}
	if d.ctx.Err() != nil {
		return // closing: abandoned, not failed
	}
	wait := backoff(j.tries)
	if permanent || j.waited+wait > d.retryFor {
		d.failed.Add(1)
		// Log before settling, so whoever Flush wakes sees the log.
		d.cfg.Logf("opentoktest: %s callback to %s given up after %d tries: %v", j.cb.group, j.cb.url, j.tries, err)
		d.settle()
		return
	}
	// The retry budget counts scheduled waits, not request durations,
	// so a scaled run gives up after the same number of tries as a real
	// one whatever the machine's speed.
	j.waited += wait
	d.later(w, j, d.scaled(wait))
}

// send POSTs the body verbatim. permanent reports a request that can never
// succeed (a malformed URL), which is not worth retrying.
func (w *dispatchWorker) send(j *dispatchJob) (permanent bool, err error) {
	d := w.d
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, j.cb.url, bytes.NewReader(j.cb.body))
	if err != nil {
		return true, err
	}
	// Direct map writes: the keys are already canonical.
	req.Header["Content-Type"] = []string{"application/json"}
	req.Header["User-Agent"] = []string{callbackUserAgent}
	if signer := w.signerFor(j.cb.group); signer != nil {
		if !j.hashed {
			j.sum, j.hashed = sha256.Sum256(j.cb.body), true
		}
		apiKey, appID := d.cfg.APIKey, d.cfg.ApplicationID
		if d.cfg.Project != nil {
			apiKey, appID = d.cfg.Project(j.cb)
		}
		// Signed afresh for every request (new iat and jti), retries and
		// duplicates included; payload_hash is what stays the same.
		req.Header["Authorization"] = []string{signer.authorization(&j.sum, d.cfg.Now().Unix(), apiKey, appID)}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseDrain))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return false, fmt.Errorf("HTTP %s", resp.Status)
	}
	return false, nil
}

// dispatchFate is what Faults do to one callback.
type dispatchFate struct {
	drop, duplicate bool
	delay           time.Duration // service time; 0 = none
	hold            int           // later sends to let pass; 0 = none
}

// fate draws a callback's faults from a generator seeded with the seed and
// an FNV-1a hash of its group and body, so it does not depend on timing,
// on the worker count, on the order callbacks were enqueued in, nor on the
// receiver's URL (a test server's port changes every run). Every draw is
// made whatever the fractions, so raising one fraction does not change
// which callbacks another picks.
func (d *dispatcher) fate(cb callback) dispatchFate {
	f := d.cfg.Faults
	if f == (Faults{}) {
		return dispatchFate{}
	}
	h := uint64(14695981039346656037)
	for i := 0; i < len(cb.group); i++ {
		h = (h ^ uint64(cb.group[i])) * 1099511628211
	}
	h = (h ^ 0xff) * 1099511628211 // separator: 0xff is not in UTF-8 text
	for _, c := range cb.body {
		h = (h ^ uint64(c)) * 1099511628211
	}
	s := splitmix{state: h ^ uint64(d.cfg.Seed)*0x9e3779b97f4a7c15}
	uDrop, uDup, uDelay, uDelayBy, uReorder, uSpan := s.float(), s.float(), s.float(), s.float(), s.float(), s.float()
	var out dispatchFate
	out.drop = uDrop < f.Drop
	out.duplicate = uDup < f.Duplicate
	if uDelay < f.Delay {
		out.delay = max(time.Duration(uDelayBy*float64(f.MaxDelay)), 1)
	} else if uReorder < f.Reorder {
		out.hold = 1 + int(uSpan*reorderSpan)
	}
	return out
}

// splitmix is SplitMix64: tiny, allocation-free, and good enough to spread
// a hash into independent uniform draws.
type splitmix struct{ state uint64 }

func (s *splitmix) next() uint64 {
	s.state += 0x9e3779b97f4a7c15
	z := s.state
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// float is uniform in [0, 1).
func (s *splitmix) float() float64 { return float64(s.next()>>11) / (1 << 53) }

// callbackSigner builds the Authorization header of signed callbacks. It
// is written by hand rather than with jwt.NewWithClaims because it runs
// for every request: one reused HMAC state and buffers, no maps, no
// reflection; the tests verify its output with golang-jwt.
type callbackSigner struct {
	mac    hash.Hash
	rng    *rand.ChaCha8 // jti source: unique, need not be secret or seeded
	claims []byte
	buf    []byte
	sum    []byte

	// tail caches the encoded api_key/application_id claims, which only
	// change when one emulator serves several projects.
	tailKey, tailApp string
	tail             []byte
}

func newCallbackSigner(key []byte) *callbackSigner {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (Go 1.24+)
	s := &callbackSigner{mac: hmac.New(sha256.New, key), rng: rand.NewChaCha8(seed)}
	s.setTail("", "")
	return s
}

func (s *callbackSigner) setTail(apiKey, appID string) {
	s.tailKey, s.tailApp = apiKey, appID
	t := s.tail[:0]
	if apiKey != "" {
		q, _ := json.Marshal(apiKey)
		t = append(append(t, `,"api_key":`...), q...)
	}
	if appID != "" {
		q, _ := json.Marshal(appID)
		t = append(append(t, `,"application_id":`...), q...)
	}
	s.tail = append(t, '}')
}

// authorization returns "Bearer <jwt>" with the claims of Vonage's
// example, in its order: iat, jti, iss, payload_hash, api_key,
// application_id (the Secure callbacks guide above). There is no exp, as in the example.
func (s *callbackSigner) authorization(payloadHash *[sha256.Size]byte, iat int64, apiKey, appID string) string {
	if apiKey != s.tailKey || appID != s.tailApp || s.tail == nil {
		s.setTail(apiKey, appID)
	}
	c := append(s.claims[:0], `{"iat":`...)
	c = strconv.AppendInt(c, iat, 10)
	c = append(c, `,"jti":"`...)
	c = appendUUIDv4(c, s.rng)
	c = append(c, `","iss":"Vonage","payload_hash":"`...)
	c = hex.AppendEncode(c, payloadHash[:])
	c = append(c, '"')
	c = append(c, s.tail...)
	s.claims = c

	b := append(s.buf[:0], "Bearer "...)
	signed := len(b)
	b = append(b, callbackJWTHeader...)
	b = append(b, '.')
	b = base64.RawURLEncoding.AppendEncode(b, c)
	s.mac.Reset()
	s.mac.Write(b[signed:])
	s.sum = s.mac.Sum(s.sum[:0])
	b = append(b, '.')
	b = base64.RawURLEncoding.AppendEncode(b, s.sum)
	s.buf = b
	return string(b)
}

// appendUUIDv4 appends a random version-4 UUID in its canonical form.
func appendUUIDv4(dst []byte, r *rand.ChaCha8) []byte {
	var u [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for i := range 8 {
		u[i], u[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	dst = hex.AppendEncode(dst, u[0:4])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[4:6])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[6:8])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[8:10])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, u[10:16])
}
