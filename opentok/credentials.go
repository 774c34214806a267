package opentok

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// The two environments the Video API is served from. Paths are identical;
// host, credential and auth header differ (the Video API REST reference:
// https://developer.vonage.com/en/api/video).
const (
	// LegacyBaseURL serves projects authenticated with an API key and secret.
	LegacyBaseURL = "https://api.opentok.com"
	// UnifiedBaseURL serves Vonage applications authenticated with an RSA key.
	UnifiedBaseURL = "https://video.api.vonage.com"
)

type credentialKind int

const (
	kindProject credentialKind = iota + 1
	kindApplication
)

// Credentials authenticate REST calls and sign client tokens. Build them with
// ProjectCredentials or ApplicationCredentials: the kind is always chosen
// explicitly, never guessed from the shape of the secret.
//
// Credentials never print their secret: String and GoString show only the
// public identifier, so a Credentials value in a log line or error is safe.
type Credentials struct {
	kind   credentialKind
	apiKey string
	appID  string
	// secret sits behind a pointer so that printing any struct that holds
	// Credentials in an unexported field (fmt walks those without calling
	// String) shows an address, not the secret.
	secret *credentialSecret
}

type credentialSecret struct {
	apiSecret  string
	privateKey *rsa.PrivateKey
}

// ProjectCredentials are a legacy OpenTok project's API key and secret
// (HS256 REST JWTs in X-OPENTOK-AUTH, https://api.opentok.com).
func ProjectCredentials(apiKey, apiSecret string) (Credentials, error) {
	apiKey = strings.TrimSpace(apiKey)
	switch {
	case apiKey == "":
		return Credentials{}, errors.New("project credentials: api_key is empty")
	case apiSecret == "":
		return Credentials{}, errors.New("project credentials: api_secret is empty")
	case strings.ContainsAny(apiKey, "/?#% "):
		return Credentials{}, fmt.Errorf("project credentials: api_key %q has characters a project key never has", apiKey)
	}
	return Credentials{kind: kindProject, apiKey: apiKey, secret: &credentialSecret{apiSecret: apiSecret}}, nil
}

// ApplicationCredentials are a Vonage application's ID and RSA private key
// (RS256 REST JWTs in Authorization: Bearer, https://video.api.vonage.com).
func ApplicationCredentials(applicationID string, key *rsa.PrivateKey) (Credentials, error) {
	applicationID = strings.TrimSpace(applicationID)
	switch {
	case applicationID == "":
		return Credentials{}, errors.New("application credentials: application_id is empty")
	case key == nil:
		return Credentials{}, errors.New("application credentials: private key is missing")
	case strings.ContainsAny(applicationID, "/?#% "):
		return Credentials{}, fmt.Errorf("application credentials: application_id %q has characters an application ID never has", applicationID)
	}
	return Credentials{kind: kindApplication, appID: applicationID, secret: &credentialSecret{privateKey: key}}, nil
}

// ParsePrivateKey reads an RSA private key in PEM form (PKCS#8, as the Vonage
// dashboard downloads it, or PKCS#1). Errors never quote the key material.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("private key: no PEM block found (expected -----BEGIN PRIVATE KEY-----)")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: PKCS#8: %w", err)
		}
		rsaKey, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("private key: is %T, the Video API needs an RSA key", k)
		}
		return rsaKey, nil
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("private key: PKCS#1: %w", err)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("private key: PEM block is %q, expected PRIVATE KEY or RSA PRIVATE KEY", block.Type)
	}
}

// ProjectID is the identifier that appears in REST paths (/v2/project/{id})
// and in session IDs: the API key, or the application ID.
func (c Credentials) ProjectID() string {
	if c.kind == kindApplication {
		return c.appID
	}
	return c.apiKey
}

// IsApplication reports whether these are Vonage application credentials.
func (c Credentials) IsApplication() bool { return c.kind == kindApplication }

// IsZero reports whether c was never set.
func (c Credentials) IsZero() bool { return c.kind == 0 }

// DefaultBaseURL is the REST host for this kind of credential.
func (c Credentials) DefaultBaseURL() string {
	if c.kind == kindApplication {
		return UnifiedBaseURL
	}
	return LegacyBaseURL
}

// String shows the kind and public identifier, never the secret.
func (c Credentials) String() string {
	switch c.kind {
	case kindProject:
		return "project " + c.apiKey
	case kindApplication:
		return "application " + c.appID
	default:
		return "no credentials"
	}
}

// GoString keeps %#v from dumping the secret.
func (c Credentials) GoString() string { return "opentok.Credentials{" + c.String() + "}" }
