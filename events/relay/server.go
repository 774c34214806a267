package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
)

// Config is everything a relay needs; the config package builds it from
// the [relay] section of the config file and GAVEL_* variables, after the
// commands' flags (config.Relay.ServerConfig).
type Config struct {
	Listen           string                  // address for callbacks, consoles and ops endpoints
	DataDir          string                  // the embedded log's file store and the state snapshot
	NatsURL          string                  // external NATS with JetStream instead of the embedded server
	Secret           []byte                  // signs and verifies console tokens (required)
	SignatureSecret  string                  // verifies signed callbacks of every group without its own; "" accepts them unsigned
	SignatureSecrets map[events.Group]string // a group's own callback secret; a group named here verifies with it alone
	MaxCallbackBytes int64                   // callback body limit (default 256 KiB)
	Reconcile        time.Duration           // how often live sessions are reconciled (default 1 min; needs a client)
	Name             string                  // this instance's name in hello frames (default the host name)
	ConsoleDrain     time.Duration           // how long consoles get to close at shutdown (default 10 s)
	// ReadTimeout is how long a request may take to arrive, body included
	// (default 30 s; a callback takes milliseconds): a client that
	// trickles one is cut off instead of holding a connection for ever.
	ReadTimeout time.Duration
	// MaxConnections bounds the connections served at once, consoles
	// included (default 4096); more wait to be accepted.
	MaxConnections int
	// ReconcileConcurrency and ReconcileRate bound the reconcile: see
	// ReconcilerConfig.
	ReconcileConcurrency int
	ReconcileRate        float64
	// CommandRate and CommandBurst bound each console token's commands,
	// history questions included (default 5 a second, bursts of 20).
	CommandRate  float64
	CommandBurst int
	// Rules are [relay.rules]: caps that enforce themselves.
	Rules RulesConfig
	// Alerts are [relay.alerts]: when the relay raises an alert.
	Alerts AlertsConfig
	// Webhooks are [[relay.webhooks]]: where alerts are delivered.
	Webhooks []WebhookConfig
	// SignatureStrict and SignatureMaxAge: see ReceiverConfig.
	SignatureStrict bool
	SignatureMaxAge time.Duration
	Logger          *slog.Logger
}

// MinSecretBytes is the shortest console-token secret accepted: HS256 keys
// shorter than the hash are easier to guess than they need be.
const MinSecretBytes = 32

// The defaults of Config (with DefaultMaxCallbackBytes), which the config
// file's [relay] section starts from too.
const (
	DefaultListen         = "127.0.0.1:8080"
	DefaultReconcile      = time.Minute
	DefaultReadTimeout    = 30 * time.Second
	DefaultMaxConnections = 4096
)

func (c *Config) defaults() error {
	if len(c.Secret) < MinSecretBytes {
		return fmt.Errorf("relay: secret: expected at least %d bytes (set relay.secret or GAVEL_RELAY_SECRET; `openssl rand -hex 32` makes one), got %d", MinSecretBytes, len(c.Secret))
	}
	if c.DataDir == "" {
		return errors.New("relay: data_dir is required")
	}
	if err := CheckSignatureSecrets(c.SignatureSecrets); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	if c.NatsURL != "" {
		if err := checkNatsURL(c.NatsURL); err != nil {
			return fmt.Errorf("relay: nats_url: %w", err)
		}
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxCallbackBytes == 0 {
		c.MaxCallbackBytes = DefaultMaxCallbackBytes
	}
	if c.MaxCallbackBytes < 1024 || c.MaxCallbackBytes > 1<<20 {
		return fmt.Errorf("relay: max_callback_bytes: expected 1 KiB to 1 MiB (the log's message limit), got %d", c.MaxCallbackBytes)
	}
	if c.Reconcile == 0 {
		c.Reconcile = DefaultReconcile
	}
	if c.Reconcile < time.Second {
		return fmt.Errorf("relay: reconcile_interval: expected at least 1s, got %s", c.Reconcile)
	}
	if c.Name == "" {
		c.Name, _ = os.Hostname()
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.ReadTimeout < time.Second {
		return fmt.Errorf("relay: read_timeout: expected at least 1s, got %s", c.ReadTimeout)
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxConnections < 16 {
		return fmt.Errorf("relay: max_connections: expected at least 16, got %d", c.MaxConnections)
	}
	if c.ReconcileConcurrency == 0 {
		c.ReconcileConcurrency = DefaultReconcileConcurrency
	}
	if c.ReconcileConcurrency < 1 || c.ReconcileConcurrency > 64 {
		return fmt.Errorf("relay: reconcile_concurrency: expected 1 to 64, got %d", c.ReconcileConcurrency)
	}
	if c.ReconcileRate == 0 {
		c.ReconcileRate = DefaultReconcileRate
	}
	if c.ReconcileRate < 2 {
		return fmt.Errorf("relay: reconcile_rate: expected at least 2 (REST calls a second; a session takes two), got %g", c.ReconcileRate)
	}
	if err := c.Rules.check(); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	if err := c.Alerts.check(); err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	for i, w := range c.Webhooks {
		if err := w.check(i); err != nil {
			return fmt.Errorf("relay: %w", err)
		}
	}
	if c.SignatureMaxAge == 0 {
		c.SignatureMaxAge = DefaultSignatureMaxAge
	}
	if c.SignatureMaxAge < time.Minute {
		return fmt.Errorf("relay: signature_max_age: expected at least 1m, got %s", c.SignatureMaxAge)
	}
	if c.SignatureStrict && c.SignatureSecret == "" && len(c.SignatureSecrets) == 0 {
		return errors.New("relay: signature_strict: no callback is signed (set signature_secret or [relay.signature_secrets])")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Server is one relay instance: receiver, log, hub, gateway, reconciler and
// the HTTP surface that exposes them.
type Server struct {
	cfg        Config
	log        *Log
	receiver   *Receiver
	hub        *Hub
	gateway    *Gateway
	presence   *presence
	reconciler *Reconciler
	rules      *rules // nil without rules or a Video API client
	metrics    *Metrics
	registry   *prometheus.Registry
	// lastNotFoundLog is when a POST to an unknown path was last logged
	// (unix ns), so such lines come at most once a minute.
	lastNotFoundLog atomic.Int64
	mux             *http.ServeMux
}

// NewServer opens the log and builds the relay. client may be nil: the relay
// then watches but cannot act or reconcile. A mistake in cfg is an
// *exitcode.ConfigError; its other errors are the system's — the data
// directory, NATS — and the same configuration may work on retry.
func NewServer(ctx context.Context, cfg Config, client *opentok.Client) (*Server, error) {
	if err := cfg.defaults(); err != nil {
		return nil, &exitcode.ConfigError{Err: err}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: data_dir %s: %w", cfg.DataDir, err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := NewMetrics(reg)
	log, err := OpenLog(ctx, LogConfig{DataDir: cfg.DataDir, NatsURL: cfg.NatsURL, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, metrics: metrics, registry: reg}
	s.hub = NewHub(HubConfig{
		Log: log, Metrics: metrics, Logger: cfg.Logger, InstanceName: cfg.Name,
		CommandRate: cfg.CommandRate, CommandBurst: cfg.CommandBurst,
		SnapshotPath: filepath.Join(cfg.DataDir, "state.snapshot.json"),
		Commands: func(ctx context.Context, c Claims, cmd events.Command) events.Result {
			return s.gateway.Handle(ctx, c, cmd)
		},
		OnLive: func(st *events.State, ev *events.Event, a *events.Audit) {
			if s.rules != nil {
				s.rules.observe(st, ev, a)
			}
		},
	})
	var reconcile func(context.Context, string) (int, error)
	if client != nil {
		s.reconciler = NewReconciler(ReconcilerConfig{Client: client, Log: log, State: s.hub.State, Metrics: metrics, Logger: cfg.Logger,
			Concurrency: cfg.ReconcileConcurrency, Rate: cfg.ReconcileRate})
		reconcile = s.reconciler.Once
	}
	s.gateway = NewGateway(GatewayConfig{Client: client, Log: log, Metrics: metrics, Logger: cfg.Logger, State: s.hub.State, Reconcile: reconcile,
		BanIdentity: cfg.Rules.BanIdentity, Applied: s.hub.waitApplied, Raise: s.raise})
	if s.gateway.claims, err = log.claimsBucket(ctx); err != nil {
		_ = log.Close()
		return nil, err
	}
	presenceKV, err := log.presenceBucket(ctx)
	if err != nil {
		_ = log.Close()
		return nil, err
	}
	s.presence = newPresence(presenceKV, s.gateway.claims, s.gateway, cfg.Logger)
	s.hub.presence, s.gateway.acted = s.presence, s.hub.dropIntent
	// Alerts are raised whatever the relay can do; bans and the cap are
	// enforced only by a relay that can act.
	s.rules = newRules(cfg.Rules, cfg.Alerts, log, s.gateway, cfg.Logger)
	if client == nil {
		s.rules.watchOnly = true
		if cfg.Rules.configured() {
			cfg.Logger.Warn("relay.rules are set, but the relay has no Video API credentials: the rules cannot act")
		}
	}
	s.mux = s.routes()
	return s, nil
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	s.receiver = NewReceiver(ReceiverConfig{SignatureSecret: s.cfg.SignatureSecret, SignatureSecrets: s.cfg.SignatureSecrets,
		SignatureStrict: s.cfg.SignatureStrict, SignatureMaxAge: s.cfg.SignatureMaxAge, Raise: s.raise,
		MaxBodyBytes: s.cfg.MaxCallbackBytes, Log: s.log, Metrics: s.metrics, Logger: s.cfg.Logger})
	for _, g := range events.Groups() {
		mux.Handle("/v1/callbacks/"+string(g), s.receiver.Handler(g))
	}
	mux.Handle("GET "+events.StreamPath, s.hub.ServeWS(func(r *http.Request) (Claims, error) {
		return authenticateStream(s.cfg.Secret, r, time.Now())
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeStatus(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.hub.Ready() {
			writeStatus(w, http.StatusServiceUnavailable, "catching up with the log")
			return
		}
		writeStatus(w, http.StatusOK, "ready")
	})
	// Metrics carry session counts and command outcomes: any valid console
	// token may read them (Prometheus: authorization.credentials).
	metrics := promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := s.authenticate(r); err != nil {
			writeStatus(w, http.StatusUnauthorized, err.Error())
			return
		}
		metrics.ServeHTTP(w, r)
	}))
	mux.HandleFunc("/", s.notFound)
	return mux
}

// notFound answers every request no route takes. A POST there is most
// likely a callback URL registered with a typo (/callbacks, /v1/callback/
// session): it is counted and logged with the URLs that exist, since
// otherwise every callback would vanish into 404s that only the Video
// API's delivery log shows.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	// Anyone may send anything here: the path is echoed and logged only
	// cut short.
	path := shortPath(r.URL.Path)
	// A path the routes serve to GET alone is 405 with Allow, as the
	// callback URLs answer a GET, not "no such endpoint" (the mux cannot
	// say so itself: this catch-all matches every method).
	probe := r.Clone(r.Context())
	probe.Method = http.MethodGet
	if _, pattern := s.mux.Handler(probe); pattern != "/" {
		w.Header().Set("Allow", "GET, HEAD")
		writeStatus(w, http.StatusMethodNotAllowed, r.Method+" "+path+": only GET is allowed")
		return
	}
	msg := "no such endpoint: " + r.Method + " " + path
	if r.Method == http.MethodPost {
		urls := make([]string, 0, len(events.Groups()))
		for _, g := range events.Groups() {
			urls = append(urls, "/v1/callbacks/"+string(g))
		}
		msg += "; callbacks go to " + strings.Join(urls, ", ")
		s.metrics.Callback(GroupUnknown, OutcomeNotFound)
		// Once a minute at most: the counter keeps the exact number, and
		// a misregistered URL (or a scanner) would otherwise write a line
		// per request.
		if now := time.Now().UnixNano(); now-s.lastNotFoundLog.Load() >= int64(time.Minute) {
			s.lastNotFoundLog.Store(now)
			s.cfg.Logger.Warn("callback to an unknown path: check the callback URL registered with the Video API (logged once a minute; callbacks_total{group=\"unknown\"} counts them all)",
				"path", path, "remote", r.RemoteAddr, "callback_urls", urls)
		}
	}
	writeStatus(w, http.StatusNotFound, msg)
}

// shortPath cuts a request path to what a person needs to recognise it.
func shortPath(p string) string {
	const max = 128
	if len(p) <= max {
		return p
	}
	return strings.ToValidUTF8(p[:max], "") + "…"
}

// authenticate checks a console's bearer token on a plain request
// (/metrics): Authorization only, as the subprotocol token is the
// WebSocket handshake's alone (authenticateStream).
func (s *Server) authenticate(r *http.Request) (Claims, error) {
	raw := BearerToken(r)
	if raw == "" {
		return Claims{}, errors.New("missing bearer token: pass a relay token (gavel relay token) in Authorization")
	}
	return VerifyToken(s.cfg.Secret, raw, time.Now())
}

// Handler is the relay's HTTP surface, for tests that serve it themselves.
func (s *Server) Handler() http.Handler { return s.mux }

// Hub is the fan-out core, for tests and embedding.
func (s *Server) Hub() *Hub { return s.hub }

// Log is the relay's event log.
func (s *Server) Log() *Log { return s.log }

// Name is the relay's name, as its hello frames carry it.
func (s *Server) Name() string { return s.cfg.Name }

// Metrics is what the relay counts for /metrics (nil when it counts nothing).
func (s *Server) Metrics() *Metrics { return s.metrics }

// Serve runs the relay on ln until ctx ends, then shuts down gracefully:
// stop taking requests, close consoles with a resume hint, snapshot the
// state, close the log.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hubDone := make(chan error, 1)
	go func() { hubDone <- s.hub.Run(ctx) }()
	rulesDone := make(chan struct{})
	go func() {
		defer close(rulesDone)
		if s.rules != nil {
			s.rules.run(ctx)
		}
	}()
	if s.reconciler != nil {
		go func() {
			// Reconcile once the hub has caught up with the log, so it
			// compares the REST lists with the full picture.
			for !s.hub.Ready() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
			_ = s.reconciler.Run(ctx, s.cfg.Reconcile)
		}()
	}
	// The rules' seeding and the webhooks append to and read the log:
	// they are waited for before it closes.
	var hooks sync.WaitGroup
	hooks.Go(func() { s.seedRules(ctx) })
	hooks.Go(func() { s.watchLag(ctx) })
	hooks.Go(func() { s.presence.run(ctx) })
	for _, w := range s.cfg.Webhooks {
		d := &webhookDelivery{cfg: w, log: s.log, client: &http.Client{Timeout: 15 * time.Second}, metrics: s.metrics,
			logger: s.cfg.Logger.With("component", "webhooks"), raise: s.rules.raise}
		hooks.Go(func() { d.run(ctx) })
	}
	// Timeouts no genuine request reaches: a slow or hostile client is cut
	// off rather than holding a connection and a goroutine. The write
	// deadline runs from the end of the headers, so it covers reading the
	// body and storing the callback too. Upgraded WebSockets clear both
	// deadlines and keep their own (ws.go).
	srv := &http.Server{Handler: s.mux, BaseContext: func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: min(10*time.Second, s.cfg.ReadTimeout), ReadTimeout: s.cfg.ReadTimeout,
		WriteTimeout: s.cfg.ReadTimeout + appendTimeout + 10*time.Second, IdleTimeout: 2 * time.Minute}
	serveDone := make(chan error, 1)
	go func() { serveDone <- srv.Serve(netutil.LimitListener(ln, s.cfg.MaxConnections)) }()
	s.cfg.Logger.Info("relay listening", "addr", ln.Addr().String(), "data_dir", s.cfg.DataDir)
	s.logCallbackSignatures()

	var runErr error
	hubReturned := false
	select {
	case <-ctx.Done():
	case err := <-serveDone:
		runErr = fmt.Errorf("relay: serve: %w", err)
	case err := <-hubDone:
		hubReturned = true
		if err != nil && !errors.Is(err, context.Canceled) {
			runErr = fmt.Errorf("relay: hub: %w", err)
		}
	}
	// Consoles and callbacks are drained side by side, each on a budget of
	// its own: a console waiting for a slow moderation command must not
	// eat the time in which callbacks in flight are stored and answered.
	httpDrained := make(chan struct{})
	go func() {
		defer close(httpDrained)
		s.drainCallbacks(srv)
	}()
	drain := s.cfg.ConsoleDrain
	if drain <= 0 {
		drain = 10 * time.Second
	}
	consoleCtx, consoleDone := context.WithTimeout(context.Background(), drain)
	s.hub.Shutdown(consoleCtx)
	consoleDone()
	<-httpDrained
	cancel()
	if !hubReturned {
		<-hubDone
	}
	<-rulesDone // their actions append to the log
	hooks.Wait()
	if err := s.log.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("relay: close log: %w", err)
	}
	return runErr
}

// drainCallbacks stops the HTTP server: no new requests, and the
// callbacks being written are stored and answered before their
// connections close. net/http's Shutdown also waits up to 5 s for
// connections that never sent a request (clients' keep-alive pools open
// them), so it gets 2 s; if connections remain then, callbacks still in
// the receiver get as long as an append may take, and the rest is closed.
func (s *Server) drainCallbacks(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err == nil {
		return
	}
	if !s.receiver.Drain(appendTimeout + time.Second) {
		s.cfg.Logger.Warn("shutdown: callbacks still being written were cut off; the Video API retries them")
	}
	_ = srv.Close()
}

// logCallbackSignatures says, by group name alone (never a secret), whose
// callbacks must be signed, which of those have a secret of their own, and
// whose are taken unsigned: a group left unsigned by mistake is otherwise
// invisible until someone forges a callback.
func (s *Server) logCallbackSignatures() {
	verified, own, unverified := []events.Group{}, []events.Group{}, []events.Group{}
	for _, g := range events.Groups() {
		ok, ownSecret := s.receiver.Verifies(g)
		switch {
		case !ok:
			unverified = append(unverified, g)
		case ownSecret:
			own = append(own, g)
			verified = append(verified, g)
		default:
			verified = append(verified, g)
		}
	}
	s.cfg.Logger.Info("callback signatures", "verified", verified, "own_secret", own, "unverified", unverified)
	if len(unverified) > 0 {
		s.cfg.Logger.Warn("callbacks are not authenticated", "groups", unverified,
			"fix", "set relay.signature_secret (GAVEL_SIGNATURE_SECRET) for every group, or relay.signature_secrets.<group> (GAVEL_SIGNATURE_SECRET_<GROUP>) for one")
	}
}

func writeStatus(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	key := "status"
	if status >= 400 {
		key = "error"
	}
	_ = json.NewEncoder(w).Encode(map[string]string{key: msg})
}

// seedRules puts the config's [relay.rules] in force once the hub has
// caught up with the log, unless they are the ones a relay last put there
// from config: a change made live since then stands until the config
// changes. Relays with the same config append the same record (its
// message id is the config's hash), so the log takes it once.
func (s *Server) seedRules(ctx context.Context) {
	for !s.hub.Ready() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	want := s.cfg.Rules.inForce()
	var seeded string
	var any bool
	s.hub.State(func(st *events.State) {
		seeded = st.RulesSeed()
		_, any = st.Rules()
	})
	if seeded == want.Seed || !any && !s.cfg.Rules.configured() {
		s.cfg.Logger.Info("rules: the log's are in force (the config's were put there before, or there are none)", "config", want.Summary())
		return
	}
	a := events.Audit{At: time.Now().UTC(), Actor: "config:" + s.cfg.Name, Action: events.ActionRules, OK: true, Rules: &want,
		Detail: "from [relay.rules]: " + want.Summary()}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if _, _, err := s.log.Append(actx, events.Record{Type: events.FrameAudit, Audit: &a}, "rules-seed:"+want.Seed); err != nil {
		s.cfg.Logger.Error("cannot put [relay.rules] in force", "err", err)
		return
	}
	s.cfg.Logger.Info("rules from config put in force", "rules", want.Summary())
}

// raise raises an alert through the rules (which exist once NewServer
// has built them).
func (s *Server) raise(ctx context.Context, al events.Alert) {
	if s.rules != nil {
		s.rules.raise(ctx, al)
	}
}
