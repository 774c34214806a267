package relay

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/golang-jwt/jwt/v5"
)

var authTestSecret = []byte("0123456789abcdef0123456789abcdef")

var authTestNow = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func TestTokenRoundTrip(t *testing.T) {
	for _, role := range []events.Role{events.RoleViewer, events.RoleModerator, events.RoleAdmin} {
		tok, err := IssueToken(authTestSecret, "alice", role, 12*time.Hour, authTestNow)
		if err != nil {
			t.Fatalf("IssueToken(%s): %v", role, err)
		}
		c, err := VerifyToken(authTestSecret, tok, authTestNow.Add(time.Hour))
		if err != nil {
			t.Fatalf("VerifyToken(%s): %v", role, err)
		}
		if c.Name != "alice" || c.Role != role || !c.Expires.Equal(authTestNow.Add(12*time.Hour)) || len(c.ID) != 32 {
			t.Errorf("claims = %+v, want alice/%s expiring %s with a 32-hex jti", c, role, authTestNow.Add(12*time.Hour))
		}
	}
	a, _ := IssueToken(authTestSecret, "alice", events.RoleViewer, time.Hour, authTestNow)
	b, _ := IssueToken(authTestSecret, "alice", events.RoleViewer, time.Hour, authTestNow)
	ca, _ := VerifyToken(authTestSecret, a, authTestNow)
	cb, _ := VerifyToken(authTestSecret, b, authTestNow)
	if ca.ID == cb.ID {
		t.Errorf("two tokens share jti %s", ca.ID)
	}
}

func TestTokenClaimsOnTheWire(t *testing.T) {
	tok, err := IssueToken(authTestSecret, "alice", events.RoleModerator, time.Hour, authTestNow)
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.MapClaims
	parsed, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return authTestSecret, nil },
		jwt.WithTimeFunc(func() time.Time { return authTestNow }))
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Method.Alg() != "HS256" {
		t.Errorf("alg = %s, want HS256", parsed.Method.Alg())
	}
	for k, want := range map[string]any{"sub": "alice", "role": "moderator", "iss": "gavel-relay",
		"iat": float64(authTestNow.Unix()), "exp": float64(authTestNow.Add(time.Hour).Unix())} {
		if claims[k] != want {
			t.Errorf("claim %s = %v, want %v", k, claims[k], want)
		}
	}
	if claims["jti"] == "" || claims["jti"] == nil {
		t.Error("no jti")
	}
}

func TestVerifyTokenRefuses(t *testing.T) {
	good, err := IssueToken(authTestSecret, "alice", events.RoleAdmin, time.Hour, authTestNow)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "alice", "role": "admin", "iss": TokenIssuer, "iat": authTestNow.Unix(), "exp": authTestNow.Add(time.Hour).Unix(), "jti": "x"}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	// alg none, built by hand: header.payload. with an empty signature.
	enc := base64.RawURLEncoding.EncodeToString
	none := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + strings.Split(good, ".")[1] + "."

	cases := []struct {
		name    string
		raw     string
		now     time.Time
		want    error
		mention string
	}{
		{"expired", good, authTestNow.Add(time.Hour + time.Second), ErrTokenExpired, "expired"},
		{"wrong secret", sign(jwt.SigningMethodHS256, []byte("another secret, 32 bytes long....."), valid()), authTestNow, ErrTokenInvalid, "signature"},
		{"alg none", none, authTestNow, ErrTokenInvalid, "algorithm"},
		{"HS512", sign(jwt.SigningMethodHS512, authTestSecret, valid()), authTestNow, ErrTokenInvalid, "algorithm"},
		{"unknown role", sign(jwt.SigningMethodHS256, authTestSecret, with("role", "owner")), authTestNow, ErrTokenInvalid, "role"},
		{"no role", sign(jwt.SigningMethodHS256, authTestSecret, with("role", nil)), authTestNow, ErrTokenInvalid, "role"},
		{"no name", sign(jwt.SigningMethodHS256, authTestSecret, with("sub", nil)), authTestNow, ErrTokenInvalid, "name"},
		{"no expiry", sign(jwt.SigningMethodHS256, authTestSecret, with("exp", nil)), authTestNow, ErrTokenInvalid, "exp"},
		{"other issuer", sign(jwt.SigningMethodHS256, authTestSecret, with("iss", "Vonage")), authTestNow, ErrTokenInvalid, "issued"},
		{"garbage", "not-a-jwt", authTestNow, ErrTokenInvalid, "malformed"},
		{"tampered", good[:len(good)-4] + "AAAA", authTestNow, ErrTokenInvalid, "signature"},
		{"empty", "", authTestNow, ErrTokenInvalid, "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := VerifyToken(authTestSecret, tc.raw, tc.now)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("err = %q, want it to mention %q", err, tc.mention)
			}
			if tc.raw != "" && strings.Contains(err.Error(), tc.raw) {
				t.Errorf("error echoes the token: %q", err)
			}
			for _, part := range strings.Split(tc.raw, ".") {
				if len(part) > 8 && strings.Contains(err.Error(), part) {
					t.Errorf("error echoes part of the token: %q", err)
				}
			}
		})
	}
}

func TestIssueTokenRefuses(t *testing.T) {
	cases := map[string]func() (string, error){
		"no secret": func() (string, error) { return IssueToken(nil, "alice", events.RoleViewer, time.Hour, authTestNow) },
		"no name": func() (string, error) {
			return IssueToken(authTestSecret, " ", events.RoleViewer, time.Hour, authTestNow)
		},
		"bad role": func() (string, error) { return IssueToken(authTestSecret, "alice", "root", time.Hour, authTestNow) },
		"zero ttl": func() (string, error) { return IssueToken(authTestSecret, "alice", events.RoleViewer, 0, authTestNow) },
	}
	for name, issue := range cases {
		if tok, err := issue(); err == nil {
			t.Errorf("%s: issued %q", name, tok)
		}
	}
}

func TestBearerToken(t *testing.T) {
	cases := []struct {
		header, query, want string
	}{
		{"Bearer abc.def.ghi", "", "abc.def.ghi"},
		{"bearer   abc.def.ghi  ", "", "abc.def.ghi"},
		{"Basic dXNlcjpwYXNz", "", ""},
		{"", "access_token=abc.def.ghi", ""}, // never the query string
		{"", "token=abc.def.ghi", ""},
		{"Bearer", "", ""},
		{"", "", ""},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodGet, "/v1/stream?"+tc.query, nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := BearerToken(r); got != tc.want {
			t.Errorf("BearerToken(%q, ?%s) = %q, want %q", tc.header, tc.query, got, tc.want)
		}
	}
}
