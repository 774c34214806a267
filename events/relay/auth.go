package relay

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/golang-jwt/jwt/v5"
)

// Console tokens are HS256 JWTs signed with the relay's secret. They are
// minted by `gavel relay token` (an operator who holds the secret) and
// presented by consoles in `Authorization: Bearer` when they open the
// stream, or by a browser, which cannot set that header on a WebSocket, in
// the Sec-WebSocket-Protocol header (events.TokenProtocol). The relay
// needs no user database: the token says who the console is (sub, which
// the audit trail names) and what it may do (role).

// TokenIssuer is the iss claim of every console token; VerifyToken refuses
// a token from any other issuer, so a Vonage callback JWT signed with a
// reused secret is not mistaken for a console's.
const TokenIssuer = "gavel-relay"

// Errors VerifyToken wraps, so callers can tell an expired token (the
// console must get a new one) from a forged or damaged one.
var (
	ErrTokenExpired = errors.New("relay token: expired")
	ErrTokenInvalid = errors.New("relay token: invalid")
)

// Claims is what a verified console token says.
type Claims struct {
	Name    string      // who the console belongs to (the token's sub)
	Role    events.Role // viewer, moderator or admin
	Expires time.Time   // when the relay closes the console's connection
	ID      string      // the token's jti, unique per token
	// Console names one connection of the token's (set by the hub, not
	// the token): what a claim on a target belongs to.
	Console string
}

// tokenClaims is the JWT body: the registered claims plus the role.
type tokenClaims struct {
	Role events.Role `json:"role"`
	jwt.RegisteredClaims
}

// IssueToken mints a console token for name with role, valid for ttl from
// now.
func IssueToken(secret []byte, name string, role events.Role, ttl time.Duration, now time.Time) (string, error) {
	switch {
	case len(secret) == 0:
		return "", errors.New("relay token: the secret is empty")
	case strings.TrimSpace(name) == "":
		return "", errors.New("relay token: a name is required: it is who the audit trail names")
	case !role.Valid():
		return "", fmt.Errorf("relay token: role: expected viewer, moderator or admin, got %q", role)
	case ttl <= 0:
		return "", fmt.Errorf("relay token: ttl: expected a positive duration, got %s", ttl)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("relay token: jti: %w", err)
	}
	now = now.Truncate(time.Second)
	claims := tokenClaims{
		Role: role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    TokenIssuer,
			Subject:   name,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        hex.EncodeToString(id[:]),
		},
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("relay token: sign: %w", err)
	}
	return signed, nil
}

// VerifyToken checks a console token against secret at now: HS256 only
// (alg none or any other algorithm is refused before the signature is
// looked at), our issuer, an expiry that has not passed, a known role and a
// name. The error never repeats the token, which is a credential.
func VerifyToken(secret []byte, raw string, now time.Time) (Claims, error) {
	if len(secret) == 0 {
		return Claims{}, errors.New("relay token: the relay has no secret to verify with")
	}
	if raw == "" {
		return Claims{}, fmt.Errorf("%w: empty", ErrTokenInvalid)
	}
	var tc tokenClaims
	tok, err := jwt.ParseWithClaims(raw, &tc, func(*jwt.Token) (any, error) { return secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(TokenIssuer),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	if err != nil {
		if !errors.Is(err, jwt.ErrTokenMalformed) && tok != nil && tok.Header["alg"] != jwt.SigningMethodHS256.Alg() {
			return Claims{}, fmt.Errorf("%w: unsupported signing algorithm (expected HS256)", ErrTokenInvalid)
		}
		return Claims{}, describeTokenError(err)
	}
	if !tc.Role.Valid() {
		return Claims{}, fmt.Errorf("%w: unknown role %q", ErrTokenInvalid, tc.Role)
	}
	if strings.TrimSpace(tc.Subject) == "" {
		return Claims{}, fmt.Errorf("%w: no name (sub)", ErrTokenInvalid)
	}
	return Claims{Name: tc.Subject, Role: tc.Role, Expires: tc.ExpiresAt.Time, ID: tc.ID}, nil
}

// describeTokenError turns the JWT library's error into one sentence that
// says what to do, without the token. jwt's messages do not quote the
// token either, but we say it in our own words so that stays true.
func describeTokenError(err error) error {
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return fmt.Errorf("%w: mint a new one with `gavel relay token`", ErrTokenExpired)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: malformed (not a JWT)", ErrTokenInvalid)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: bad signature (signed with another secret?)", ErrTokenInvalid)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return fmt.Errorf("%w: unsupported signing algorithm (expected HS256)", ErrTokenInvalid)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fmt.Errorf("%w: not issued by %s", ErrTokenInvalid, TokenIssuer)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("%w: no expiry (exp)", ErrTokenInvalid)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return fmt.Errorf("%w: not valid yet", ErrTokenInvalid)
	case errors.Is(err, jwt.ErrTokenInvalidClaims):
		return fmt.Errorf("%w: bad claims", ErrTokenInvalid)
	}
	return fmt.Errorf("%w: rejected", ErrTokenInvalid)
}

// BearerToken returns the token of an `Authorization: Bearer <token>`
// header, or "". It never reads the query string: URLs end up in access
// logs and proxies' histories, and a console token is a credential.
func BearerToken(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// offeredProtocols lists the WebSocket subprotocols a request offers, from
// every Sec-WebSocket-Protocol line (RFC 6455 lets a client split them
// over several; gorilla's Subprotocols reads only the first).
func offeredProtocols(r *http.Request) []string {
	var out []string
	for _, line := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(line, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// SubprotocolToken returns the console token a WebSocket handshake carries
// in its offered subprotocols (events.TokenProtocol), and whether it
// carries one at all: an empty token is still one presented. More than one
// token protocol, or one that is not base64url, is an error that quotes
// neither.
func SubprotocolToken(r *http.Request) (token string, present bool, err error) {
	var encoded []string
	for _, p := range offeredProtocols(r) {
		if rest, ok := strings.CutPrefix(p, events.TokenProtocolPrefix); ok {
			encoded = append(encoded, rest)
		}
	}
	switch len(encoded) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", true, fmt.Errorf("%w: %d tokens in Sec-WebSocket-Protocol: offer one", ErrTokenInvalid, len(encoded))
	}
	raw, err := base64.RawURLEncoding.DecodeString(encoded[0])
	if err != nil {
		return "", true, fmt.Errorf("%w: the Sec-WebSocket-Protocol token is not base64url without padding", ErrTokenInvalid)
	}
	return string(raw), true, nil
}

// authenticateStream checks the console token a GET /v1/stream presents, in
// Authorization or in the offered subprotocols, before the upgrade. Both
// ways lead to the same VerifyToken, so an expired or forged token is
// refused in the same words either way. Two different tokens are refused
// rather than one preferred: a proxy that adds its own Authorization in
// front of a browser's subprotocol token would otherwise decide silently
// who the console is. The same token in both is accepted: nothing is
// ambiguous then. Never from the query string.
func authenticateStream(secret []byte, r *http.Request, now time.Time) (Claims, error) {
	header := BearerToken(r)
	sub, inSubprotocol, err := SubprotocolToken(r)
	if err != nil {
		return Claims{}, err
	}
	raw := header
	switch {
	case header != "" && inSubprotocol && sub != header:
		return Claims{}, fmt.Errorf("%w: Authorization and Sec-WebSocket-Protocol carry different tokens: send one", ErrTokenInvalid)
	case header == "" && inSubprotocol:
		raw = sub
	case header == "":
		return Claims{}, errors.New("missing bearer token: pass a relay token (gavel relay token) in Authorization, or from a browser in the " +
			events.TokenProtocolPrefix + "<base64url token> subprotocol next to " + events.StreamProtocol)
	}
	return VerifyToken(secret, raw, now)
}
