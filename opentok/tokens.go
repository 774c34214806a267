package opentok

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Role is what a client token allows its holder to do in a session (the Create a token
// guide: https://developer.vonage.com/en/video/guides/create-token).
type Role string

const (
	// RoleSubscriber may only subscribe.
	RoleSubscriber Role = "subscriber"
	// RolePublisher may publish, subscribe and signal; the default.
	RolePublisher Role = "publisher"
	// RolePublisherOnly may publish but neither subscribe nor signal.
	RolePublisherOnly Role = "publisheronly"
	// RoleModerator has publisher rights plus the client-side
	// forceDisconnect, forceUnpublish and force-mute.
	RoleModerator Role = "moderator"
)

// DefaultTokenTTL is how long a token lives when TokenOptions sets no
// expiry, as in the OpenTok SDKs and vonage-node.
const DefaultTokenTTL = 24 * time.Hour

// MaxTokenTTL is the longest lifetime the service accepts (the Create a token guide above).
const MaxTokenTTL = MaxTokenLifetimeDays * 24 * time.Hour

// ParseRole reads a role as a user types it (a flag, a config file),
// ignoring case and surrounding space.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.valid() {
		return "", fmt.Errorf("role %q: expected subscriber, publisher, publisheronly or moderator", s)
	}
	return r, nil
}

func (r Role) valid() bool {
	switch r {
	case RoleSubscriber, RolePublisher, RolePublisherOnly, RoleModerator:
		return true
	}
	return false
}

// TokenOptions are the optional parts of a client token. The zero value is a
// publisher JWT valid for 24 hours.
type TokenOptions struct {
	// Role defaults to RolePublisher.
	Role Role
	// Data is the connection data, at most 1000 characters. The service hands
	// it back verbatim as connection.data in callbacks, so it is the place to
	// put a user label the console can show.
	Data string
	// TTL is the token's lifetime; zero means 24 hours. At most 30 days.
	TTL time.Duration
	// ExpireTime is an absolute expiry, instead of TTL: set at most one.
	// It must be in the future and at most 30 days away.
	ExpireTime time.Time
	// InitialLayoutClassList are the layout classes of the streams this
	// client publishes, for composed archives and broadcasts. Class names
	// must not contain whitespace; joined with spaces, at most 1000 characters.
	InitialLayoutClassList []string
	// Legacy asks for a "T1" token instead of a JWT. T1 tokens are signed
	// with the API secret, so they need project credentials.
	Legacy bool
}

// Token is a client token and what it grants.
type Token struct {
	// Value is what the client passes to session.connect.
	Value string
	// ExpiresAt is the expiry written into the token (whole seconds).
	ExpiresAt time.Time
	// Role is the role written into the token.
	Role Role
	// SessionID is the session the token connects to.
	SessionID string
}

// String returns the token itself, so a Token prints as what a client needs.
func (t Token) String() string { return t.Value }

// Token mints a client token for sessionID. It does no I/O: tokens are signed locally
// with the client's credentials and clock, as JWTs by default (HS256 with the API secret,
// or RS256 with the application's private key, client JWTs as opentok-node builds them:
// https://github.com/opentok/opentok-node/blob/main/lib/generateJwt.js) or as T1 tokens
// when opts.Legacy is set (T1 tokens as opentok-node's generateToken builds them:
// https://github.com/opentok/opentok-node/blob/main/lib/opentok.js).
//
// When the session ID decodes (DecodeSessionID) and names another project,
// the token is refused: the service would reject it at connect time, with an
// error the end user sees rather than the moderator. An ID that does not
// decode is accepted, since the format is undocumented.
func (c *Client) Token(sessionID string, opts TokenOptions) (Token, error) {
	const op = "token"
	now := c.now()
	if err := c.validateTokenSession(op, sessionID); err != nil {
		return Token{}, err
	}
	if opts.Legacy && c.creds.kind != kindProject {
		return Token{}, invalid(op, "legacy", "T1 tokens are signed with a project's API key and secret; %s has neither, so use a JWT token (Legacy: false)", c.creds)
	}
	role, exp, classes, err := opts.check(op, now)
	if err != nil {
		return Token{}, err
	}

	t := tokenFields{
		sessionID: sessionID, role: role, data: opts.Data, classes: classes,
		iat: now.Unix(), exp: exp.Unix(),
	}
	var value string
	switch {
	case opts.Legacy:
		value, err = t.t1(c.creds.apiKey, c.creds.secret.apiSecret)
	case c.creds.kind == kindApplication:
		value, err = t.unifiedJWT(c.creds)
	default:
		value, err = t.legacyJWT(c.creds)
	}
	if err != nil {
		return Token{}, fmt.Errorf("%s: %w", op, err)
	}
	return Token{Value: value, ExpiresAt: exp, Role: role, SessionID: sessionID}, nil
}

// Validate checks the options by the rules Token applies, on the machine's
// clock, without credentials or a session: a form can refuse a bad role,
// data or lifetime before anything is sent.
func (opts TokenOptions) Validate() error {
	_, _, _, err := opts.check("token", time.Now())
	return err
}

// check applies the rules on the options alone and resolves them: the role
// (publisher when unset), the expiry and the joined layout classes.
func (opts TokenOptions) check(op string, now time.Time) (role Role, exp time.Time, classes string, err error) {
	role = opts.Role
	if role == "" {
		role = RolePublisher
	}
	if !role.valid() {
		return "", time.Time{}, "", invalid(op, "role", "must be subscriber, publisher, publisheronly or moderator (got %q)", opts.Role)
	}
	if !utf8.ValidString(opts.Data) {
		return "", time.Time{}, "", invalid(op, "data", "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(opts.Data); n > MaxConnectionDataLength {
		return "", time.Time{}, "", invalid(op, "data", "at most %d characters (got %d)", MaxConnectionDataLength, n)
	}
	if exp, err = tokenExpiry(op, opts, now); err != nil {
		return "", time.Time{}, "", err
	}
	if classes, err = layoutClassList(op, opts.InitialLayoutClassList); err != nil {
		return "", time.Time{}, "", err
	}
	return role, exp, classes, nil
}

// validateTokenSession requires a session ID and, when it decodes, that it
// belongs to this client's project.
func (c *Client) validateTokenSession(op, sessionID string) error {
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return err
	}
	info, err := DecodeSessionID(sessionID)
	if err != nil {
		return nil // undocumented format: not decoding is no reason to refuse
	}
	if !strings.EqualFold(info.ProjectID, c.creds.ProjectID()) {
		return invalid(op, "sessionId", "belongs to project %s (this client is %s)", info.ProjectID, c.creds)
	}
	return nil
}

// tokenExpiry resolves TTL or ExpireTime into the expiry written into the
// token, truncated to the whole second the token carries, and enforces the
// documented rule: in the future and at most 30 days away (the Create a token guide above).
func tokenExpiry(op string, opts TokenOptions, now time.Time) (time.Time, error) {
	iat := now.Unix()
	var exp int64
	switch {
	case opts.TTL != 0 && !opts.ExpireTime.IsZero():
		return time.Time{}, invalid(op, "ttl", "set either ttl or expireTime, not both")
	case !opts.ExpireTime.IsZero():
		exp = opts.ExpireTime.Unix()
		if exp <= iat {
			return time.Time{}, invalid(op, "expireTime", "must be in the future (got %s, now is %s)",
				opts.ExpireTime.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		if exp-iat > int64(MaxTokenTTL/time.Second) {
			return time.Time{}, invalid(op, "expireTime", "at most %d days from now (got %s)",
				MaxTokenLifetimeDays, opts.ExpireTime.UTC().Format(time.RFC3339))
		}
	case opts.TTL < 0:
		return time.Time{}, invalid(op, "ttl", "must be positive (got %s)", opts.TTL)
	case opts.TTL > MaxTokenTTL:
		return time.Time{}, invalid(op, "ttl", "at most %d days (got %s)", MaxTokenLifetimeDays, opts.TTL)
	case opts.TTL > 0 && opts.TTL < time.Second:
		// Refused whatever the clock says: below, whether a sub-second TTL
		// reaches the next whole second depends on the moment it is asked.
		return time.Time{}, invalid(op, "ttl", "at least 1s: tokens expire in whole seconds (got %s)", opts.TTL)
	default:
		ttl := opts.TTL
		if ttl == 0 {
			ttl = DefaultTokenTTL
		}
		if exp = now.Add(ttl).Unix(); exp <= iat {
			return time.Time{}, invalid(op, "ttl", "at least 1s: tokens expire in whole seconds (got %s)", ttl)
		}
	}
	return time.Unix(exp, 0), nil
}

// layoutClassList joins the classes with spaces, the form every token
// format carries them in, after checking they survive the joining.
func layoutClassList(op string, classes []string) (string, error) {
	for i, class := range classes {
		if class == "" {
			return "", invalid(op, "initialLayoutClassList", "class %d is empty", i)
		}
		if strings.IndexFunc(class, unicode.IsSpace) >= 0 {
			return "", invalid(op, "initialLayoutClassList", "class %q contains whitespace; the list is space-separated", class)
		}
	}
	joined := strings.Join(classes, " ")
	if n := utf8.RuneCountInString(joined); n > MaxLayoutClassesLength {
		return "", invalid(op, "initialLayoutClassList", "at most %d characters joined with spaces (got %d)", MaxLayoutClassesLength, n)
	}
	return joined, nil
}

// tokenFields are the validated contents of one token, in any format.
type tokenFields struct {
	sessionID string
	role      Role
	data      string // connection data, "" when unset
	classes   string // space-joined layout classes, "" when none
	iat, exp  int64  // Unix seconds
}

// legacyJWT is the legacy environment's client JWT (client JWTs as opentok-node builds them above): HS256 with
// the API secret, claims as the OpenTok Python, Ruby, Java and Node SDKs send.
func (t tokenFields) legacyJWT(creds Credentials) (string, error) {
	claims := jwt.MapClaims{
		"iss":        creds.apiKey,
		"ist":        "project",
		"iat":        t.iat,
		"exp":        t.exp,
		"scope":      "session.connect",
		"session_id": t.sessionID,
		"role":       string(t.role),
		"nonce":      newNonce(),
	}
	if t.data != "" {
		claims["connection_data"] = t.data
	}
	if t.classes != "" {
		claims["initial_layout_class_list"] = t.classes
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(creds.secret.apiSecret))
	if err != nil {
		return "", fmt.Errorf("sign client token: %w", err)
	}
	return s, nil
}

// unifiedJWT is the unified environment's client JWT (client JWTs as opentok-node builds them above): RS256
// with the application's private key, claims as vonage-node sends them,
// including an empty initial_layout_class_list when there are no classes.
func (t tokenFields) unifiedJWT(creds Credentials) (string, error) {
	claims := jwt.MapClaims{
		"application_id":            creds.appID,
		"iat":                       t.iat,
		"exp":                       t.exp,
		"jti":                       newNonce(),
		"sub":                       "video",
		"acl":                       map[string]any{"paths": map[string]any{"/session/**": map[string]any{}}},
		"scope":                     "session.connect",
		"session_id":                t.sessionID,
		"role":                      string(t.role),
		"initial_layout_class_list": t.classes,
	}
	if t.data != "" {
		claims["connection_data"] = t.data
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(creds.secret.privateKey)
	if err != nil {
		return "", fmt.Errorf("sign client token: %w", err)
	}
	return s, nil
}

// t1 builds the data string of a T1 token (T1 tokens as opentok-node's generateToken builds them above): form-encoded, spaces
// as '+' like the Python SDK, initial_layout_class_list always present and
// connection_data only when set.
func (t tokenFields) t1(apiKey, apiSecret string) (string, error) {
	nonce, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000))
	if err != nil {
		return "", fmt.Errorf("T1 nonce: %w", err)
	}
	var b strings.Builder
	field := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(v))
	}
	field("session_id", t.sessionID)
	field("create_time", strconv.FormatInt(t.iat, 10))
	field("expire_time", strconv.FormatInt(t.exp, 10))
	field("role", string(t.role))
	field("nonce", nonce.String())
	field("initial_layout_class_list", t.classes)
	if t.data != "" {
		field("connection_data", t.data)
	}
	return signT1(apiKey, apiSecret, b.String()), nil
}

// signT1 signs a T1 data string: the signature is lowercase hex
// HMAC-SHA1(secret, data), over exactly the bytes the token carries.
func signT1(apiKey, apiSecret, data string) string {
	mac := hmac.New(sha1.New, []byte(apiSecret))
	mac.Write([]byte(data))
	sig := hex.EncodeToString(mac.Sum(nil))
	inner := "partner_id=" + apiKey + "&sig=" + sig + ":" + data
	return "T1==" + base64.StdEncoding.EncodeToString([]byte(inner))
}
