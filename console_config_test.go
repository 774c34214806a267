package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/tui"
)

// consoleEnv is a user with no config in the default places.
func consoleEnv(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{"HOME": t.TempDir(), "XDG_STATE_HOME": t.TempDir(), "XDG_CONFIG_HOME": t.TempDir()}
}

// TestConsoleKeysConflictStopsGavel: a [console.keys] that leaves two
// actions on one key makes every console command exit 2 with the message,
// before anything starts: the in-process relay's address stays free (it is
// held here: starting it would exit 1 "in use") and its data directory is
// never made, a named relay is never dialled, the demo never begins.
func TestConsoleKeysConflictStopsGavel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dataDir := filepath.Join(t.TempDir(), "relay-data")
	var dialled atomic.Int32
	relaySrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		dialled.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer relaySrv.Close()
	cfg := writeConfig(t, "[relay]\nlisten = \""+ln.Addr().String()+"\"\ndata_dir = \""+dataDir+"\"\n"+
		"[console.keys]\nsort = \"/\"\n")
	const want = `console.keys: "/" is bound to both sort and filter in the sessions view`

	for _, args := range [][]string{
		{"--config", cfg},
		{"--config", cfg, "--relay", "ws" + strings.TrimPrefix(relaySrv.URL, "http") + "/v1/stream", "--token", "t"},
		{"--config", cfg, "demo"},
	} {
		code, out, errOut := gavel(t, consoleEnv(t), "", args...)
		if code != 2 || !strings.Contains(errOut, want) || out != "" {
			t.Errorf("%v: exit %d (want 2), stdout %q, stderr %q (want %q)", args[2:], code, out, errOut, want)
		}
		if strings.Contains(errOut, "in use") || strings.Contains(errOut, "--help") {
			t.Errorf("%v: stderr %q", args[2:], errOut)
		}
	}
	if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
		t.Errorf("the relay's data directory was made (%v): the relay started", err)
	}
	if n := dialled.Load(); n != 0 {
		t.Errorf("the named relay was dialled %d times", n)
	}
}

// TestConsoleConfigErrorsNameTheKey: each console setting's mistake exits 2
// and names the key or flag and what was expected.
func TestConsoleConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct {
		name, file string
		args       []string
		want       []string
	}{
		{"unknown action", "[console.keys]\nsrot = \"x\"\n", nil,
			[]string{"console.keys.srot: no such action; expected one of up, down", "sort", "show-ended"}},
		{"not a key name", "[console.keys]\nfilter = [\"/\", \"ctrl-f\"]\n", nil,
			[]string{`console.keys.filter: "ctrl-f" is not a key name`, "expected a single character"}},
		{"force-quit", "[console.keys]\nforce-quit = \"x\"\n", nil,
			[]string{"console.keys.force-quit: ctrl+c always quits"}},
		{"ctrl+c", "[console.keys]\nquit = [\"q\", \"ctrl+c\"]\n", nil,
			[]string{`console.keys.quit: "ctrl+c" always quits`}},
		{"wrong type", "[console]\n[console.keys]\nquit = 1\n", nil,
			[]string{"line 3", "console.keys.quit: expected a key or an array of keys", "got an integer"}},
		{"wrong type in array", "[console.keys]\nquit = [\"q\", true]\n", nil,
			[]string{"console.keys.quit: expected a key or an array of keys", "holding true or false"}},
		{"theme", "[console]\ntheme = \"sepia\"\n", nil,
			[]string{`console.theme: expected auto, dark or light, got "sepia"`}},
		{"theme flag", "", []string{"--theme", "sepia"},
			[]string{`--theme: expected auto, dark or light, got "sepia"`}},
		{"demo theme flag", "", []string{"demo", "--theme", "Dark"},
			[]string{`--theme: expected auto, dark or light, got "Dark"`}},
		{"alias of the wrong type", "[console.aliases]\n\"1_MX4\" = 3\n", nil,
			[]string{"console.aliases", "expected a string, got an integer"}},
		{"record output mode", "[console.record]\noutput_mode = \"mixed\"\n", nil,
			[]string{`console.record.output_mode: one of composed, individual (got "mixed")`}},
		{"record resolution of an individual archive", "[console.record]\noutput_mode = \"individual\"\nresolution = \"1280x720\"\n", nil,
			[]string{"console.record.resolution"}},
		{"read-only of the wrong type", "[console]\nread_only = \"yes\"\n", nil,
			[]string{"line 2: console.read_only: expected boolean, got a string"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.file != "" {
				args = append([]string{"--config", writeConfig(t, c.file)}, args...)
			}
			code, _, errOut := gavel(t, consoleEnv(t), "", args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr %q lacks %q", errOut, w)
				}
			}
		})
	}
}

// TestConsoleConfigReachesTheConsole: what [console] and --theme say is
// what the console is given.
func TestConsoleConfigReachesTheConsole(t *testing.T) {
	env := consoleEnv(t)
	cfg, err := config.Load(writeConfig(t, `[console]
max_connections = 100
theme = "light"
[console.keys]
filter = ["/", "ctrl+f"]
quit = "Q"
help = []
[console.aliases]
"1_MX4xMjM0NX5" = "Town hall"
`), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	root := newRoot(strings.NewReader(""), nil, nil, func(string) string { return "" })
	opts, err := consoleOptions(root, cfg.Console, consoleFlags{})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Theme != tui.ThemeLight || opts.MaxConnections != 100 || opts.Aliases["1_MX4xMjM0NX5"] != "Town hall" ||
		strings.Join(opts.Keys["filter"], " ") != "/ ctrl+f" || strings.Join(opts.Keys["quit"], " ") != "Q" ||
		opts.Keys["help"] == nil || len(opts.Keys["help"]) != 0 {
		t.Errorf("options %+v", opts)
	}
	if err := root.Flags().Set("theme", "dark"); err != nil {
		t.Fatal(err)
	}
	if opts, err = consoleOptions(root, cfg.Console, consoleFlags{theme: "dark"}); err != nil || opts.Theme != tui.ThemeDark {
		t.Errorf("--theme dark over console.theme light: %q, %v", opts.Theme, err)
	}
	if opts.ReadOnly {
		t.Error("read-only without being asked")
	}
	if opts, err = consoleOptions(root, cfg.Console, consoleFlags{readOnly: true}); err != nil || !opts.ReadOnly {
		t.Errorf("--read-only: %v, %v", opts.ReadOnly, err)
	}
	cfg.Console.ReadOnly = true
	if opts, err = consoleOptions(root, cfg.Console, consoleFlags{}); err != nil || !opts.ReadOnly {
		t.Errorf("console.read_only: %v, %v", opts.ReadOnly, err)
	}
}

// TestExampleConfigListsEveryAction keeps [console.keys] in
// config.example.toml in step with the console's keymap: every action that
// can be rebound is listed, with its default keys.
func TestExampleConfigListsEveryAction(t *testing.T) {
	data, err := os.ReadFile("config.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	km := tui.DefaultKeyMap()
	for _, a := range km.Actions() {
		if a == &km.ForceQuit {
			continue
		}
		keys := a.Keys()
		val := `"` + keys[0] + `"`
		if len(keys) > 1 {
			val = `["` + strings.Join(keys, `", "`) + `"]`
		}
		if line := "# " + a.Name + " = " + val; !strings.Contains(string(data), "\n"+line) {
			t.Errorf("config.example.toml lacks the line %q", line)
		}
	}
}
