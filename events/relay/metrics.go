package relay

import (
	"sync"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a callback request, the values of callbacks_total's
// outcome label.
const (
	OutcomeAccepted     = "accepted"     // appended; answered 200
	OutcomeDuplicate    = "duplicate"    // already in the log (a retry); answered 200
	OutcomeMalformed    = "malformed"    // not a callback the decoder can read; 400
	OutcomeUnauthorized = "unauthorized" // missing or bad signature; 401
	OutcomeTooLarge     = "too_large"    // body over the limit; 413
	OutcomeNotAllowed   = "not_allowed"  // not a POST; 405
	OutcomeError        = "error"        // the log could not take it; 503, Vonage retries
	OutcomeNotFound     = "not_found"    // POSTed to a path that is no callback URL; 404 (group "unknown")
)

// GroupUnknown labels callbacks POSTed to a path that names no group: a
// callback URL registered with a typo shows up in callbacks_total instead
// of vanishing into 404s nobody counts.
const GroupUnknown events.Group = "unknown"

// Outcomes of a console's command, the values of commands_total's outcome
// label. rate_limited and disabled are the hub's, before any handler;
// malformed is the hub's for a frame it cannot read and the gateway's for
// a command checkCommand refuses; the gateway counts the rest.
const (
	outcomeRateLimited = "rate_limited" // over the token's rate or the connection's in-flight bound; 429
	outcomeDisabled    = "disabled"     // the relay runs no gateway; 501
	outcomeMalformed   = "malformed"    // not a command the relay can act on as sent (unreadable, over a bound, unknown action); 400, not audited
	outcomeOK          = "ok"
	outcomeForbidden   = "forbidden" // the console's role may not; 403
	outcomeError       = "error"     // the action failed: the Video API said no, or could not be reached
)

// Metrics are the relay's Prometheus metrics, registered in a registry the
// server owns (never the global default, so two relays in one process —
// tests, `gavel demo` — do not collide).
//
// Every method is safe on a nil *Metrics and does nothing, so a component
// built without metrics (a unit test) needs no stub.
//
// Who calls what:
//   - receiver: Callback for every request, LogAppended after each append;
//   - hub / WebSocket fan-out: ConsoleConnected and ConsoleDisconnected
//     around each console's life, ConsoleLag as it sends, ConsoleLagging
//     when it closes a console that fell behind (4000), LogAppended as it
//     follows the log;
//   - gateway: CommandDone once per command;
//   - reconciler: Reconciled with the number of events it appended.
type Metrics struct {
	callbacks      *prometheus.CounterVec
	consoles       prometheus.Gauge
	consoleLag     prometheus.Histogram
	consoleLagging prometheus.Counter
	commands       *prometheus.CounterVec
	logLastSeq     prometheus.Gauge
	logBehind      prometheus.Gauge
	sshRefused     prometheus.Counter
	sshSessions    *prometheus.GaugeVec
	reconciled     prometheus.Counter
	signatures     *prometheus.CounterVec
	reconcilePass  prometheus.Histogram
	reconcileSess  prometheus.Gauge
	webhooks       *prometheus.CounterVec
	bounded        *prometheus.CounterVec

	mu      sync.Mutex
	lastSeq uint64
}

// NewMetrics creates the relay's metrics and registers them with reg. It
// panics if they are already registered there (a programming error, as
// with prometheus.MustRegister).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	const ns, sub = "gavel", "relay"
	m := &Metrics{
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "callbacks_total",
			Help: "Callback requests by URL group and outcome (accepted, duplicate, malformed, unauthorized, too_large, not_allowed, error).",
		}, []string{"group", "outcome"}),
		consoles: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "consoles",
			Help: "Consoles connected over WebSocket now.",
		}),
		consoleLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "console_lag",
			Help:    "How many records behind the relay's applied seq a console was when a frame was written to it.",
			Buckets: []float64{0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000},
		}),
		consoleLagging: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "consoles_lagging_closed_total",
			Help: "Consoles closed with 4000 because they fell too far behind (they resume with since=).",
		}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "commands_total",
			Help: "Moderation commands by action and outcome (ok, forbidden, error, rate_limited, malformed, disabled).",
		}, []string{"action", "outcome"}),
		sshRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "ssh_keys_refused_total",
			Help: "SSH logins refused at authentication: a public key no [[relay.ssh.users]] lists (logged by fingerprint).",
		}),
		sshSessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "ssh_sessions",
			Help: "SSH sessions open, by kind (console, events).",
		}, []string{"kind"}),
		logBehind: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "log_behind_seconds",
			Help: "How long the relay has had a record in its log it has not applied (0: caught up), sampled a few times per alerts.log_lag.",
		}),
		logLastSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "log_last_seq",
			Help: "Highest sequence this relay has appended to or read from the log.",
		}),
		reconciled: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "reconcile_events_total",
			Help: "Events appended by reconcile: connections and streams whose callbacks were missed.",
		}),
	}
	m.signatures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "callback_signatures_total",
		Help: "Validly signed callbacks by URL group and by whether their token carried payload_hash and iat (yes/no): all yes means signature_strict would refuse none of them.",
	}, []string{"group", "payload_hash", "iat"})
	m.bounded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "callback_timestamps_bounded_total",
		Help: "Callbacks stamped more than 10 minutes after, or more than the 24 h retry horizon before, their receive time: stored as sent, read as bounded.",
	}, []string{"group"})
	m.reconcilePass = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Subsystem: sub, Name: "reconcile_pass_seconds",
		Help:    "How long a reconcile of every live session took; one longer than reconcile_interval delays the next.",
		Buckets: []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
	})
	m.reconcileSess = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Subsystem: sub, Name: "reconcile_pass_sessions",
		Help: "Sessions the last reconcile pass covered (two REST calls each).",
	})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Subsystem: sub, Name: "webhook_deliveries_total",
		Help: "Webhook delivery attempts by format and outcome (delivered, failed: retried with backoff, expired: given up after a day).",
	}, []string{"format", "outcome"})
	reg.MustRegister(m.callbacks, m.consoles, m.consoleLag, m.consoleLagging, m.commands, m.logLastSeq, m.logBehind, m.sshRefused, m.sshSessions, m.reconciled, m.signatures, m.bounded,
		m.reconcilePass, m.reconcileSess, m.webhooks)
	return m
}

// Callback counts one callback request at a URL group with an Outcome*.
func (m *Metrics) Callback(group events.Group, outcome string) {
	if m == nil {
		return
	}
	m.callbacks.WithLabelValues(string(group), outcome).Inc()
}

// ConsoleConnected counts a console in; call ConsoleDisconnected exactly
// once when it goes, whatever the reason.
func (m *Metrics) ConsoleConnected() {
	if m == nil {
		return
	}
	m.consoles.Inc()
}

// ConsoleDisconnected counts a console out.
func (m *Metrics) ConsoleDisconnected() {
	if m == nil {
		return
	}
	m.consoles.Dec()
}

// ConsoleLag records how many records a console is behind (the log's last
// seq minus the seq of the frame being queued for it).
func (m *Metrics) ConsoleLag(lag uint64) {
	if m == nil {
		return
	}
	m.consoleLag.Observe(float64(lag))
}

// ConsoleLagging counts a console closed with 4000 for falling behind.
func (m *Metrics) ConsoleLagging() {
	if m == nil {
		return
	}
	m.consoleLagging.Inc()
}

// CommandDone counts one command by action and outcome (outcome*). The action comes from a console, so one the
// protocol does not define is counted as "unknown": a label value per
// made-up action would let a console grow the metrics without bound.
func (m *Metrics) CommandDone(action, outcome string) {
	if m == nil {
		return
	}
	m.commands.WithLabelValues(actionLabel(action), outcome).Inc()
}

// actionLabel is action if the protocol defines it, else "unknown".
func actionLabel(a string) string {
	if knownAction(a) {
		return a
	}
	return "unknown"
}

// knownAction reports whether wire protocol v1 defines the action (the
// gateway uses it too, to refuse the others).
func knownAction(a string) bool {
	switch a {
	case events.ActionSignal, events.ActionDisconnect, events.ActionMute, events.ActionMuteAll, events.ActionMuteAllOff,
		events.ActionUnpublish, events.ActionArchiveStart, events.ActionArchiveStop, events.ActionToken, events.ActionReconcile,
		events.ActionBan, events.ActionUnban, events.ActionRules, events.ActionAck,
		events.ActionWhere, events.ActionIntend, events.ActionRelease, events.ActionStateAt:
		return true
	}
	return false
}

// LogAppended raises log_last_seq to seq. Appends finish out of order
// under concurrent requests, so the gauge only ever moves up.
func (m *Metrics) LogAppended(seq uint64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if seq > m.lastSeq {
		m.lastSeq = seq
		m.logLastSeq.Set(float64(seq))
	}
}

// Reconciled counts n events appended by reconcile.
func (m *Metrics) Reconciled(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.reconciled.Add(float64(n))
}

// SignatureCarried counts a validly signed callback by what its token
// carried.
func (m *Metrics) SignatureCarried(group events.Group, payloadHash, iat bool) {
	if m == nil {
		return
	}
	m.signatures.WithLabelValues(string(group), yesNo(payloadHash), yesNo(iat)).Inc()
}

// TimestampBounded counts a callback whose timestamp was read bounded by
// its receive time (events.Event.BoundTo).
func (m *Metrics) TimestampBounded(group events.Group) {
	if m == nil {
		return
	}
	m.bounded.WithLabelValues(string(group)).Inc()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ReconcilePass records one pass over every live session: how long it
// took and how many sessions it covered.
func (m *Metrics) ReconcilePass(took time.Duration, sessions int) {
	if m == nil {
		return
	}
	m.reconcilePass.Observe(took.Seconds())
	m.reconcileSess.Set(float64(sessions))
}

// WebhookDelivery counts one webhook delivery attempt.
func (m *Metrics) WebhookDelivery(format, outcome string) {
	if m == nil {
		return
	}
	if format == "" {
		format = "standard"
	}
	m.webhooks.WithLabelValues(format, outcome).Inc()
}

// LogBehind records how long the relay has been behind its log.
func (m *Metrics) LogBehind(d time.Duration) {
	if m == nil {
		return
	}
	m.logBehind.Set(d.Seconds())
}

// SSHKeyRefused counts an SSH login refused for an unknown key.
func (m *Metrics) SSHKeyRefused() {
	if m == nil {
		return
	}
	m.sshRefused.Inc()
}

// SSHSession counts an SSH session of kind in (+1) or out (-1).
func (m *Metrics) SSHSession(kind string, delta int) {
	if m == nil {
		return
	}
	m.sshSessions.WithLabelValues(kind).Add(float64(delta))
}
