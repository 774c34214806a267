package opentoktest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gavelhq/gavel/opentok"
	"github.com/golang-jwt/jwt/v5"
)

// TokenError is a client token the service refuses at connect time.
type TokenError struct {
	Reason string // what is wrong, e.g. "expired", "signature does not verify"
}

func (e *TokenError) Error() string { return "client token refused: " + e.Reason }

func tokenErrorf(format string, args ...any) error {
	return &TokenError{Reason: fmt.Sprintf(format, args...)}
}

// clientToken is what a valid client token grants.
type clientToken struct {
	owner     owner
	sessionID string
	role      opentok.Role
	data      string
	expires   time.Time
}

// parseClientToken validates a client token as the service does at session.connect: JWT
// (HS256 with the project secret or RS256 with the application key) or legacy T1
// (HMAC-SHA1), signature, expiry, role. It accepts every variation the official SDKs
// produce (client JWTs as opentok-node builds them:
// https://github.com/opentok/opentok-node/blob/main/lib/generateJwt.js).
func (s *Server) parseClientToken(tok string, now time.Time) (clientToken, error) {
	var ct clientToken
	var err error
	if strings.HasPrefix(tok, "T1==") {
		ct, err = s.parseT1(tok)
	} else {
		ct, err = s.parseJWTToken(tok, now)
	}
	if err != nil {
		return clientToken{}, err
	}
	if !ct.expires.IsZero() && !ct.expires.After(now) {
		return clientToken{}, tokenErrorf("expired at %s", ct.expires.UTC().Format(time.RFC3339))
	}
	role, err := opentok.ParseRole(string(ct.role))
	if err != nil {
		return clientToken{}, tokenErrorf("unknown role %q", ct.role)
	}
	ct.role = role // "Moderator" grants what "moderator" does
	return ct, nil
}

func (s *Server) parseJWTToken(tok string, now time.Time) (clientToken, error) {
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		switch t.Method.Alg() {
		case "HS256":
			return []byte(s.APISecret), nil
		case "RS256":
			return &s.PrivateKey.PublicKey, nil
		}
		return nil, fmt.Errorf("algorithm %s", t.Method.Alg())
	}, jwt.WithValidMethods([]string{"HS256", "RS256"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		if strings.Contains(err.Error(), "expired") {
			return clientToken{}, tokenErrorf("expired")
		}
		return clientToken{}, tokenErrorf("signature does not verify or claims are malformed: %v", err)
	}
	str := func(k string) string { v, _ := claims[k].(string); return v }
	var ct clientToken
	// The key that verified the signature decides whose token it is: an
	// HS256 token carrying application_id is still only the project's, and
	// must not open the application's sessions (nor RS256 the project's).
	if parsed.Method.Alg() == "RS256" {
		appID := str("application_id")
		if appID != s.ApplicationID {
			return clientToken{}, tokenErrorf("application_id %q is not this application", appID)
		}
		ct.owner = owner{id: appID, application: true}
	} else {
		if str("iss") != s.APIKey {
			return clientToken{}, tokenErrorf("iss %q is not this project", str("iss"))
		}
		ct.owner = owner{id: s.APIKey}
	}
	if str("scope") != "session.connect" {
		return clientToken{}, tokenErrorf("scope %q, expected session.connect", str("scope"))
	}
	ct.sessionID = str("session_id")
	ct.role = opentok.Role(str("role"))
	if ct.role == "" {
		ct.role = opentok.RolePublisher
	}
	ct.data = str("connection_data")
	exp, _ := claims.GetExpirationTime()
	ct.expires = exp.Time
	return ct, nil
}

func (s *Server) parseT1(tok string) (clientToken, error) {
	enc := strings.TrimPrefix(tok, "T1==")
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		// Java's SDK uses the URL-safe alphabet (T1 tokens as opentok-node's generateToken
		// builds them: https://github.com/opentok/opentok-node/blob/main/lib/opentok.js).
		if raw, err = base64.URLEncoding.DecodeString(enc); err != nil {
			return clientToken{}, tokenErrorf("T1 token is not base64")
		}
	}
	meta, data, ok := strings.Cut(string(raw), ":")
	if !ok {
		return clientToken{}, tokenErrorf("T1 token has no signed part")
	}
	m, err := url.ParseQuery(meta)
	if err != nil {
		return clientToken{}, tokenErrorf("T1 token header is not a form")
	}
	if m.Get("partner_id") != s.APIKey {
		return clientToken{}, tokenErrorf("partner_id %q is not this project", m.Get("partner_id"))
	}
	mac := hmac.New(sha1.New, []byte(s.APISecret))
	mac.Write([]byte(data))
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(strings.ToLower(m.Get("sig"))), []byte(want)) {
		return clientToken{}, tokenErrorf("signature does not verify")
	}
	d, err := url.ParseQuery(data)
	if err != nil {
		return clientToken{}, tokenErrorf("T1 token data is not a form")
	}
	ct := clientToken{owner: owner{id: s.APIKey}, sessionID: d.Get("session_id"), role: opentok.Role(d.Get("role")), data: d.Get("connection_data")}
	if ct.role == "" {
		ct.role = opentok.RolePublisher
	}
	if e := d.Get("expire_time"); e != "" {
		secs, err := strconv.ParseFloat(e, 64)
		if err != nil {
			return clientToken{}, tokenErrorf("expire_time %q is not a Unix time", e)
		}
		ct.expires = time.Unix(int64(secs), 0)
	}
	return ct, nil
}
