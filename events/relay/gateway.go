package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/opentok"
)

// UnpublishSignalType is the signal the relay sends a publisher to ask it to
// stop publishing a stream: the REST API has no force-unpublish, so apps
// honour this signal (design, "Force-unpublish"). The data is the stream ID.
const UnpublishSignalType = "gavel-unpublish"

// Gateway executes consoles' moderation commands: it checks the console's
// role, calls the Video API, appends an audit entry to the log (refusals
// too: the trail shows attempts, not only deeds) and answers with a result.
type Gateway struct {
	client  *opentok.Client // nil: the relay has no Video API credentials
	log     *Log
	metrics *Metrics
	logger  *slog.Logger
	now     func() time.Time
	// state reads the reducer's state under the hub's lock: unpublish needs
	// a stream's connection, archive_stop the session's running archives.
	state func(func(*events.State))
	// reconcile runs reconcile on demand (admin); nil when not available.
	reconcile func(ctx context.Context, sessionID string) (int, error)
	// banIdentity is where a ban of a connection reads its identity.
	banIdentity []string
	// applied waits until the hub has applied the record at seq (nil:
	// no waiting).
	applied func(ctx context.Context, seq uint64) bool
	// raise raises an alert (nil: none).
	raise func(ctx context.Context, al events.Alert)
	// claims keep two consoles from running the same destructive command
	// on the same target at once (nil: no claims, as in unit tests).
	claims *targetClaims
	// acted tells the hub a console's claim on key is now a deed's, not
	// an open question's (nil: nobody to tell).
	acted func(console, key string)
}

// GatewayConfig builds a Gateway.
type GatewayConfig struct {
	Client    *opentok.Client
	Log       *Log
	Metrics   *Metrics
	Logger    *slog.Logger
	Now       func() time.Time
	State     func(func(*events.State))
	Reconcile func(ctx context.Context, sessionID string) (int, error)
	// BanIdentity: see RulesConfig.BanIdentity (nil = the default).
	BanIdentity []string
	// Applied waits until the hub has applied the record at seq: the
	// answer waits for the audit entry to be in the state, so a console
	// that sees "done" and then connects (gavel ban add, then gavel ban
	// list) sees what it did.
	Applied func(ctx context.Context, seq uint64) bool
	// Raise raises an alert: the Video API refusing the relay's
	// credentials is one (once an hour).
	Raise func(ctx context.Context, al events.Alert)
}

// NewGateway returns a gateway; a nil Client answers every Video API action
// with 503 and says why.
func NewGateway(cfg GatewayConfig) *Gateway {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.BanIdentity) == 0 {
		cfg.BanIdentity = DefaultBanIdentity()
	}
	return &Gateway{client: cfg.Client, log: cfg.Log, metrics: cfg.Metrics, logger: cfg.Logger, now: cfg.Now, state: cfg.State, reconcile: cfg.Reconcile,
		banIdentity: cfg.BanIdentity, applied: cfg.Applied, raise: cfg.Raise}
}

// commandError is a refusal with the status a console shows.
type commandError struct {
	status int
	msg    string
}

func (e *commandError) Error() string { return e.msg }

func refuse(status int, format string, args ...any) error {
	return &commandError{status: status, msg: fmt.Sprintf(format, args...)}
}

// Handle runs one command for the console identified by claims.
func (g *Gateway) Handle(ctx context.Context, claims Claims, cmd events.Command) events.Result {
	// Bounded before anything else, and before the audit entry is built
	// from the command: see checkCommand.
	p, err := checkCommand(cmd)
	if err != nil {
		g.metrics.CommandDone(cmd.Action, outcomeMalformed)
		// The action is logged as its metric label: the command's own
		// fields are what was refused for its size.
		g.logger.Info("command refused as malformed", "actor", claims.Name, "action", actionLabel(cmd.Action), "err", err)
		return failure(cmd.ID, http.StatusBadRequest, err.Error())
	}
	data, target, err := g.execute(ctx, claims, cmd, p)
	audit := events.Audit{At: g.now().UTC(), Actor: claims.Name, Role: claims.Role, Action: cmd.Action, Session: cmd.Session, Target: target, OK: err == nil}
	if cmd.Action == events.ActionMuteAll && err == nil {
		audit.Except = p.Except
	}
	if cmd.Action == events.ActionBan && err == nil {
		data = withBan(&audit, data)
	}
	if cmd.Action == events.ActionRules && err == nil {
		audit.Rules, audit.Detail = p.Rules, p.Rules.Summary()
		data = map[string]any{"rules": p.Rules}
	}
	res := events.Result{Type: events.FrameResult, ID: cmd.ID, OK: err == nil}
	if err != nil {
		status, msg := describe(err)
		audit.Error = msg
		res.Error = &events.ResultError{Status: status, Message: msg}
	} else {
		if data == nil {
			data = map[string]any{}
		}
		raw, _ := json.Marshal(data)
		res.Data = raw
	}
	// The audit entry is appended before the answer, so a console that sees
	// "done" can rely on every console seeing the trail. A token minted for
	// a console is audited, never logged: the audit carries no data. It has
	// a deadline of its own: a command that ran out of time is the one
	// whose trail matters most (the Video API may well have acted).
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	seq, _, aerr := g.log.Append(actx, events.Record{Type: events.FrameAudit, Audit: &audit}, auditID(claims, cmd, audit.At))
	if aerr == nil && g.applied != nil {
		wctx, cancel := context.WithTimeout(actx, appliedWait)
		g.applied(wctx, seq) // late is still right: the answer only waits less
		cancel()
	}
	if aerr != nil {
		g.logger.Error("audit append failed", "action", cmd.Action, "actor", claims.Name, "err", aerr)
		if res.OK {
			// The action happened but its trail did not: say so rather than pretend.
			res.Error = &events.ResultError{Status: http.StatusInternalServerError, Message: "done, but the audit entry could not be written: " + aerr.Error()}
		}
	}
	g.metrics.CommandDone(cmd.Action, commandOutcome(res, err))
	var apiErr *opentok.APIError
	if errors.As(err, &apiErr) && errors.Is(apiErr, opentok.ErrAuth) {
		// Every action will fail until an operator fixes the relay's
		// credentials: say so where operators look. The service's reason
		// names no secret, and neither does anything else here.
		g.logger.Error("the Video API refused the relay's credentials: check its API key and secret (or application id and private key)",
			"action", cmd.Action, "actor", claims.Name, "op", apiErr.Op, "status", apiErr.Status, "reason", apiErr.Message)
		if g.raise != nil {
			now := g.now().UTC()
			g.raise(ctx, events.Alert{ID: fmt.Sprintf("%s:%d", events.AlertCredentialsRefused, now.Unix()/3600), Kind: events.AlertCredentialsRefused, At: now,
				Text: "the Video API refused the relay's credentials (" + apiErr.Op + "): every action fails until an operator fixes them"})
		}
	}
	if res.OK {
		g.logger.Info("command", "actor", claims.Name, "action", cmd.Action, "session", cmd.Session, "target", target, "ok", true)
	} else {
		g.logger.Info("command", "actor", claims.Name, "action", cmd.Action, "session", cmd.Session, "target", target, "ok", false,
			"status", res.Error.Status, "err", res.Error.Message)
	}
	return res
}

// auditTimeout bounds the audit append on its own, whatever time the
// command itself had left.
const auditTimeout = 10 * time.Second

// appliedWait bounds the wait for the hub to apply a command's audit
// entry before the answer: milliseconds when the hub is following.
const appliedWait = 2 * time.Second

// commandOutcome is commands_total's outcome for a command the gateway
// ran: "forbidden" only for the relay's own role refusal, never for a
// status that came from the Video API.
func commandOutcome(res events.Result, err error) string {
	var ce *commandError
	switch {
	case res.OK:
		return outcomeOK
	case errors.As(err, &ce) && ce.status == http.StatusForbidden:
		return outcomeForbidden
	}
	return outcomeError
}

// auditID makes the audit entry's message id unique per command, so a
// re-sent command is audited again (it was attempted again).
func auditID(claims Claims, cmd events.Command, at time.Time) string {
	sum := sha256.Sum256([]byte(claims.ID + "\n" + cmd.ID + "\n" + cmd.Action + "\n" + strconv.FormatInt(at.UnixNano(), 10)))
	return "audit-" + hex.EncodeToString(sum[:16])
}

// describe turns an error into the status and sentence a moderator sees.
func describe(err error) (int, string) {
	var ce *commandError
	var apiErr *opentok.APIError
	var ve *opentok.ValidationError
	switch {
	case errors.As(err, &ce):
		return ce.status, ce.msg
	case errors.As(err, &apiErr):
		return describeAPIError(apiErr)
	case errors.As(err, &ve):
		return http.StatusBadRequest, ve.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// No answer is not a no: the request may have reached the service.
		return http.StatusGatewayTimeout, "timed out — the Video API may have acted; look before retrying: " + err.Error()
	default:
		return http.StatusBadGateway, err.Error()
	}
}

// describeAPIError maps a Video API failure to the status a console shows.
// A status that means something about the target (400, 404, 409, 413…)
// passes through. Those the relay gives its own meaning never do: 401 and
// 403 tell a console about its token and role and 429 about its own pace,
// while the Video API's 401/403 is about the relay's credentials and its
// 429 about the whole project; those, and the service's own failures
// (5xx), are the gateway failing — 502, or 503 for a pause worth retrying.
func describeAPIError(e *opentok.APIError) (int, string) {
	words := e.Message
	if words == "" {
		words = strings.ToLower(http.StatusText(e.Status))
	}
	switch {
	case errors.Is(e, opentok.ErrAuth):
		return http.StatusBadGateway, fmt.Sprintf("%s: the Video API refused the relay's credentials (%d): %s — the relay's operator must fix its Video API credentials",
			e.Op, e.Status, words)
	case errors.Is(e, opentok.ErrRateLimited):
		return http.StatusServiceUnavailable, fmt.Sprintf("%s: the Video API is rate-limiting the relay's project (429): %s — try again in a moment", e.Op, words)
	case errors.Is(e, opentok.ErrNotFound):
		// 408 is how the service says a stream id is invalid: not found.
		return http.StatusNotFound, e.Error()
	case e.Status >= 400 && e.Status < 500:
		return e.Status, e.Error()
	}
	return http.StatusBadGateway, e.Error()
}

// hold claims key, what cmd acts on, for name's console: a command's
// claim, or an open question's (presence). It refuses with 409 naming
// the holder when someone else has it, and 503 when the claims cannot be
// read.
func (g *Gateway) hold(ctx context.Context, key, name, console string, cmd events.Command, p events.CommandParams) error {
	c := claim{Name: name, Console: console, Action: cmd.Action, Session: cmd.Session,
		Target: firstNonEmpty(cmd.Connection, cmd.Stream, p.Archive, p.Match), At: g.now().UTC()}
	holder, mine, err := g.claims.take(ctx, key, c)
	switch {
	case err != nil:
		return refuse(http.StatusServiceUnavailable, "cannot tell whether another moderator is acting on it (%v): try again", err)
	case !mine:
		return refuse(http.StatusConflict, "%s is already %s %s (since %s)", holder.Name, events.Doing(holder.Action), g.targetWords(cmd, p),
			holder.At.UTC().Format("15:04:05 UTC"))
	}
	return nil
}

// targetWords names what cmd acts on, for a refusal: a connection by its
// name from the relay's state when it has one.
func (g *Gateway) targetWords(cmd events.Command, p events.CommandParams) string {
	switch {
	case cmd.Connection != "":
		who := ""
		if g.state != nil {
			g.state(func(st *events.State) {
				if data, ok := st.LiveConnection(cmd.Session, cmd.Connection); ok {
					who = events.ParseConnectionData(data).Name
				}
			})
		}
		tail := cmd.Connection[max(0, len(cmd.Connection)-4):]
		if who == "" {
			return "connection …" + tail
		}
		return who + " (…" + tail + ")"
	case cmd.Stream != "":
		return "stream …" + cmd.Stream[max(0, len(cmd.Stream)-4):]
	case cmd.Action == events.ActionBan:
		return p.Match
	case cmd.Action == events.ActionArchiveStop:
		return "its recording"
	}
	return "this session"
}

// execute runs a command checkCommand accepted, with its params decoded.
func (g *Gateway) execute(ctx context.Context, claims Claims, cmd events.Command, p events.CommandParams) (data any, target string, err error) {
	target = firstNonEmpty(cmd.Connection, cmd.Stream)
	if !claims.Role.Allows(cmd.Action) {
		return nil, target, refuse(http.StatusForbidden, "role %s may not %s", claims.Role, cmd.Action)
	}
	// A rule's actions are claimed once across the fleet by their audit
	// entry (rules.go); they do not wait on a moderator's open question.
	if key, ok := claimKey(cmd, p); ok && !strings.HasPrefix(claims.Name, "rule:") {
		if err := g.hold(ctx, key, claims.Name, claims.Console, cmd, p); err != nil {
			return nil, target, err
		}
		// A command that failed lets go, so a retry may act; one that
		// acted keeps the claim for its TTL, so a second press does not
		// act again on what the first has done.
		defer func() {
			switch {
			case err != nil:
				g.claims.release(context.WithoutCancel(ctx), key, claims.Console)
			case g.acted != nil:
				g.acted(claims.Console, key) // a question's claim, now a deed's: it outlives the console
			}
		}()
	}
	if cmd.Action == events.ActionReconcile {
		if g.reconcile == nil {
			return nil, target, refuse(http.StatusServiceUnavailable, "reconcile needs Video API credentials on the relay")
		}
		n, err := g.reconcile(ctx, cmd.Session)
		return map[string]any{"events": n}, cmd.Session, err
	}
	switch cmd.Action { // bans need no Video API call: the relay enforces them
	case events.ActionBan:
		return g.ban(cmd, p, claims.Name)
	case events.ActionUnban:
		id, err := g.unban(p)
		return nil, id, err
	case events.ActionRules:
		// Checked in checkCommand; a change made live is no config's.
		p.Rules.Seed = ""
		return nil, "", nil
	case events.ActionAck:
		return nil, p.Alert, g.ack(p.Alert)
	}
	if g.client == nil {
		return nil, target, refuse(http.StatusServiceUnavailable, "this relay has no Video API credentials: it can watch but not act")
	}
	c := g.client
	switch cmd.Action {
	case events.ActionSignal:
		return nil, target, c.Signals.Send(ctx, cmd.Session, cmd.Connection, opentok.Signal{Type: p.Type, Data: p.Data})
	case events.ActionDisconnect:
		return nil, target, c.Moderation.ForceDisconnect(ctx, cmd.Session, cmd.Connection)
	case events.ActionMute:
		return nil, target, c.Moderation.MuteStream(ctx, cmd.Session, cmd.Stream)
	case events.ActionMuteAll:
		return nil, cmd.Session, c.Moderation.MuteAll(ctx, cmd.Session, p.Except)
	case events.ActionMuteAllOff:
		return nil, cmd.Session, c.Moderation.DisableMuteAll(ctx, cmd.Session)
	case events.ActionUnpublish:
		return g.unpublish(ctx, cmd)
	case events.ActionArchiveStart:
		return g.archiveStart(ctx, cmd, p)
	case events.ActionArchiveStop:
		return g.archiveStop(ctx, cmd, p)
	case events.ActionToken:
		return g.token(cmd, p)
	}
	// checkCommand refused every action the protocol does not define.
	return nil, target, fmt.Errorf("relay: action %q has no handler", cmd.Action)
}

// unpublish asks the stream's publisher to stop it (the cooperative
// force-unpublish): a gavel-unpublish signal to the publishing connection.
// The console shows it pending until streamDestroyed arrives.
func (g *Gateway) unpublish(ctx context.Context, cmd events.Command) (any, string, error) {
	connection := cmd.Connection
	if connection == "" {
		known := false
		g.state(func(s *events.State) {
			if sess, ok := s.Session(cmd.Session); ok {
				for _, st := range sess.Streams {
					if st.ID == cmd.Stream {
						known, connection = true, st.ConnectionID
					}
				}
			}
		})
		if !known {
			// Not in the relay's picture: ask the service before saying
			// "no such stream", since a callback may have been missed
			// (reconcile heals that later).
			if _, err := g.client.Streams.Get(ctx, cmd.Session, cmd.Stream); errors.Is(err, opentok.ErrNotFound) {
				return nil, cmd.Stream, refuse(http.StatusNotFound, "stream %s is not live in this session: nothing to unpublish", cmd.Stream)
			} else if err != nil {
				return nil, cmd.Stream, fmt.Errorf("unpublish: look up stream %s: %w", cmd.Stream, err)
			}
		}
	}
	if connection == "" {
		return nil, cmd.Stream, refuse(http.StatusConflict, "the publisher of stream %s is not known yet: mute it or disconnect its connection instead", cmd.Stream)
	}
	err := g.client.Signals.Send(ctx, cmd.Session, connection, opentok.Signal{Type: UnpublishSignalType, Data: cmd.Stream})
	return map[string]any{"connection": connection}, cmd.Stream, err
}

func (g *Gateway) archiveStart(ctx context.Context, cmd events.Command, p events.CommandParams) (any, string, error) {
	opts := opentok.ArchiveOptions{SessionID: cmd.Session, Name: p.Name, OutputMode: opentok.OutputMode(p.OutputMode), Resolution: p.Resolution}
	if p.Layout != "" {
		opts.Layout = &opentok.Layout{Type: opentok.LayoutType(p.Layout)}
	}
	a, err := g.client.Archives.Start(ctx, opts)
	if err != nil {
		return nil, cmd.Session, err
	}
	return map[string]any{"archive": map[string]string{"id": a.ID, "name": a.Name, "status": string(a.Status)}}, a.ID, nil
}

// archiveStop stops params.archive, or else the session's only recording
// archive (design: several recording → 409 "name one").
func (g *Gateway) archiveStop(ctx context.Context, cmd events.Command, p events.CommandParams) (any, string, error) {
	id := p.Archive
	if id == "" {
		var recording []string
		g.state(func(s *events.State) {
			if sess, ok := s.Session(cmd.Session); ok {
				for _, a := range sess.Archives {
					if a.Status == "started" || a.Status == "paused" {
						recording = append(recording, a.ID)
					}
				}
			}
		})
		switch len(recording) {
		case 0:
			return nil, "", refuse(http.StatusConflict, "no archive is recording in this session")
		case 1:
			id = recording[0]
		default:
			return nil, "", refuse(http.StatusConflict, "several archives are recording: name one")
		}
	}
	a, err := g.client.Archives.Stop(ctx, id)
	if err != nil {
		return nil, id, err
	}
	return map[string]any{"archive": map[string]string{"id": a.ID, "name": a.Name, "status": string(a.Status)}}, id, nil
}

func (g *Gateway) token(cmd events.Command, p events.CommandParams) (any, string, error) {
	opts := opentok.TokenOptions{Data: p.Data}
	if p.Role != "" {
		r, err := opentok.ParseRole(p.Role)
		if err != nil {
			return nil, "", refuse(http.StatusBadRequest, "params.role: %v", err)
		}
		opts.Role = r
	}
	if p.TTL != "" {
		d, err := time.ParseDuration(p.TTL)
		if err != nil {
			return nil, "", refuse(http.StatusBadRequest, "params.ttl: expected a duration like \"2h\", got %q", p.TTL)
		}
		opts.TTL = d
	}
	tok, err := g.client.Token(cmd.Session, opts)
	if err != nil {
		return nil, "", err
	}
	return map[string]any{"token": tok.Value, "expires_at": tok.ExpiresAt.UTC().Format(time.RFC3339)}, string(tok.Role), nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// ack acknowledges an open alert.
func (g *Gateway) ack(id string) error {
	var al events.Alert
	var ok bool
	g.state(func(s *events.State) { al, ok = s.Alert(id) })
	switch {
	case !ok:
		return refuse(http.StatusNotFound, "no alert %s (the console keeps the last %d)", id, events.MaxAlerts)
	case al.AckedBy != "":
		return refuse(http.StatusConflict, "alert %s was acknowledged by %s already", id, al.AckedBy)
	}
	return nil
}
