package opentok

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// restTokenLifetime is how long each REST JWT lives. The legacy environment refuses more
// than 5 minutes between iat and exp (the OpenTok REST reference, Authentication:
// https://tokbox.com/developer/rest/#authentication); 3 minutes, as the Java and Python
// SDKs use, leaves room for clock skew.
const restTokenLifetime = 3 * time.Minute

// authorize signs a fresh REST JWT for one request and sets the header the
// environment expects. A fresh token per request is what the REST reference
// recommends; signing costs microseconds.
func (c Credentials) authorize(req *http.Request, now time.Time) error {
	tok, err := c.restToken(now)
	if err != nil {
		return err
	}
	if c.kind == kindApplication {
		req.Header.Set("Authorization", "Bearer "+tok)
	} else {
		req.Header.Set("X-OPENTOK-AUTH", tok)
	}
	return nil
}

// restToken builds the REST JWT with the exact claims of the references
// above (legacy: iss, ist=project, iat, exp, jti; HS256 with the API
// secret; unified: application_id, iat, exp, jti; RS256 with the private key).
func (c Credentials) restToken(now time.Time) (string, error) {
	iat := now.Unix()
	exp := now.Add(restTokenLifetime).Unix()
	switch c.kind {
	case kindProject:
		claims := jwt.MapClaims{
			"iss": c.apiKey,
			"ist": "project",
			"iat": iat,
			"exp": exp,
			"jti": newNonce(),
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(c.secret.apiSecret))
		if err != nil {
			return "", fmt.Errorf("sign REST token: %w", err)
		}
		return s, nil
	case kindApplication:
		claims := jwt.MapClaims{
			"application_id": c.appID,
			"iat":            iat,
			"exp":            exp,
			"jti":            newNonce(),
		}
		s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(c.secret.privateKey)
		if err != nil {
			return "", fmt.Errorf("sign REST token: %w", err)
		}
		return s, nil
	default:
		return "", fmt.Errorf("sign REST token: no credentials configured")
	}
}

// newNonce returns 16 random bytes as hex, for jti claims.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
