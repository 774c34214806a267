// Package emulatorcmd is the `gavel emulator` command: the opentoktest
// emulator as a standalone local server, with optional simulated sessions,
// for pointing gavel, an application or an official SDK at.
package emulatorcmd

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
	"github.com/gavelhq/gavel/opentok/opentoktest"
	"github.com/spf13/cobra"
)

// flushTimeout bounds how long stopping waits for callbacks still owed,
// so a dead receiver cannot hold Ctrl-C hostage.
const flushTimeout = 2 * time.Second

// options are the command's flags.
type options struct {
	listen             string
	callbackURL        string
	archiveCallbackURL string
	scenario           string
	seed               uint64
	speed              float64
	apiKey             string
	apiSecret          string
	signatureSecret    string
	archiveSecret      string
	timeScale          float64
	scenarioOwner      string
	applicationID      string
	privateKeyFile     string
}

// Command returns `gavel emulator`.
func Command() *cobra.Command {
	o := options{}
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run a local Video API emulator, optionally with simulated sessions",
		Long: "gavel emulator serves the Vonage Video API REST surface on a local port, with the same paths,\n" +
			"auth checks, JSON and error codes, and POSTs session-monitoring and archive callbacks to\n" +
			"--callback-url. Point gavel (or your app, or an official SDK) at the URL it prints.\n\n" +
			"It prints its credentials, secrets included:\n" +
			"these are the emulator's own throwaway credentials, valid only against this emulator.\n" +
			"It serves a legacy project (API key and secret) and a Vonage application (ID and an RSA\n" +
			"key it generates and writes to a temporary file, deleted when it stops) at once.\n\n" +
			"--scenario fills it with simulated participants who join with real client tokens, publish\n" +
			"and leave: townhall (a host, panelists and 2000 viewers), classroom (25 students who all\n" +
			"publish, a teacher who shares a screen now and then), onetoone (20 two-person calls coming\n" +
			"and going), flaky (participants who keep losing the network), mix (all four, smaller), or\n" +
			"none. The same --seed gives the same participants and the same actions. Scenarios run\n" +
			"under the legacy project unless --scenario-owner application: a session belongs to whoever\n" +
			"created it, so only that one's credentials see its participants (the other gets 403).\n\n" +
			"Bring your own credentials with --api-key/--api-secret and --application-id/--private-key-file\n" +
			"(a PEM RSA key, as the Vonage dashboard downloads it) to run your app's config unchanged.\n\n" +
			"It runs until Ctrl-C (or SIGTERM), then delivers pending callbacks for up to 2 s and stops.",
		Example: "  gavel emulator --scenario mix --callback-url http://127.0.0.1:8080/v1/callbacks/session \\\n" +
			"      --archive-callback-url http://127.0.0.1:8080/v1/callbacks/archive   # a relay on :8080\n" +
			"  gavel emulator --listen 127.0.0.1:0 --scenario townhall --speed 10 --seed 7\n" +
			"  gavel emulator --scenario classroom --scenario-owner application \\\n" +
			"      --application-id 0b1e6c2a-4d3f-4a5b-9c8d-7e6f5a4b3c2d --private-key-file ./private.key",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd) },
	}
	f := cmd.Flags()
	f.StringVar(&o.listen, "listen", "127.0.0.1:4010", "address to serve on (host:port; port 0 picks a free one)")
	f.StringVar(&o.callbackURL, "callback-url", "", "where to POST session-monitoring callbacks, and archive callbacks unless --archive-callback-url")
	f.StringVar(&o.archiveCallbackURL, "archive-callback-url", "", "where to POST archive callbacks")
	f.StringVar(&o.scenario, "scenario", "none", "simulated sessions: "+strings.Join(scenarioChoices(), ", "))
	f.Uint64Var(&o.seed, "seed", 1, "seed for IDs, names and scenario actions (same seed, same run)")
	f.Float64Var(&o.speed, "speed", 1, "scenario speed: 1 is real time, 100 is 100 times faster")
	f.StringVar(&o.apiKey, "api-key", "", "the legacy project's API key (default "+opentoktest.DefaultAPIKey+"; with --api-secret)")
	f.StringVar(&o.apiSecret, "api-secret", "", "the legacy project's API secret (with --api-key)")
	f.StringVar(&o.applicationID, "application-id", "", "the Vonage application's ID (default a generated one; with --private-key-file)")
	f.StringVar(&o.privateKeyFile, "private-key-file", "", "the application's RSA private key, PEM (default a generated one, written to a temporary file; with --application-id)")
	f.StringVar(&o.scenarioOwner, "scenario-owner", string(opentoktest.OwnerProject), "whose sessions the scenario's are: project (the API key's) or application (the application ID's)")
	f.StringVar(&o.signatureSecret, "signature-secret", "", "sign callbacks with this secret (HS256 JWT in the Authorization header)")
	f.StringVar(&o.archiveSecret, "archive-signature-secret", "", "sign archive callbacks with this secret instead (Vonage allows a secret per kind of callback)")
	f.Float64Var(&o.timeScale, "time-scale", 1, "speed up the service's own timers (callback retries, archive upload) by this factor")
	return cmd
}

func scenarioChoices() []string { return append(opentoktest.ScenarioNames(), "none") }

// validate checks the flags before anything starts; each error names the
// flag and what it expects.
func (o *options) validate() (opentoktest.Scenario, error) {
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return nil, usagef("--listen %q: expected host:port, e.g. 127.0.0.1:4010", o.listen)
	}
	for _, u := range []struct{ flag, value string }{{"--callback-url", o.callbackURL}, {"--archive-callback-url", o.archiveCallbackURL}} {
		if u.value == "" {
			continue
		}
		p, err := url.Parse(u.value)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, usagef("%s %q: expected an http:// or https:// URL", u.flag, u.value)
		}
	}
	if (o.apiKey == "") != (o.apiSecret == "") {
		return nil, usagef("--api-key and --api-secret: give both, or neither for the defaults")
	}
	if (o.applicationID == "") != (o.privateKeyFile == "") {
		return nil, usagef("--application-id and --private-key-file: give both, or neither for the defaults")
	}
	if _, err := opentoktest.ParseOwner(o.scenarioOwner); err != nil {
		return nil, usagef("--scenario-owner %s", err)
	}
	if o.speed <= 0 || math.IsNaN(o.speed) || math.IsInf(o.speed, 0) {
		return nil, usagef("--speed %v: expected a positive factor (1 is real time, 100 is 100 times faster)", o.speed)
	}
	if o.timeScale <= 0 || math.IsNaN(o.timeScale) || math.IsInf(o.timeScale, 0) {
		return nil, usagef("--time-scale %v: expected a positive factor (1 is real time)", o.timeScale)
	}
	if strings.EqualFold(strings.TrimSpace(o.scenario), "none") {
		return nil, nil
	}
	sc, err := opentoktest.ScenarioByName(o.scenario, o.seed)
	if err != nil {
		return nil, usagef("--scenario %q: expected one of %s", o.scenario, strings.Join(scenarioChoices(), ", "))
	}
	return opentoktest.ScenarioAtSpeed(sc, o.speed), nil
}

func usagef(format string, args ...any) error {
	return &exitcode.UsageError{Err: fmt.Errorf(format, args...)}
}

func (o *options) run(cmd *cobra.Command) error {
	sc, err := o.validate()
	if err != nil {
		return err
	}
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	opts := []opentoktest.Option{
		opentoktest.WithAddr(o.listen),
		opentoktest.WithSeed(o.seed),
		opentoktest.WithTimeScale(o.timeScale),
		opentoktest.WithLogf(func(format string, args ...any) {
			fmt.Fprintf(stderr, "emulator: "+format+"\n", args...)
		}),
	}
	if o.apiKey != "" {
		opts = append(opts, opentoktest.WithProject(o.apiKey, o.apiSecret))
	}
	if o.applicationID != "" {
		key, err := readPrivateKey(o.privateKeyFile)
		if err != nil {
			return err
		}
		opts = append(opts, opentoktest.WithApplication(o.applicationID, key))
	}
	owner, _ := opentoktest.ParseOwner(o.scenarioOwner) // validated
	opts = append(opts, opentoktest.WithScenarioOwner(owner))
	if o.archiveSecret != "" {
		opts = append(opts, opentoktest.WithGroupSignatureSecret(opentoktest.GroupArchive, o.archiveSecret))
	}
	if o.signatureSecret != "" {
		opts = append(opts, opentoktest.WithSignatureSecret(o.signatureSecret))
	}
	if o.callbackURL != "" {
		opts = append(opts, opentoktest.WithCallbackURL(opentoktest.GroupSession, o.callbackURL))
	}
	if archive := firstSet(o.archiveCallbackURL, o.callbackURL); archive != "" {
		opts = append(opts, opentoktest.WithCallbackURL(opentoktest.GroupArchive, archive))
	}
	srv, err := opentoktest.NewServer(opts...)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	keyFile, keyNote := o.privateKeyFile, "(yours)"
	if keyFile == "" {
		if keyFile, err = writePrivateKey(srv); err != nil {
			_ = srv.Close()
			return fmt.Errorf("emulator: %w", err)
		}
		defer os.Remove(keyFile)
		keyNote = "(deleted when the emulator stops)"
	}

	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	// fang cancels the context on Ctrl-C; SIGTERM (a service manager, a
	// container stop) should stop the emulator as cleanly.
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := o.banner(out, srv, keyFile, keyNote, owner, sc); err != nil {
		_ = srv.Close()
		return err
	}
	var runErr error
	if sc != nil {
		if runErr = sc.Run(ctx, srv); runErr == nil || ctx.Err() != nil {
			runErr = nil // the script ended, or we are stopping: keep serving until told
		}
	}
	if runErr == nil {
		<-ctx.Done()
	}

	fmt.Fprintln(out, "Stopping: delivering pending callbacks…")
	flushCtx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	if err := srv.FlushCallbacks(flushCtx); err != nil {
		fmt.Fprintf(stderr, "emulator: gave up on undelivered callbacks after %v\n", flushTimeout)
	}
	if err := srv.Close(); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return fmt.Errorf("emulator: %w", runErr)
	}
	return nil
}

// firstSet returns the first non-empty string.
func firstSet(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// readPrivateKey reads --private-key-file; errors name the flag and the
// file, never the key.
func readPrivateKey(path string) (*rsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--private-key-file: %v", err)
	}
	key, err := opentok.ParsePrivateKey(data)
	if err != nil {
		return nil, usagef("--private-key-file %s: %v", path, err)
	}
	return key, nil
}

// writePrivateKey writes the application's key as PKCS#8 PEM, the form the
// Vonage dashboard downloads, to a file only the user can read.
func writePrivateKey(srv *opentoktest.Server) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	if err != nil {
		return "", fmt.Errorf("encode the application key: %w", err)
	}
	f, err := os.CreateTemp("", "gavel-emulator-*.pem")
	if err != nil {
		return "", fmt.Errorf("write the application key: %w", err)
	}
	name := f.Name()
	err = f.Chmod(0o600) // CreateTemp already does; say it where it matters
	if err == nil {
		err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("write the application key to %s: %w", name, err)
	}
	return name, nil
}

// banner prints how to reach the emulator: URL, credentials, a config
// snippet and the equivalent environment for each of the two owners.
func (o *options) banner(w io.Writer, srv *opentoktest.Server, keyFile, keyNote string, owner opentoktest.Owner, sc opentoktest.Scenario) error {
	type projectAPI struct {
		APIKey    string `toml:"api_key"`
		APISecret string `toml:"api_secret"`
		URL       string `toml:"url"`
	}
	type applicationAPI struct {
		ApplicationID  string `toml:"application_id"`
		PrivateKeyFile string `toml:"private_key_file"`
		URL            string `toml:"url"`
	}
	project, err := tomlSection(projectAPI{srv.APIKey, srv.APISecret, srv.URL})
	if err != nil {
		return err
	}
	application, err := tomlSection(applicationAPI{srv.ApplicationID, keyFile, srv.URL})
	if err != nil {
		return err
	}

	callbacks := "none (--callback-url sets where they go)"
	if o.callbackURL != "" || o.archiveCallbackURL != "" {
		var parts []string
		signed := func(secret, flag string) string {
			if secret == "" {
				return ""
			}
			return " (signed with " + flag + ")"
		}
		if o.callbackURL != "" {
			parts = append(parts, "session monitoring → "+o.callbackURL+signed(o.signatureSecret, "--signature-secret"))
		}
		archive := signed(o.signatureSecret, "--signature-secret")
		if o.archiveSecret != "" {
			archive = signed(o.archiveSecret, "--archive-signature-secret")
		}
		parts = append(parts, "archive → "+firstSet(o.archiveCallbackURL, o.callbackURL)+archive)
		callbacks = strings.Join(parts, "; ")
	}
	ownerName := map[opentoktest.Owner]string{opentoktest.OwnerProject: "the legacy project", opentoktest.OwnerApplication: "the application"}[owner]
	scenario := "none: sessions appear as you create them (--scenario mix fills it)"
	if sc != nil {
		scenario = fmt.Sprintf("%s, seed %d, speed %g×, under %s: use its credentials to see the participants", sc.Name(), o.seed, o.speed, ownerName)
	}

	_, err = fmt.Fprintf(w, `Video API emulator listening on %s
These are the emulator's own throwaway credentials, valid only against this emulator.

  legacy project   api key        %s
                   api secret     %s
  application      id             %s
                   private key    %s %s

Config file, legacy project:

%s
or application:

%s
Or the environment, legacy project:

export GAVEL_API_KEY=%s GAVEL_API_SECRET=%s GAVEL_API_URL=%s

or application:

export GAVEL_APPLICATION_ID=%s GAVEL_PRIVATE_KEY_FILE=%s GAVEL_API_URL=%s

Callbacks: %s
Scenario:  %s
Press Ctrl-C to stop.
`, srv.URL, srv.APIKey, srv.APISecret, srv.ApplicationID, keyFile, keyNote, project, application,
		shellQuote(srv.APIKey), shellQuote(srv.APISecret), shellQuote(srv.URL),
		shellQuote(srv.ApplicationID), shellQuote(keyFile), shellQuote(srv.URL), callbacks, scenario)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	return nil
}

// tomlSection is api as the [api] section of gavel's config file.
func tomlSection(api any) (string, error) {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(struct {
		API any `toml:"api"`
	}{api}); err != nil {
		return "", fmt.Errorf("emulator: config snippet: %w", err)
	}
	return b.String(), nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	unsafe := func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_./:@%+=,-", r))
	}
	if s != "" && !strings.ContainsFunc(s, unsafe) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
