package opentok_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
	"github.com/golang-jwt/jwt/v5"
)

// tokenNow is the clock of every token test, so iat and exp are exact.
var tokenNow = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

// tokenClient is a client on a fixed clock. Tokens need no server; the fake
// API is there to prove that none is called.
func tokenClient(t *testing.T, e env) *opentok.Client {
	t.Helper()
	api, c := newFakeAPI(t, e, opentok.WithClock(func() time.Time { return tokenNow }))
	t.Cleanup(func() {
		if n := api.requests(); n != 0 {
			t.Errorf("minting tokens made %d request(s)", n)
		}
	})
	return c
}

// ownSession is a worked example of session IDs as opentok-node's test helpers decode
// them: https://github.com/opentok/opentok-node/blob/main/test/helpers.js that belongs to
// e's project; otherSession belongs to the other environment's project.
func ownSession(e env) string {
	if e == legacyEnv {
		return sidLegacy
	}
	return sidUnified
}

func otherSession(e env) string {
	if e == legacyEnv {
		return sidUnified
	}
	return sidLegacy
}

// decodeClientJWT verifies a client JWT with a key of our own (the API
// secret, or the public half of the application key), checks the header
// bytes, and returns the claims.
func decodeClientJWT(t *testing.T, e env, raw string) jwt.MapClaims {
	t.Helper()
	method := "HS256"
	keyFunc := func(*jwt.Token) (any, error) { return []byte(testAPISecret), nil }
	if e == unifiedEnv {
		method = "RS256"
		keyFunc = func(*jwt.Token) (any, error) { return &testRSAKey().PublicKey, nil }
	}
	hdr, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if err != nil {
		t.Fatalf("JWT header: %v", err)
	}
	if want := `{"alg":"` + method + `","typ":"JWT"}`; string(hdr) != want {
		t.Errorf("JWT header %s, want %s", hdr, want)
	}
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(raw, claims, keyFunc,
		jwt.WithValidMethods([]string{method}), jwt.WithTimeFunc(func() time.Time { return tokenNow }))
	if err != nil {
		t.Fatalf("client JWT does not verify: %v", err)
	}
	return claims
}

// wantTokenInvalid asserts err is a *ValidationError on field.
func wantTokenInvalid(t *testing.T, err error, field string) *opentok.ValidationError {
	t.Helper()
	var ve *opentok.ValidationError
	if !errors.As(err, &ve) || ve.Field != field || ve.Op != "token" || !errors.Is(err, opentok.ErrInvalid) {
		t.Errorf("err %v, want a token ValidationError on %s", err, field)
	}
	return ve
}

// baseClientClaims are the claims client JWTs as opentok-node builds them:
// https://github.com/opentok/opentok-node/blob/main/lib/generateJwt.js gives a client JWT
// in e before the optional ones, minus the random nonce (legacy) or jti (unified).
func baseClientClaims(e env, sid, role string, exp time.Time) jwt.MapClaims {
	iat := float64(tokenNow.Unix())
	if e == legacyEnv {
		return jwt.MapClaims{
			"iss": testAPIKey, "ist": "project", "iat": iat, "exp": float64(exp.Unix()),
			"scope": "session.connect", "session_id": sid, "role": role,
		}
	}
	return jwt.MapClaims{
		"application_id": testAppID, "iat": iat, "exp": float64(exp.Unix()), "sub": "video",
		"acl":   map[string]any{"paths": map[string]any{"/session/**": map[string]any{}}},
		"scope": "session.connect", "session_id": sid, "role": role,
		// Always there, "" by default, as Node sends it.
		"initial_layout_class_list": "",
	}
}

// checkClientClaims decodes a client JWT, compares its claims with want and
// returns its random nonce (legacy) or jti (unified), which must be present.
func checkClientClaims(t *testing.T, e env, raw string, want jwt.MapClaims) string {
	t.Helper()
	claims := decodeClientJWT(t, e, raw)
	random := "nonce"
	if e == unifiedEnv {
		random = "jti"
	}
	v, _ := claims[random].(string)
	if v == "" {
		t.Errorf("claim %s = %#v, want a random string", random, claims[random])
	}
	delete(claims, random)
	if !reflect.DeepEqual(claims, want) {
		t.Errorf("claims\n got %v\nwant %v", claims, want)
	}
	return v
}

func TestTokenJWTClaims(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			c := tokenClient(t, e)
			sid := ownSession(e)
			tok, err := c.Token(sid, opentok.TokenOptions{
				Role:                   opentok.RoleModerator,
				Data:                   `{"name":"Ana López"}`,
				TTL:                    2 * time.Hour,
				InitialLayoutClassList: []string{"focus", "full"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if tok.String() != tok.Value || tok.Role != opentok.RoleModerator || tok.SessionID != sid ||
				!tok.ExpiresAt.Equal(tokenNow.Add(2*time.Hour)) {
				t.Errorf("token %+v", tok)
			}
			want := baseClientClaims(e, sid, "moderator", tokenNow.Add(2*time.Hour))
			want["connection_data"] = `{"name":"Ana López"}`
			want["initial_layout_class_list"] = "focus full"
			checkClientClaims(t, e, tok.Value, want)
		})
	}
}

func TestTokenJWTDefaults(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			c := tokenClient(t, e)
			sid := ownSession(e)
			nonces := map[string]bool{}
			for range 2 {
				tok, err := c.Token(sid, opentok.TokenOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if tok.Role != opentok.RolePublisher || !tok.ExpiresAt.Equal(tokenNow.Add(24*time.Hour)) {
					t.Errorf("token %+v, want a publisher token for 24 h", tok)
				}
				// No connection_data, and in the legacy environment no
				// initial_layout_class_list, when unset.
				want := baseClientClaims(e, sid, "publisher", tokenNow.Add(24*time.Hour))
				nonces[checkClientClaims(t, e, tok.Value, want)] = true
			}
			if len(nonces) != 2 {
				t.Errorf("two tokens share a nonce: %v", nonces)
			}
		})
	}
}

func TestTokenExpiry(t *testing.T) {
	c := tokenClient(t, legacyEnv)
	cases := []struct {
		name string
		opts opentok.TokenOptions
		want time.Time
	}{
		{"default", opentok.TokenOptions{}, tokenNow.Add(24 * time.Hour)},
		{"ttl", opentok.TokenOptions{TTL: 90 * time.Minute}, tokenNow.Add(90 * time.Minute)},
		{"ttl of 30 days", opentok.TokenOptions{TTL: 30 * 24 * time.Hour}, tokenNow.Add(30 * 24 * time.Hour)},
		// Tokens carry whole seconds; the fraction is dropped, not rounded up.
		{"expire time", opentok.TokenOptions{ExpireTime: tokenNow.Add(72*time.Hour + 700*time.Millisecond)}, tokenNow.Add(72 * time.Hour)},
		{"expire time in 30 days", opentok.TokenOptions{ExpireTime: tokenNow.Add(30 * 24 * time.Hour)}, tokenNow.Add(30 * 24 * time.Hour)},
	}
	for _, tc := range cases {
		tok, err := c.Token(sidLegacy, tc.opts)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		claims := decodeClientJWT(t, legacyEnv, tok.Value)
		if claims["exp"] != float64(tc.want.Unix()) || claims["iat"] != float64(tokenNow.Unix()) {
			t.Errorf("%s: iat %v exp %v, want %d %d", tc.name, claims["iat"], claims["exp"], tokenNow.Unix(), tc.want.Unix())
		}
		if !tok.ExpiresAt.Equal(tc.want) {
			t.Errorf("%s: ExpiresAt %s, want %s", tc.name, tok.ExpiresAt, tc.want)
		}
	}
}

// decodeT1 takes a T1 token apart as T1 tokens as opentok-node's generateToken builds
// them: https://github.com/opentok/opentok-node/blob/main/lib/opentok.js says (strip
// "T1==", base64-decode, split on the first ':'), checks partner_id and the signature
// with our own HMAC, and returns the signed data string parsed.
func decodeT1(t *testing.T, token string) url.Values {
	t.Helper()
	rest, ok := strings.CutPrefix(token, "T1==")
	if !ok {
		t.Fatalf("token %q does not start with T1==", token)
	}
	inner, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		t.Fatalf("T1 body: %v", err)
	}
	head, data, ok := strings.Cut(string(inner), ":")
	if !ok {
		t.Fatalf("T1 body %q has no ':'", inner)
	}
	outer, err := url.ParseQuery(head)
	if err != nil {
		t.Fatalf("T1 head %q: %v", head, err)
	}
	mac := hmac.New(sha1.New, []byte(testAPISecret))
	mac.Write([]byte(data))
	wantOuter := url.Values{"partner_id": {testAPIKey}, "sig": {hex.EncodeToString(mac.Sum(nil))}}
	if !reflect.DeepEqual(outer, wantOuter) {
		t.Errorf("T1 head %v, want %v", outer, wantOuter)
	}
	fields, err := url.ParseQuery(data)
	if err != nil {
		t.Fatalf("T1 data %q: %v", data, err)
	}
	return fields
}

// takeT1Nonce checks the nonce is a number, as every SDK sends, and removes it.
func takeT1Nonce(t *testing.T, fields url.Values) string {
	t.Helper()
	n := fields.Get("nonce")
	if _, err := strconv.ParseUint(n, 10, 64); err != nil {
		t.Errorf("nonce %q is not a number", n)
	}
	delete(fields, "nonce")
	return n
}

func TestTokenT1(t *testing.T) {
	c := tokenClient(t, legacyEnv)
	tok, err := c.Token(sidLegacy, opentok.TokenOptions{
		Legacy:                 true,
		Role:                   opentok.RoleSubscriber,
		Data:                   "name=Ana López&team=red:blue",
		TTL:                    time.Hour,
		InitialLayoutClassList: []string{"focus", "wide"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Role != opentok.RoleSubscriber || tok.SessionID != sidLegacy || !tok.ExpiresAt.Equal(tokenNow.Add(time.Hour)) {
		t.Errorf("token %+v", tok)
	}
	fields := decodeT1(t, tok.Value)
	takeT1Nonce(t, fields)
	want := url.Values{
		"session_id":                {sidLegacy},
		"create_time":               {strconv.FormatInt(tokenNow.Unix(), 10)},
		"expire_time":               {strconv.FormatInt(tokenNow.Add(time.Hour).Unix(), 10)},
		"role":                      {"subscriber"},
		"initial_layout_class_list": {"focus wide"},
		"connection_data":           {"name=Ana López&team=red:blue"},
	}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("T1 data\n got %v\nwant %v", fields, want)
	}
}

func TestTokenT1Defaults(t *testing.T) {
	c := tokenClient(t, legacyEnv)
	nonces := map[string]bool{}
	for range 2 {
		tok, err := c.Token(sidLegacy, opentok.TokenOptions{Legacy: true})
		if err != nil {
			t.Fatal(err)
		}
		fields := decodeT1(t, tok.Value)
		nonces[takeT1Nonce(t, fields)] = true
		// initial_layout_class_list is always sent, empty here; connection_data is not.
		want := url.Values{
			"session_id":                {sidLegacy},
			"create_time":               {strconv.FormatInt(tokenNow.Unix(), 10)},
			"expire_time":               {strconv.FormatInt(tokenNow.Unix()+86400, 10)},
			"role":                      {"publisher"},
			"initial_layout_class_list": {""},
		}
		if !reflect.DeepEqual(fields, want) {
			t.Errorf("T1 data\n got %v\nwant %v", fields, want)
		}
	}
	if len(nonces) != 2 {
		t.Errorf("two T1 tokens share a nonce: %v", nonces)
	}
}

func TestTokenT1NeedsProjectCredentials(t *testing.T) {
	c := tokenClient(t, unifiedEnv)
	_, err := c.Token(sidUnified, opentok.TokenOptions{Legacy: true})
	wantTokenInvalid(t, err, "legacy")
	const want = "token: legacy: T1 tokens are signed with a project's API key and secret; application " +
		testAppID + " has neither, so use a JWT token (Legacy: false)"
	if err == nil || err.Error() != want {
		t.Errorf("err\n got %v\nwant %s", err, want)
	}
}

func TestTokenRefusesAnotherProjectsSession(t *testing.T) {
	wants := map[env]string{
		legacyEnv:  "token: sessionId: belongs to project " + testAppID + " (this client is project " + testAPIKey + ")",
		unifiedEnv: "token: sessionId: belongs to project " + testAPIKey + " (this client is application " + testAppID + ")",
	}
	// The golden T1 vector's session (as the official SDKs send it, which sdk_test.go runs) belongs to project 123456.
	const sid123456 = "1_MX4xMjM0NTZ-flNhdCBNYXIgMTUgMTQ6NDI6MjMgUERUIDIwMTR-MC40OTAxMzAyNX4"
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			c := tokenClient(t, e)
			for _, legacy := range []bool{false, true} {
				_, err := c.Token(otherSession(e), opentok.TokenOptions{Legacy: legacy})
				wantTokenInvalid(t, err, "sessionId")
				if err == nil || err.Error() != wants[e] {
					t.Errorf("err\n got %v\nwant %s", err, wants[e])
				}
			}
			_, err := c.Token(sid123456, opentok.TokenOptions{})
			if ve := wantTokenInvalid(t, err, "sessionId"); ve != nil && !strings.Contains(ve.Rule, "belongs to project 123456 ") {
				t.Errorf("rule %q", ve.Rule)
			}
		})
	}
}

func TestTokenAcceptsUndecodableSessionID(t *testing.T) {
	ids := []string{
		"my-test-session",
		"1_!!not-base64!!",
		"1_" + base64.RawURLEncoding.EncodeToString([]byte("3~47665971~~0~x")), // field 0 is not "1"
	}
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			c := tokenClient(t, e)
			for _, id := range ids {
				tok, err := c.Token(id, opentok.TokenOptions{})
				if err != nil {
					t.Errorf("%q: %v", id, err)
					continue
				}
				if claims := decodeClientJWT(t, e, tok.Value); claims["session_id"] != id {
					t.Errorf("%q: session_id claim %v", id, claims["session_id"])
				}
			}
		})
	}
}

func TestTokenValidation(t *testing.T) {
	cases := []struct {
		name  string
		sid   string // "" means the environment's own session
		opts  opentok.TokenOptions
		field string
	}{
		{"session id missing", "-", opentok.TokenOptions{}, "sessionId"},
		{"session id with a space", "1_abc def", opentok.TokenOptions{}, "sessionId"},
		{"session id too long", "1_" + strings.Repeat("a", 254), opentok.TokenOptions{}, "sessionId"},
		{"unknown role", "", opentok.TokenOptions{Role: "owner"}, "role"},
		{"role in capitals", "", opentok.TokenOptions{Role: "Moderator"}, "role"},
		{"data of 1001 characters", "", opentok.TokenOptions{Data: strings.Repeat("é", 1001)}, "data"},
		{"data not UTF-8", "", opentok.TokenOptions{Data: "caf\xe9"}, "data"},
		{"negative ttl", "", opentok.TokenOptions{TTL: -time.Hour}, "ttl"},
		{"ttl over 30 days", "", opentok.TokenOptions{TTL: 30*24*time.Hour + time.Second}, "ttl"},
		{"ttl under a second", "", opentok.TokenOptions{TTL: 500 * time.Millisecond}, "ttl"},
		{"ttl and expire time", "", opentok.TokenOptions{TTL: time.Hour, ExpireTime: tokenNow.Add(time.Hour)}, "ttl"},
		{"expire time in the past", "", opentok.TokenOptions{ExpireTime: tokenNow.Add(-time.Second)}, "expireTime"},
		{"expire time now", "", opentok.TokenOptions{ExpireTime: tokenNow}, "expireTime"},
		{"expire time over 30 days", "", opentok.TokenOptions{ExpireTime: tokenNow.Add(30*24*time.Hour + time.Second)}, "expireTime"},
		{"class with a space", "", opentok.TokenOptions{InitialLayoutClassList: []string{"focus", "full screen"}}, "initialLayoutClassList"},
		{"class with a tab", "", opentok.TokenOptions{InitialLayoutClassList: []string{"full\tscreen"}}, "initialLayoutClassList"},
		{"empty class", "", opentok.TokenOptions{InitialLayoutClassList: []string{"focus", ""}}, "initialLayoutClassList"},
		{"classes over 1000 characters", "", opentok.TokenOptions{InitialLayoutClassList: []string{strings.Repeat("a", 500), strings.Repeat("b", 500)}}, "initialLayoutClassList"},
	}
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			c := tokenClient(t, e)
			for _, tc := range cases {
				sid := tc.sid
				switch sid {
				case "":
					sid = ownSession(e)
				case "-":
					sid = ""
				}
				t.Run(tc.name, func(t *testing.T) {
					tok, err := c.Token(sid, tc.opts)
					if tok != (opentok.Token{}) {
						t.Errorf("a refused token came with a value: %+v", tok)
					}
					wantTokenInvalid(t, err, tc.field)
				})
			}
		})
	}
}

func TestTokenValidationMessages(t *testing.T) {
	c := tokenClient(t, legacyEnv)
	cases := []struct {
		opts opentok.TokenOptions
		want string
	}{
		{opentok.TokenOptions{Data: strings.Repeat("x", 1001)}, "token: data: at most 1000 characters (got 1001)"},
		{opentok.TokenOptions{TTL: 31 * 24 * time.Hour}, "token: ttl: at most 30 days (got 744h0m0s)"},
		{opentok.TokenOptions{ExpireTime: tokenNow.Add(-time.Minute)}, "token: expireTime: must be in the future (got 2026-03-02T10:29:00Z, now is 2026-03-02T10:30:00Z)"},
		{opentok.TokenOptions{Role: "owner"}, `token: role: must be subscriber, publisher, publisheronly or moderator (got "owner")`},
		{opentok.TokenOptions{InitialLayoutClassList: []string{"full screen"}}, `token: initialLayoutClassList: class "full screen" contains whitespace; the list is space-separated`},
	}
	for _, tc := range cases {
		if _, err := c.Token(sidLegacy, tc.opts); err == nil || err.Error() != tc.want {
			t.Errorf("err\n got %v\nwant %s", err, tc.want)
		}
	}
}

func TestTokenLimitsAreInclusive(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			c := tokenClient(t, e)
			// 1000 characters is allowed even though it is 2000 bytes.
			data := strings.Repeat("é", 1000)
			classes := []string{strings.Repeat("a", 499), strings.Repeat("b", 500)} // 1000 joined
			tok, err := c.Token(ownSession(e), opentok.TokenOptions{Data: data, InitialLayoutClassList: classes})
			if err != nil {
				t.Fatal(err)
			}
			claims := decodeClientJWT(t, e, tok.Value)
			if claims["connection_data"] != data || claims["initial_layout_class_list"] != strings.Join(classes, " ") {
				t.Errorf("connection_data or initial_layout_class_list did not survive the round trip")
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	for in, want := range map[string]opentok.Role{
		"subscriber":      opentok.RoleSubscriber,
		"publisher":       opentok.RolePublisher,
		"publisheronly":   opentok.RolePublisherOnly,
		" publisherOnly ": opentok.RolePublisherOnly,
		"MODERATOR":       opentok.RoleModerator,
	} {
		if got, err := opentok.ParseRole(in); err != nil || got != want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "owner", "publisher-only"} {
		if got, err := opentok.ParseRole(in); err == nil {
			t.Errorf("ParseRole(%q) = %q, want an error", in, got)
		}
	}
}
