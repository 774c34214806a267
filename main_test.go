package main

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/gavelhq/gavel/events/config"
	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"
)

const (
	testKey    = "47665971"
	testSecret = "s3cr3t-0123456789abcdef0123456789abcdef"
)

// gavel runs one command line in-process and returns its exit status and output.
func gavel(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, getenv)
	return code, out.String(), errOut.String()
}

// recordingAPI is a loopback Video API stand-in for the command-line tests:
// it verifies the REST JWT with the project secret, records each request and
// answers from a table keyed by "METHOD path".
type recordingAPI struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	seen    []string
	bodies  []string
	replies map[string]reply
}

type reply struct {
	status int
	body   string
}

func newRecordingAPI(t *testing.T, replies map[string]reply) *recordingAPI {
	a := &recordingAPI{t: t, replies: replies}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, err := jwt.Parse(r.Header.Get("X-OPENTOK-AUTH"), func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
			jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(testKey))
		if err != nil {
			t.Errorf("%s %s: REST JWT does not verify: %v", r.Method, r.URL.Path, err)
		}
		key := r.Method + " " + r.URL.Path
		a.mu.Lock()
		a.seen = append(a.seen, key)
		a.bodies = append(a.bodies, string(body))
		a.mu.Unlock()
		rep, ok := a.replies[key]
		if !ok {
			t.Errorf("unexpected request %s", key)
			rep = reply{status: http.StatusTeapot}
		}
		if rep.body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(rep.status)
		_, _ = io.WriteString(w, rep.body)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *recordingAPI) requests() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.seen...)
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const sid = "1_MX40NzY2NTk3MX5-MTczOTUzODg5NDk1OX5ROW1jWEcxUXJOM1RJWXU4eStwcHgvZ3N-UH5-"

// TestNewUserFlow is the README's walk-through: a config file, then session
// create, token and signal from the command line.
func TestNewUserFlow(t *testing.T) {
	api := newRecordingAPI(t, map[string]reply{
		"POST /session/create":                                 {200, `[{"session_id":"` + sid + `","project_id":"47665971"}]`},
		"POST /v2/project/47665971/session/" + sid + "/signal": {204, ""},
	})
	cfg := writeConfig(t, "[api]\napi_key = \""+testKey+"\"\napi_secret = \""+testSecret+"\"\nurl = \""+api.srv.URL+"\"\n")
	env := map[string]string{"HOME": t.TempDir()}

	code, out, errOut := gavel(t, env, "", "--config", cfg, "session", "create", "--routed")
	if code != 0 || !strings.HasPrefix(out, sid+"\n") {
		t.Fatalf("session create: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}

	code, out, errOut = gavel(t, env, "", "--config", cfg, "token", sid, "--role", "moderator", "--data", "name=Ana")
	if code != 0 {
		t.Fatalf("token: exit %d: %s", code, errOut)
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(strings.TrimSpace(out), claims, func(*jwt.Token) (any, error) { return []byte(testSecret), nil }); err != nil {
		t.Fatalf("token does not verify: %v (%q)", err, out)
	}
	if claims["session_id"] != sid || claims["role"] != "moderator" || claims["connection_data"] != "name=Ana" {
		t.Errorf("token claims %v", claims)
	}

	code, out, errOut = gavel(t, env, "", "--config", cfg, "signal", sid, "--type", "chat", "--data", "hello")
	if code != 0 || !strings.Contains(out, `signal "chat" sent to every client`) {
		t.Fatalf("signal: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if got := api.requests(); !reflect.DeepEqual(got, []string{"POST /session/create", "POST /v2/project/47665971/session/" + sid + "/signal"}) {
		t.Errorf("requests %v", got)
	}
	if api.bodies[1] != `{"type":"chat","data":"hello"}` {
		t.Errorf("signal body %s", api.bodies[1])
	}
}

func TestJSONOutput(t *testing.T) {
	api := newRecordingAPI(t, map[string]reply{
		"POST /session/create": {200, `[{"session_id":"` + sid + `","project_id":"47665971"}]`},
	})
	env := map[string]string{"GAVEL_API_KEY": testKey, "GAVEL_API_SECRET": testSecret, "GAVEL_API_URL": api.srv.URL}
	code, out, errOut := gavel(t, env, "", "session", "create", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.SessionID != sid {
		t.Errorf("--json output %q: %v", out, err)
	}
}

func TestExitCodes(t *testing.T) {
	api := newRecordingAPI(t, map[string]reply{
		"POST /v2/project/47665971/session/" + sid + "/signal": {404, `{"code":404,"message":"Not found. No clients are actively connected to the OpenTok session."}`},
	})
	env := map[string]string{"GAVEL_API_KEY": testKey, "GAVEL_API_SECRET": testSecret, "GAVEL_API_URL": api.srv.URL, "HOME": t.TempDir()}
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"ok help", []string{"--help"}, 0, ""},
		{"api error", []string{"signal", sid, "--type", "chat", "--data", "x"}, 1, "signal: no clients are connected to the session"},
		{"unknown flag", []string{"signal", sid, "--tpye", "x"}, 2, "unknown flag: --tpye"},
		{"missing arg", []string{"disconnect", sid}, 2, "missing CONNECTION"},
		{"missing --type", []string{"signal", sid, "--data", "x"}, 2, "--type is required"},
		{"validated before sending", []string{"signal", sid, "--type", "has space", "--data", "x"}, 2, "signal: type: only letters"},
		{"unknown command", []string{"sesion"}, 2, "unknown command"},
		{"no confirmation without a terminal", []string{"disconnect", sid, "c1"}, 2, "pass --yes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := gavel(t, env, "", tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, want %d; stderr %q, want it to contain %q", code, tc.code, errOut, tc.want)
			}
		})
	}
	if n := len(api.requests()); n != 1 {
		t.Errorf("%d requests reached the API; only the api-error case should have sent one", n)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"unknown key", "[api]\napikey = \"1\"\n", nil, `unknown key api.apikey`},
		{"unknown section", "[consle]\nx = 1\n", nil, `unknown key consle, consle.x`},
		{"wrong type", "[api]\napi_key = 123\n", nil, `line 2: api.api_key: expected a string, got an integer`},
		{"bad duration", "[api]\napi_key=\"1\"\napi_secret=\"s\"\ntimeout = \"3 minutes\"\n", nil, `api.timeout`},
		{"syntax", "[api\n", nil, `line 2`},
		{"unquoted secret is not echoed", "[api]\napi_key = \"1\"\napi_secret = s3cr3tValue\n", nil, `line 3, column 14 (after key api.api_secret): not valid TOML`},
		{"numeric secret is not echoed", "[api]\napi_key = \"1\"\napi_secret = 99999999999999999999999\n", nil, `not valid TOML`},
		{"secret without key", "[api]\napi_secret = \"s\"\n", nil, `api.api_key (or GAVEL_API_KEY) is missing`},
		{"key without secret", "", map[string]string{"GAVEL_API_KEY": "123"}, `api.api_secret (or GAVEL_API_SECRET) is missing`},
		{"both kinds", "[api]\napi_key=\"1\"\napi_secret=\"s\"\napplication_id=\"a\"\n", nil, `not both`},
		{"no credentials", "", nil, `no Video API credentials`},
		{"key file missing", "[api]\napplication_id=\"a\"\nprivate_key_file=\"/nonexistent/key.pem\"\n", nil, `api.private_key_file`},
		{"bad url", "[api]\napi_key=\"1\"\napi_secret=\"s\"\nurl=\"ftp://x\"\n", nil, `api.url`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"HOME": t.TempDir()}
			for k, v := range tc.env {
				env[k] = v
			}
			args := []string{"streams", sid}
			if tc.file != "" {
				args = append([]string{"--config", writeConfig(t, tc.file)}, args...)
			}
			code, _, errOut := gavel(t, env, "", args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d (want 2), stderr %q, want it to contain %q", code, errOut, tc.want)
			}
			if strings.Contains(errOut, "s3cr3t") {
				t.Errorf("stderr leaks the secret: %s", errOut)
			}
		})
	}
}

func TestConfigLookupOrder(t *testing.T) {
	dir := t.TempDir()
	xdg := filepath.Join(dir, "xdg")
	if err := os.MkdirAll(filepath.Join(xdg, "gavel"), 0o700); err != nil {
		t.Fatal(err)
	}
	write := func(p, key string) {
		if err := os.WriteFile(p, []byte("[api]\napi_key=\""+key+"\"\napi_secret=\"s\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(xdg, "gavel", "config.toml"), "111")
	write(filepath.Join(dir, "env.toml"), "222")
	write(filepath.Join(dir, "flag.toml"), "333")
	getenv := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	for _, tc := range []struct {
		flag string
		env  map[string]string
		want string
	}{
		{"", map[string]string{"XDG_CONFIG_HOME": xdg}, "111"},
		{"", map[string]string{"XDG_CONFIG_HOME": xdg, "GAVEL_CONFIG": filepath.Join(dir, "env.toml")}, "222"},
		{filepath.Join(dir, "flag.toml"), map[string]string{"XDG_CONFIG_HOME": xdg, "GAVEL_CONFIG": filepath.Join(dir, "env.toml")}, "333"},
		{filepath.Join(dir, "flag.toml"), map[string]string{"GAVEL_API_KEY": "444"}, "444"},          // environment overrides the file
		{"", map[string]string{"HOME": dir, "GAVEL_API_KEY": "555", "GAVEL_API_SECRET": "x"}, "555"}, // no file at all
	} {
		cfg, err := config.Load(tc.flag, getenv(tc.env))
		if err != nil {
			t.Fatalf("%v: %v", tc, err)
		}
		if cfg.API.APIKey != tc.want {
			t.Errorf("flag %q env %v: api_key %q, want %q", tc.flag, tc.env, cfg.API.APIKey, tc.want)
		}
	}
	if _, err := config.Load(filepath.Join(dir, "missing.toml"), getenv(nil)); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("a --config file that does not exist: err %v", err)
	}
	if _, err := config.Load("", getenv(map[string]string{"GAVEL_CONFIG": filepath.Join(dir, "missing.toml")})); err == nil {
		t.Error("a $GAVEL_CONFIG file that does not exist must be an error")
	}
}

// TestExampleConfigIsComplete keeps config.example.toml in step with Config:
// it must decode with no unknown key and mention every key Config has.
func TestExampleConfigIsComplete(t *testing.T) {
	data, err := os.ReadFile("config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg config.Config
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		t.Errorf("config.example.toml has keys Config does not: %v", u)
	}
	for _, key := range tomlKeys(reflect.TypeOf(config.Config{}), "") {
		if !md.IsDefined(strings.Split(key, ".")...) {
			t.Errorf("config.example.toml does not document %s", key)
		}
	}
	if cfg.API.Timeout != config.Default(func(string) string { return "" }).API.Timeout {
		t.Errorf("example timeout %v differs from the default", cfg.API.Timeout)
	}
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// tomlKeys lists the dotted keys of a config struct's leaves; a struct that
// decodes itself from text (a Duration) is a leaf.
func tomlKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("toml")
		if name == "" || name == "-" {
			continue
		}
		if f.Type.Kind() == reflect.Struct && !reflect.PointerTo(f.Type).Implements(textUnmarshaler) {
			keys = append(keys, tomlKeys(f.Type, prefix+name+".")...)
			continue
		}
		keys = append(keys, prefix+name)
	}
	return keys
}

// TestReadmeDocumentsEveryCommand keeps the README's reference honest: every
// runnable command in the tree has a row.
func TestReadmeDocumentsEveryCommand(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" {
			return
		}
		if c.Runnable() && !strings.Contains(string(readme), "`"+c.CommandPath()) {
			t.Errorf("README.md has no reference entry for %q", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	root := newRoot(strings.NewReader(""), io.Discard, io.Discard, func(string) string { return "" })
	for _, c := range root.Commands() {
		walk(c)
	}
}
