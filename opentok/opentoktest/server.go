// Package opentoktest is an in-process emulator of the Vonage Video API, in
// the spirit of net/http/httptest: the same REST paths, auth checks, JSON
// shapes and error codes as the real service, simulated participants that
// connect with real client tokens, publish and leave, and the same
// session-monitoring and archive callbacks, POSTed to registered URLs.
//
// It serves a legacy project (API key + secret) and a Vonage application
// (application ID + RSA key pair it generates) at once, so a test can drive
// both credential kinds against one server. Every gavel test and `gavel demo`
// run against it; the official server SDKs work against it unchanged.
//
// It is not a media server: streams carry no media, only their metadata.
package opentoktest

import (
	"context"
	crand "crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// Default legacy credentials, so a test or a demo needs no setup.
const (
	DefaultAPIKey    = "46000000"
	DefaultAPISecret = "opentoktest-secret-0123456789abcdef012345"
)

// Server is a running emulator.
type Server struct {
	// URL is the base URL to give a client (opentok.WithBaseURL).
	URL string
	// APIKey and APISecret are the legacy project's credentials.
	APIKey, APISecret string
	// ApplicationID and PrivateKey are the Vonage application's credentials;
	// the emulator verifies REST JWTs with the key's public half.
	ApplicationID string
	PrivateKey    *rsa.PrivateKey
	// SignatureSecret signs callbacks when not empty.
	SignatureSecret string

	cfg      config
	ln       net.Listener
	http     *http.Server
	callback *dispatcher

	// mu guards everything below. One lock keeps the model simple and every
	// mutation atomic with the callbacks it emits; REST calls and participant
	// actions are microseconds long.
	mu    sync.Mutex
	st    *state
	rng   *rand.Rand
	clock func() time.Time
	// timers holds pending lifecycle timers (archive upload, auto-stop),
	// with when each is due in real time, so Close can stop them and a
	// test can wait for those due by a moment.
	timers map[*time.Timer]time.Time
	closed bool
}

type config struct {
	addr            string
	apiKey          string
	apiSecret       string
	appID           string
	appKey          *rsa.PrivateKey
	signatureSecret string
	groupSecrets    map[CallbackGroup]string
	callbackURLs    map[CallbackGroup]string
	seed            uint64
	timeScale       float64
	faults          Faults
	workers         int
	clock           func() time.Time
	logf            func(string, ...any)
	scenarioOwner   Owner
}

// Owner is whose credentials an emulated account is reached with: the
// legacy project (API key and secret) or the Vonage application
// (application ID and private key). A session belongs to the one that
// created it; the other gets 403 for it, as on the service.
type Owner string

// The owners an emulator serves.
const (
	OwnerProject     Owner = "project"
	OwnerApplication Owner = "application"
)

// ParseOwner reads "project" or "application" (any case).
func ParseOwner(s string) (Owner, error) {
	switch o := Owner(strings.ToLower(strings.TrimSpace(s))); o {
	case OwnerProject, OwnerApplication:
		return o, nil
	}
	return "", fmt.Errorf("%q: expected %s or %s", s, OwnerProject, OwnerApplication)
}

// WithScenarioOwner has scenarios create their sessions and tokens as
// owner (default OwnerProject): a user of application credentials — the
// @vonage/video SDK, gavel with api.application_id — sees their
// participants only when the scenarios run under the application.
func WithScenarioOwner(owner Owner) Option {
	return func(c *config) error {
		if _, err := ParseOwner(string(owner)); err != nil {
			return fmt.Errorf("scenario owner %w", err)
		}
		c.scenarioOwner = owner
		return nil
	}
}

// Option configures a Server.
type Option func(*config) error

// WithAddr listens on addr (default 127.0.0.1:0, a free loopback port).
func WithAddr(addr string) Option {
	return func(c *config) error { c.addr = addr; return nil }
}

// WithProject fixes the legacy project's API key and secret.
func WithProject(apiKey, apiSecret string) Option {
	return func(c *config) error {
		if apiKey == "" || apiSecret == "" {
			return errors.New("project: api key and secret must not be empty")
		}
		c.apiKey, c.apiSecret = apiKey, apiSecret
		return nil
	}
}

// WithApplication fixes the Vonage application's ID and key instead of
// generating them.
func WithApplication(id string, key *rsa.PrivateKey) Option {
	return func(c *config) error {
		if id == "" || key == nil {
			return errors.New("application: id and key must be set")
		}
		c.appID, c.appKey = id, key
		return nil
	}
}

// WithSignatureSecret signs every callback (HS256 JWT with payload_hash).
func WithSignatureSecret(secret string) Option {
	return func(c *config) error { c.signatureSecret = secret; return nil }
}

// WithGroupSignatureSecret signs one group's callbacks with a secret of
// its own, as Vonage allows per kind of callback (the Secure callbacks guide:
// https://developer.vonage.com/en/video/guides/secure-callbacks); the other
// groups keep WithSignatureSecret's (or go unsigned).
func WithGroupSignatureSecret(group CallbackGroup, secret string) Option {
	return func(c *config) error {
		if secret == "" {
			return fmt.Errorf("signature secret for %s: empty", group)
		}
		if c.groupSecrets == nil {
			c.groupSecrets = map[CallbackGroup]string{}
		}
		c.groupSecrets[group] = secret
		return nil
	}
}

// WithCallbackURL registers where a group of callbacks is POSTed, as the
// dashboard does. A group with no URL sends nothing.
func WithCallbackURL(group CallbackGroup, url string) Option {
	return func(c *config) error {
		if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
			return fmt.Errorf("callback URL for %s: %q is not an http(s) URL", group, url)
		}
		c.callbackURLs[group] = url
		return nil
	}
}

// WithSeed makes generated IDs, scenarios and fault injection repeatable.
func WithSeed(seed uint64) Option {
	return func(c *config) error { c.seed = seed; return nil }
}

// WithTimeScale speeds up the service's own timers — callback retry
// backoff, archive upload, auto-stop of empty archives — by factor (1000
// turns 60 s into 60 ms). Timestamps stay in real time.
func WithTimeScale(factor float64) Option {
	return func(c *config) error {
		if factor <= 0 {
			return fmt.Errorf("time scale %v: expected a positive factor", factor)
		}
		c.timeScale = factor
		return nil
	}
}

// WithFaults drops, duplicates, reorders or delays a fraction of callbacks.
func WithFaults(f Faults) Option {
	return func(c *config) error {
		if err := f.Validate(); err != nil {
			return err
		}
		c.faults = f
		return nil
	}
}

// WithCallbackWorkers sets how many callbacks are in flight at once
// (default 4). One session's callbacks always share a worker.
func WithCallbackWorkers(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("callback workers %d: expected at least 1", n)
		}
		c.workers = n
		return nil
	}
}

// WithLogf receives the emulator's diagnostics (failed callbacks, …).
func WithLogf(logf func(format string, args ...any)) Option {
	return func(c *config) error { c.logf = logf; return nil }
}

// NewServer starts an emulator. Close it when done.
func NewServer(opts ...Option) (*Server, error) {
	cfg := config{
		addr:         "127.0.0.1:0",
		apiKey:       DefaultAPIKey,
		apiSecret:    DefaultAPISecret,
		callbackURLs: map[CallbackGroup]string{},
		seed:         1,
		timeScale:    1,
		workers:      4,
		clock:        time.Now,
		logf:         func(string, ...any) {},
	}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("opentoktest: %w", err)
		}
	}
	rng := rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))
	if cfg.appKey == nil {
		k, err := rsa.GenerateKey(crand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("opentoktest: generate application key: %w", err)
		}
		cfg.appKey = k
	}
	if cfg.appID == "" {
		cfg.appID = newUUID(rng)
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("opentoktest: listen %s: %w", cfg.addr, err)
	}
	s := &Server{
		URL:             "http://" + ln.Addr().String(),
		APIKey:          cfg.apiKey,
		APISecret:       cfg.apiSecret,
		ApplicationID:   cfg.appID,
		PrivateKey:      cfg.appKey,
		SignatureSecret: cfg.signatureSecret,
		cfg:             cfg,
		ln:              ln,
		st:              newState(),
		rng:             rng,
		clock:           cfg.clock,
		timers:          map[*time.Timer]time.Time{},
	}
	s.callback = newDispatcher(dispatchConfig{
		SignatureSecret: cfg.signatureSecret,
		GroupSecrets:    cfg.groupSecrets,
		APIKey:          cfg.apiKey,
		ApplicationID:   cfg.appID,
		Workers:         cfg.workers,
		TimeScale:       cfg.timeScale,
		Faults:          cfg.faults,
		Seed:            int64(cfg.seed),
		Logf:            cfg.logf,
		Now:             cfg.clock,
		Project:         claimsOwner,
	})
	s.http = &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

// Close stops serving, cancels the service's timers and abandons callbacks
// not yet delivered (call FlushCallbacks first to wait for them).
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for t := range s.timers {
		t.Stop()
	}
	s.timers = nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		// What is left is a request slower than 2 s or, more often, a
		// connection a client opened and never used (Go's transport dials
		// one for a request another idle connection then served), which
		// Shutdown waits 5 s for. Neither is worth failing the stop for.
		err = s.http.Close()
	}
	s.callback.Close()
	return err
}

// FlushCallbacks waits until every callback emitted so far has been
// delivered or given up, including pending retries.
func (s *Server) FlushCallbacks(ctx context.Context) error { return s.callback.Flush(ctx) }

// CallbackStats counts what the callback sender has done.
func (s *Server) CallbackStats() DispatchStats { return s.callback.Stats() }

// ProjectCredentials are the legacy project's credentials.
func (s *Server) ProjectCredentials() opentok.Credentials {
	c, _ := opentok.ProjectCredentials(s.APIKey, s.APISecret)
	return c
}

// ApplicationCredentials are the Vonage application's credentials.
func (s *Server) ApplicationCredentials() opentok.Credentials {
	c, _ := opentok.ApplicationCredentials(s.ApplicationID, s.PrivateKey)
	return c
}

// Client returns an opentok client for the legacy project (application
// false) or the Vonage application (true), pointed at this server.
func (s *Server) Client(application bool, opts ...opentok.Option) (*opentok.Client, error) {
	creds := s.ProjectCredentials()
	if application {
		creds = s.ApplicationCredentials()
	}
	return opentok.New(creds, append([]opentok.Option{opentok.WithBaseURL(s.URL)}, opts...)...)
}

// after runs fn after d of service time (d divided by the time scale),
// holding the lock, unless the server closed first.
func (s *Server) after(d time.Duration, fn func()) {
	var t *time.Timer
	real := time.Duration(float64(d) / s.cfg.timeScale)
	t = time.AfterFunc(real, func() {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		delete(s.timers, t)
		fn()
		s.mu.Unlock()
	})
	if s.timers != nil {
		s.timers[t] = time.Now().Add(real)
	}
}

// emit queues a callback for group if a URL is registered for it. Called
// with s.mu held: the body is built in order with the state change, and the
// dispatcher's queue keeps the lock short. (A receiver so slow that a
// worker's queue of 65,536 fills stalls the emulator here: backpressure,
// rather than callbacks lost without a word.)
func (s *Server) emit(group CallbackGroup, sessionID string, payload any) {
	url := s.cfg.callbackURLs[group]
	if url == "" {
		return
	}
	s.emitTo(group, url, sessionID, payload)
}

// emitTo queues a callback to an explicit URL (a per-request statusCallbackUrl).
func (s *Server) emitTo(group CallbackGroup, url, sessionID string, payload any) {
	body, err := json.Marshal(payload)
	if err != nil {
		s.cfg.logf("opentoktest: encode %s callback: %v", group, err)
		return
	}
	who := owner{id: s.APIKey}
	if sess, ok := s.st.sessions[sessionID]; ok {
		who = sess.owner
	}
	s.callback.enqueue(callback{group: group, url: url, sessionID: sessionID, owner: who, body: body})
}

// nowMillis is the service clock in Unix milliseconds, as callbacks carry it.
func (s *Server) nowMillis() int64 { return s.clock().UnixMilli() }
