package opentok

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// SIPService dials SIP endpoints into sessions.
type SIPService service

// DialOptions say which session to join and which SIP endpoint to call.
type DialOptions struct {
	// SessionID is the session the call joins; it must be a routed session.
	SessionID string `json:"sessionId"`
	// Token is a client token for SessionID; its connection data is what
	// other clients see for the SIP participant.
	Token string `json:"token"`
	// SIP describes the call to place.
	SIP SIPOptions `json:"sip"`
}

// SIPOptions describe the outgoing SIP INVITE.
type SIPOptions struct {
	// URI is the destination, sip:… or sips:…; ";transport=tls" secures the
	// signalling only, Secure the media.
	URI string `json:"uri"`
	// From is the caller shown to the callee, e.g. "14155550101@example.com".
	From string `json:"from,omitempty"`
	// Headers are custom headers added to the INVITE.
	Headers map[string]string `json:"headers,omitempty"`
	// Auth is the SIP gateway's digest credential, if it asks for one.
	Auth *SIPAuth `json:"auth,omitempty"`
	// Secure encrypts the media (SRTP).
	Secure bool `json:"secure,omitempty"`
	// Video adds video to the call; audio only otherwise.
	Video bool `json:"video,omitempty"`
	// ObserveForceMute lets moderators' force-mute reach the SIP participant
	// and adds muteForced callbacks.
	ObserveForceMute bool `json:"observeForceMute,omitempty"`
	// Streams limits what the SIP participant hears to these stream IDs;
	// empty means every stream in the session.
	Streams []string `json:"streams,omitempty"`
}

// SIPAuth is the username and password the SIP gateway challenges for. The
// password is never echoed in an error.
type SIPAuth struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// SIPCall is a dialled call. ConnectionID is the SIP participant's
// connection: force-disconnect it to hang up.
type SIPCall struct {
	ID           string `json:"id"`
	ConnectionID string `json:"connectionId"`
	StreamID     string `json:"streamId"`
}

func (o DialOptions) validate(op string) error {
	if err := requireSessionAndToken(op, o.SessionID, o.Token); err != nil {
		return err
	}
	if o.SIP.URI == "" {
		return invalid(op, "sip.uri", "is required")
	}
	if !hasSchemePrefix(o.SIP.URI, "sip:", "sips:") {
		// The URI is not echoed: sip:user:password@host is legal syntax.
		return invalid(op, "sip.uri", "must start with sip: or sips:")
	}
	for name := range o.SIP.Headers {
		if !validHeaderName(name) {
			return invalid(op, "sip.headers", "header name %q must be non-empty with no spaces, controls or ':'", name)
		}
	}
	if o.SIP.Auth != nil && o.SIP.Auth.Username == "" {
		return invalid(op, "sip.auth.username", "is required when auth is set")
	}
	return requireIDs(op, "sip.streams", o.SIP.Streams)
}

// Dial calls a SIP endpoint and joins it to the session as a client. It is
// never retried: a retry could place a second call.
//
// Custom header names are not required to start with "X-" here: Vonage's
// 2022 OpenAPI text (github.com/Vonage/api-specification, definitions/video.yml) documents a 400 for that, but the Java SDK's docs
// (2022-02, "Correction to SIP docs") say the restriction was removed, and the
// Python SDK's tests send plain names. The 400 meaning still names the prefix.
func (s *SIPService) Dial(ctx context.Context, opts DialOptions) (*SIPCall, error) {
	const op = "sip dial"
	if err := opts.validate(op); err != nil {
		return nil, err
	}
	var password string
	if opts.SIP.Auth != nil {
		password = opts.SIP.Auth.Password
	}
	var call SIPCall
	err := s.client.join(ctx, endpoint{
		op:   op,
		path: s.client.projectPath("dial"),
		body: opts,
		meanings: map[int]string{
			http.StatusBadRequest: `the service refused the dial request (check the session ID, the SIP URI, and that custom header names start with "X-")`,
			http.StatusNotFound:   "the session does not exist",
			http.StatusConflict:   "the session is relayed — SIP needs a routed session",
		},
	}, &call, &call.ID, "call", opts.Token, password)
	if err != nil {
		return nil, err
	}
	return &call, nil
}

// The helpers below are shared by the services that join a session as a
// client on the project's behalf: SIP, Experience Composer renders, the
// Audio Connector and live captions. Their messages never echo tokens, URLs
// or header values, which may carry credentials.

// join POSTs a request that adds a participant to a session. It is never
// retried (a retry could add a second one), the secrets sent are scrubbed
// from the service's message, and a 2xx reply whose ID (*id, decoded into
// out) is empty is an error: without it nothing could stop what started.
func (c *Client) join(ctx context.Context, ep endpoint, out any, id *string, what string, secrets ...string) error {
	ep.method, ep.idempotent = http.MethodPost, false
	if err := c.do(ctx, ep, out); err != nil {
		return redact(err, secrets...)
	}
	if *id == "" {
		return fmt.Errorf("%s: the service answered without a %s ID", ep.op, what)
	}
	return nil
}

// requireSessionAndToken checks the sessionId and client token every
// session-joining request carries.
func requireSessionAndToken(op, sessionID, token string) error {
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return err
	}
	switch {
	case token == "":
		return invalid(op, "token", "is required (a client token for the session)")
	case strings.ContainsAny(token, " \t\r\n"):
		return invalid(op, "token", "must not contain whitespace")
	case !strings.HasPrefix(token, "T1==") && strings.Count(token, ".") != 2:
		return invalid(op, "token", "must be a client token (T1==… or a JWT), not a session ID or REST credential")
	}
	return nil
}

// requireIDs checks a list of IDs, e.g. stream IDs to subscribe to.
func requireIDs(op, field string, ids []string) error {
	for i, id := range ids {
		if err := requireID(op, fmt.Sprintf("%s[%d]", field, i), id); err != nil {
			return err
		}
	}
	return nil
}

func hasSchemePrefix(raw string, prefixes ...string) bool {
	for _, p := range prefixes {
		if len(raw) > len(p) && strings.EqualFold(raw[:len(p)], p) {
			return true
		}
	}
	return false
}

// checkURL requires an absolute URL with a host and one of the schemes.
// Only the scheme is quoted back: the rest may hold a secret.
func checkURL(op, field, raw string, schemes ...string) error {
	want := strings.Join(schemes, "://… or ") + "://…"
	if raw == "" {
		return invalid(op, field, "is required (%s)", want)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return invalid(op, field, "must be an absolute URL, %s", want)
	}
	for _, s := range schemes {
		if strings.EqualFold(u.Scheme, s) {
			return nil
		}
	}
	return invalid(op, field, "must be %s (got scheme %q)", want, u.Scheme)
}

// checkCallbackURL validates an optional per-request statusCallbackUrl.
func checkCallbackURL(op, raw string) error {
	if raw == "" {
		return nil
	}
	return checkURL(op, "statusCallbackUrl", raw, "http", "https")
}

// checkRange validates an optional duration-like field: 0 leaves the
// service's default.
func checkRange(op, field string, v, lo, hi int) error {
	if v != 0 && (v < lo || v > hi) {
		return invalid(op, field, "must be between %d and %d (got %d)", lo, hi, v)
	}
	return nil
}

// validHeaderName is the RFC 7230/3261 "token" rule, loosely: printable
// ASCII without separators that would break the header line.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || r == ':' {
			return false
		}
	}
	return true
}

// redact removes secrets from a service message the client would otherwise
// quote in an error: a service that echoes the request must not leak them.
func redact(err error, secrets ...string) error {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	msg := apiErr.Message
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	if msg == apiErr.Message {
		return err
	}
	clean := *apiErr
	clean.Message = msg
	return &clean
}
