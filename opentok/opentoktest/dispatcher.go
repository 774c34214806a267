package opentoktest

// The dispatcher delivers callbacks the way the Vonage callback service does — the
// Session monitoring guide
// (https://developer.vonage.com/en/video/guides/session-monitoring), Vonage support on
// retries (https://api.support.vonage.com/hc/en-us/articles/6646236108700) and the Secure
// callbacks guide (https://developer.vonage.com/en/video/guides/secure-callbacks): one
// JSON POST per event, a 2xx is success, anything else is retried individually with
// exponential backoff (5 s, doubling, at most 15 min apart) for 24 h, then given up. With
// a signature secret each request carries an HS256 JWT whose payload_hash is the SHA-256
// of the exact body bytes.
//
// On top of that it can misbehave on purpose (Faults): drop, duplicate,
// reorder and delay callbacks, so that receivers can be tested against the
// at-least-once, unordered delivery the real service only promises.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
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

// errDispatcherClosed is what Flush returns when the dispatcher was closed
// with callbacks still pending.
var errDispatcherClosed = errors.New("opentoktest: callback dispatcher closed with callbacks pending")

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
