package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/golang-jwt/jwt/v5"
)

// DefaultMaxCallbackBytes is the callback body limit when none is set: far
// above any Video API callback (a few KB at most), well below NATS's 1 MiB
// message limit, so a record always fits in the log.
const DefaultMaxCallbackBytes = 256 << 10

// callbackIssuer is the iss claim of every signed Vonage callback.
const callbackIssuer = "Vonage"

// signatureLeeway is the clock skew allowed on a signed callback's exp and
// nbf claims (Vonage's example token has neither; if they appear, a token
// already expired by more than this is refused).
const signatureLeeway = time.Minute

// DefaultSignatureMaxAge is ReceiverConfig.SignatureMaxAge's default: the
// service's retry horizon and the clock difference allowed.
const DefaultSignatureMaxAge = events.RetryHorizon + events.MaxAhead

// appendTimeout bounds one callback's durable append. Vonage's own wait for
// an answer is undocumented; a log slower than this is broken, and the
// callback is answered 503 so the service retries.
const appendTimeout = 10 * time.Second

// ReceiverConfig configures the callback endpoints.
type ReceiverConfig struct {
	// SignatureSecret verifies signed ("secure") callbacks of every group
	// without a secret of its own in SignatureSecrets: when set, a request
	// without a valid HS256 JWT from Vonage is refused. "" accepts those
	// groups' callbacks unsigned.
	SignatureSecret string
	// SignatureSecrets gives a group its own secret: Vonage lets each kind
	// of callback (session monitoring, archive, broadcast, SIP, Experience
	// Composer, captions) have its own (the Secure callbacks guide:
	// https://developer.vonage.com/en/video/guides/secure-callbacks), and a
	// group with one verifies with it alone, never with the default. Keys
	// are events.Groups(); CheckSignatureSecrets says what is wrong with
	// others (NewServer refuses them).
	SignatureSecrets map[events.Group]string
	// SignatureStrict refuses a signed callback whose token does not
	// carry both payload_hash (matching the body) and iat within
	// SignatureMaxAge: without them a captured token authorises any body,
	// for ever. Vonage's example token carries both, but the guide calls
	// the hash optional, so the default stays lenient; the
	// callback_signatures_total metric shows what an account's callbacks
	// carry before an operator turns it on.
	SignatureStrict bool
	// SignatureMaxAge is how old a strict token's iat may be (default
	// DefaultSignatureMaxAge). Whether Vonage signs each retry afresh is
	// undocumented, so the default lets a day-late retry through; a
	// replay inside it repeats a callback the relay already has (the log
	// and the late-retry index de-duplicate it). An iat more than
	// events.MaxAhead in the future is refused whatever this says.
	SignatureMaxAge time.Duration
	// MaxBodyBytes bounds a callback body (0 = DefaultMaxCallbackBytes).
	MaxBodyBytes int64
	// Log stores accepted callbacks. Required.
	Log *Log
	// Metrics counts requests by outcome (nil = none).
	Metrics *Metrics
	// Logger gets one debug line per stored callback and a warning per
	// refused one; never a body or a token (nil = discard).
	Logger *slog.Logger
	// Now stamps received_at (nil = time.Now).
	Now func() time.Time
	// Raise raises an alert (nil: none): callbacks refused for a bad
	// signature are one, once an hour per group — the secret is wrong, or
	// someone is forging callbacks.
	Raise func(ctx context.Context, al events.Alert)
}

// Receiver takes the Video API's callbacks and answers 200 only once each
// is durably in the log, so that anything not answered 200 is retried by
// the service, and anything answered 200 is never lost.
type Receiver struct {
	cfg    ReceiverConfig
	logger *slog.Logger
	parser *jwt.Parser
	// inFlight counts requests being served, so a shutdown can wait for
	// their appends and answers (Drain).
	inFlight atomic.Int64
	// alerted is the hour (unix/3600) a bad-signature alert was last
	// raised, by group.
	alerted sync.Map
}

// NewReceiver builds a receiver; mount Handler(group) for each group.
func NewReceiver(cfg ReceiverConfig) *Receiver {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxCallbackBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SignatureMaxAge <= 0 {
		cfg.SignatureMaxAge = DefaultSignatureMaxAge
	}
	rv := &Receiver{
		cfg:    cfg,
		logger: cfg.Logger.With("component", "receiver"),
		// HS256 only: accepting whatever alg the token names is the
		// classic JWT confusion attack. iat is checked only in strict
		// mode (verify), against SignatureMaxAge.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(callbackIssuer),
			jwt.WithLeeway(signatureLeeway),
			jwt.WithTimeFunc(cfg.Now),
		),
	}
	return rv
}

// secret is the key group's callbacks are verified with: its own if it
// has one, else the default; nil when its callbacks are taken unsigned.
func (rv *Receiver) secret(group events.Group) []byte {
	if s := rv.cfg.SignatureSecrets[group]; s != "" {
		return []byte(s)
	}
	if rv.cfg.SignatureSecret != "" {
		return []byte(rv.cfg.SignatureSecret)
	}
	return nil
}

// Verifies reports whether group's callbacks must be signed, and whether
// with a secret of the group's own rather than the default.
func (rv *Receiver) Verifies(group events.Group) (verified, ownSecret bool) {
	return rv.secret(group) != nil, rv.cfg.SignatureSecrets[group] != ""
}

// CheckSignatureSecrets refuses per-group secrets the relay would never
// use: a key that is no callback group (a typo such as "archives" would
// otherwise leave that group on the default secret, or unsigned, without
// a word) and an empty secret (which could only mean "use the default",
// which leaving the key out already says). The error names the key, never
// a secret.
func CheckSignatureSecrets(secrets map[events.Group]string) error {
	groups := events.Groups()
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = string(g)
	}
	// Sorted, so the error names the same key whatever the map's order.
	keys := make([]string, 0, len(secrets))
	for g := range secrets {
		keys = append(keys, string(g))
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(names, k) {
			return fmt.Errorf("signature_secrets.%s: no such callback group; expected one of %s", k, strings.Join(names, ", "))
		}
		if secrets[events.Group(k)] == "" {
			return fmt.Errorf("signature_secrets.%s: empty; leave the key out to use signature_secret", k)
		}
	}
	return nil
}

// callbackClaims are a signed callback's claims (the Secure callbacks guide above).
type callbackClaims struct {
	jwt.RegisteredClaims
	PayloadHash string `json:"payload_hash,omitempty"`
}

// receipt is the body of a 200: where the callback is in the log.
type receipt struct {
	Seq       uint64 `json:"seq"`
	Duplicate bool   `json:"duplicate"`
}

// Handler serves POST callbacks of one group (the URL they were sent to,
// which names render and captions bodies).
//
// Answers: 200 {"seq","duplicate"} once stored; 405 for another method;
// 413 for a body over the limit; 401 for a missing or bad signature when
// a secret is set; 400 for a body the decoder refuses, with its reason;
// 503 when the log cannot take it, so the service retries. Each is
// counted in callbacks_total{group,outcome}.
func (rv *Receiver) Handler(group events.Group) http.Handler {
	secret := rv.secret(group)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rv.inFlight.Add(1)
		defer rv.inFlight.Add(-1)
		rv.serve(w, r, group, secret)
	})
}

// Drain waits until no callback is being served, or timeout; it reports
// whether none is. Call it once the server takes no new requests.
func (rv *Receiver) Drain(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for rv.inFlight.Load() > 0 {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func (rv *Receiver) serve(w http.ResponseWriter, r *http.Request, group events.Group, secret []byte) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		rv.refuse(w, r, group, http.StatusMethodNotAllowed, OutcomeNotAllowed, "callbacks are POSTed; "+r.Method+" is not allowed")
		return
	}
	body, status, reason := rv.readBody(w, r)
	if status != 0 {
		outcome := OutcomeMalformed
		if status == http.StatusRequestEntityTooLarge {
			outcome = OutcomeTooLarge
		}
		rv.refuse(w, r, group, status, outcome, reason)
		return
	}
	if secret != nil {
		if err := rv.verify(group, secret, r.Header.Get("Authorization"), body); err != nil {
			// 401, not the 5xx some webhook guides suggest so that the sender retries: the current
			// Vonage callback service retries every non-2xx answer alike (Vonage support, callback
			// retries: https://api.support.vonage.com/hc/en-us/articles/6646236108700), so a
			// genuine callback that arrived unsigned after an internal error is retried either
			// way, while 401 tells whoever reads the dashboard or the logs that the signature
			// secret is wrong, which a 5xx would hide behind "relay broken".
			w.Header().Set("WWW-Authenticate", `Bearer realm="gavel callbacks"`)
			rv.refuse(w, r, group, http.StatusUnauthorized, OutcomeUnauthorized, err.Error())
			rv.alertBadSignature(r.Context(), group, err)
			return
		}
	}
	ev, err := events.Decode(group, body)
	if err != nil {
		// Authentic but unreadable: it will not improve on retry, so 4xx,
		// and the stream carries on with the next callback.
		rv.refuse(w, r, group, http.StatusBadRequest, OutcomeMalformed, err.Error())
		return
	}
	receivedAt := rv.cfg.Now().UTC()
	if ev.BoundTo(receivedAt) {
		// Stored as sent all the same; every reader bounds it likewise.
		rv.cfg.Metrics.TimestampBounded(group)
		rv.logger.Warn("callback timestamp far from its receive time: read as bounded", "group", group, "session", ev.SessionID, "kind", ev.Kind)
	}
	rec := events.Record{
		Type:       events.FrameEvent,
		ReceivedAt: receivedAt,
		Source:     events.SourceCallback,
		Group:      group,
		Event:      body,
	}
	// The append outlives the request: once the body is read, neither the
	// sender hanging up nor the relay shutting down (the request's context
	// ends with the server's) may turn a write in flight into a 503 —
	// the callback may be stored by then, and a shutdown would answer
	// every callback in flight with an error and a retry. appendTimeout
	// still bounds a log that does not answer.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), appendTimeout)
	defer cancel()
	seq, dup, err := rv.cfg.Log.Append(ctx, rec, callbackMsgID(group, body))
	if err != nil {
		if errors.Is(err, ErrRecordTooLarge) {
			rv.refuse(w, r, group, http.StatusRequestEntityTooLarge, OutcomeTooLarge, "callback too large for the log")
			return
		}
		rv.logger.Error("callback not stored", "group", group, "session", ev.SessionID, "kind", ev.Kind, "err", err)
		w.Header().Set("Retry-After", "5")
		rv.cfg.Metrics.Callback(group, OutcomeError)
		writeReceiverJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the callback could not be stored durably; retry"})
		return
	}
	outcome := OutcomeAccepted
	if dup {
		outcome = OutcomeDuplicate
	}
	rv.cfg.Metrics.Callback(group, outcome)
	rv.cfg.Metrics.LogAppended(seq)
	if rv.logger.Enabled(r.Context(), slog.LevelDebug) {
		rv.logger.Debug("callback stored", "group", group, "session", ev.SessionID, "kind", ev.Kind, "seq", seq, "duplicate", dup)
	}
	writeReceiverJSON(w, http.StatusOK, receipt{Seq: seq, Duplicate: dup})
}

// readBody reads the raw body within the limit. On failure it returns the
// status and reason to answer with.
func (rv *Receiver) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int, string) {
	limit := rv.cfg.MaxBodyBytes
	tooLarge := "callback body exceeds the limit of " + strconv.FormatInt(limit, 10) + " bytes"
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge, tooLarge
	}
	var buf bytes.Buffer
	if r.ContentLength > 0 {
		// ReadFrom wants MinRead spare bytes before it reads: with them,
		// a body of known length is read without growing the buffer.
		buf.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, http.StatusRequestEntityTooLarge, tooLarge
		}
		return nil, http.StatusBadRequest, "could not read the callback body: " + err.Error()
	}
	return buf.Bytes(), 0, ""
}

// verify checks a signed callback's Authorization header against the raw
// body: an HS256 JWT made with secret (the group's signature secret), issued by Vonage, not
// expired if it says when it expires, and whose payload_hash (when
// present: Vonage calls checking it optional, the Secure callbacks guide above) is the SHA-256
// of exactly these bytes. In strict mode payload_hash and a fresh iat are
// required. What a validly signed token carried is counted either way.
func (rv *Receiver) verify(group events.Group, secret []byte, header string, body []byte) error {
	token := strings.TrimSpace(header)
	if token == "" {
		return errors.New("missing signature: signed callbacks carry a JWT in Authorization")
	}
	// "Bearer <jwt>" by Vonage's convention; the bare JWT is accepted too.
	if scheme, rest, ok := strings.Cut(token, " "); ok && strings.EqualFold(scheme, "Bearer") {
		token = strings.TrimSpace(rest)
	}
	var claims callbackClaims
	if _, err := rv.parser.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return secret, nil }); err != nil {
		return fmt.Errorf("bad signature: %w", err)
	}
	rv.cfg.Metrics.SignatureCarried(group, claims.PayloadHash != "", claims.IssuedAt != nil)
	if claims.PayloadHash != "" {
		want := sha256.Sum256(body)
		got, err := hex.DecodeString(claims.PayloadHash)
		if err != nil || subtle.ConstantTimeCompare(got, want[:]) != 1 {
			return errors.New("bad signature: payload_hash does not match the body")
		}
	}
	if !rv.cfg.SignatureStrict {
		return nil
	}
	switch {
	case claims.PayloadHash == "":
		return errors.New("bad signature: strict signatures require payload_hash, and the token has none")
	case claims.IssuedAt == nil:
		return errors.New("bad signature: strict signatures require iat, and the token has none")
	}
	now, iat := rv.cfg.Now(), claims.IssuedAt.Time
	if age := now.Sub(iat); age > rv.cfg.SignatureMaxAge {
		return fmt.Errorf("bad signature: issued %s ago, more than signature_max_age %s", age.Round(time.Second), rv.cfg.SignatureMaxAge)
	}
	if ahead := iat.Sub(now); ahead > events.MaxAhead {
		return fmt.Errorf("bad signature: issued %s in the future, more than the %s clocks may differ by", ahead.Round(time.Second), events.MaxAhead)
	}
	return nil
}

// callbackMsgID is the log's de-duplication id of a callback: the hash of
// its URL group and exact bytes (callbackHash). Callbacks carry no
// delivery id, and a retry re-sends the same bytes (each signed afresh, so
// the token cannot be the key); two different events never have the same
// bytes, because each carries its own timestamp and object ids.
func callbackMsgID(group events.Group, body []byte) string {
	sum := callbackHash(group, body)
	return hex.EncodeToString(sum[:])
}

// refuse answers a callback that will not be stored, counts it and says
// why in the log (never with the body or the token).
func (rv *Receiver) refuse(w http.ResponseWriter, r *http.Request, group events.Group, status int, outcome, reason string) {
	rv.cfg.Metrics.Callback(group, outcome)
	rv.logger.Warn("callback refused", "group", group, "status", status, "reason", reason, "remote", r.RemoteAddr)
	writeReceiverJSON(w, status, map[string]string{"error": reason})
}

func writeReceiverJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// alertBadSignature raises the hour's bad-signature alert for group, once.
func (rv *Receiver) alertBadSignature(ctx context.Context, group events.Group, err error) {
	if rv.cfg.Raise == nil {
		return
	}
	now := rv.cfg.Now().UTC()
	hour := now.Unix() / 3600
	if prev, loaded := rv.alerted.Swap(group, hour); loaded && prev.(int64) == hour {
		return
	}
	al := events.Alert{ID: fmt.Sprintf("%s:%s:%d", events.AlertSignaturesRefused, group, hour), Kind: events.AlertSignaturesRefused, At: now,
		Text: fmt.Sprintf("%s callbacks refused for a bad signature (%v): a wrong signature secret, or forged callbacks", group, err)}
	go rv.cfg.Raise(context.WithoutCancel(ctx), al)
}
