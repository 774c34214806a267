package config

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// API is the [api] section of the config file: which Video API
// credentials to use and where to reach the service.
type API struct {
	APIKey         string   `toml:"api_key"`
	APISecret      string   `toml:"api_secret"`
	ApplicationID  string   `toml:"application_id"`
	PrivateKeyFile string   `toml:"private_key_file"`
	URL            string   `toml:"url"`
	Timeout        Duration `toml:"timeout"`
}

// Environment variables that override the [api] keys, so a machine with no
// config file at all can run every command.
const (
	EnvAPIKey         = "GAVEL_API_KEY"
	EnvAPISecret      = "GAVEL_API_SECRET"
	EnvApplicationID  = "GAVEL_APPLICATION_ID"
	EnvPrivateKeyFile = "GAVEL_PRIVATE_KEY_FILE"
	EnvAPIURL         = "GAVEL_API_URL"
)

// DefaultAPI is the [api] section when the file says nothing.
func DefaultAPI() API {
	return API{Timeout: Duration{30 * time.Second}}
}

// ApplyEnv lets set GAVEL_* variables override the file's values.
func (c *API) ApplyEnv(getenv func(string) string) {
	for _, o := range []struct {
		env string
		dst *string
	}{
		{EnvAPIKey, &c.APIKey},
		{EnvAPISecret, &c.APISecret},
		{EnvApplicationID, &c.ApplicationID},
		{EnvPrivateKeyFile, &c.PrivateKeyFile},
		{EnvAPIURL, &c.URL},
	} {
		if v := getenv(o.env); v != "" {
			*o.dst = v
		}
	}
}

// Credentials picks the credential kind from what is set. Errors name the
// config key and its variable, and never quote a secret.
func (c API) Credentials() (opentok.Credentials, error) {
	project := c.APIKey != "" || c.APISecret != ""
	app := c.ApplicationID != "" || c.PrivateKeyFile != ""
	switch {
	case project && app:
		return opentok.Credentials{}, errors.New("config: set either api.api_key and api.api_secret (a project) or api.application_id and api.private_key_file (an application), not both")
	case project:
		if c.APIKey == "" {
			return opentok.Credentials{}, fmt.Errorf("config: api.api_key (or %s) is missing: api.api_secret is set, so the project's API key is expected too", EnvAPIKey)
		}
		if c.APISecret == "" {
			return opentok.Credentials{}, fmt.Errorf("config: api.api_secret (or %s) is missing: api.api_key is set, so the project's API secret is expected too", EnvAPISecret)
		}
		creds, err := opentok.ProjectCredentials(c.APIKey, c.APISecret)
		if err != nil {
			return opentok.Credentials{}, fmt.Errorf("config: api.api_key: %w", err)
		}
		return creds, nil
	case app:
		if c.ApplicationID == "" {
			return opentok.Credentials{}, fmt.Errorf("config: api.application_id (or %s) is missing: api.private_key_file is set, so the application's ID is expected too", EnvApplicationID)
		}
		if c.PrivateKeyFile == "" {
			return opentok.Credentials{}, fmt.Errorf("config: api.private_key_file (or %s) is missing: api.application_id is set, so the path of the application's private key is expected too", EnvPrivateKeyFile)
		}
		pemBytes, err := os.ReadFile(c.PrivateKeyFile)
		if err != nil {
			return opentok.Credentials{}, fmt.Errorf("config: api.private_key_file: %w", err)
		}
		key, err := opentok.ParsePrivateKey(pemBytes)
		if err != nil {
			return opentok.Credentials{}, fmt.Errorf("config: api.private_key_file %s: %w", c.PrivateKeyFile, err)
		}
		creds, err := opentok.ApplicationCredentials(c.ApplicationID, key)
		if err != nil {
			return opentok.Credentials{}, fmt.Errorf("config: api.application_id: %w", err)
		}
		return creds, nil
	default:
		return opentok.Credentials{}, fmt.Errorf("no Video API credentials: set api.api_key and api.api_secret in the config file (or %s and %s), or api.application_id and api.private_key_file (or %s and %s)",
			EnvAPIKey, EnvAPISecret, EnvApplicationID, EnvPrivateKeyFile)
	}
}

// NewClient builds a client from the section.
func (c API) NewClient(userAgent string) (*opentok.Client, error) {
	creds, err := c.Credentials()
	if err != nil {
		return nil, err
	}
	if c.Timeout.Duration <= 0 {
		return nil, fmt.Errorf("config: api.timeout: expected a positive duration like \"30s\", got %q", c.Timeout.String())
	}
	opts := []opentok.Option{
		opentok.WithHTTPClient(&http.Client{Timeout: c.Timeout.Duration}),
		opentok.WithUserAgent(userAgent),
	}
	if c.URL != "" {
		opts = append(opts, opentok.WithBaseURL(c.URL))
	}
	client, err := opentok.New(creds, opts...)
	if err != nil {
		return nil, fmt.Errorf("config: api.url: %w", err)
	}
	return client, nil
}
