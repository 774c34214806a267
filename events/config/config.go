// Package config is gavel's configuration: the config file's sections
// ([api], [relay], [console]), their defaults, the GAVEL_* variables that
// override them, and the checks that can be made without the console.
// Every command reads it through Load; config.example.toml documents
// every key.
//
// It sits in the events layer so that the console (tui), the relay's
// commands and main can all import it, while it imports only the layers
// below: the relay's own configuration (events/relay) is built from the
// [relay] section here, and the Video API client from the [api] section.
// The console's own vocabulary (key names, themes, the recording form's
// choices) is checked by the console.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gavelhq/gavel/opentok/cli/exitcode"
)

// EnvConfig names the config file when --config is not given.
const EnvConfig = "GAVEL_CONFIG"

// Config is the whole config file.
type Config struct {
	API     API     `toml:"api"`
	Relay   Relay   `toml:"relay"`
	Console Console `toml:"console"`
}

// Default is the configuration when there is no file and no variable set.
func Default(getenv func(string) string) Config {
	return Config{API: DefaultAPI(), Relay: DefaultRelay(stateDir(getenv))}
}

// stateDir is where gavel keeps data between runs: $XDG_STATE_HOME/gavel,
// else ~/.local/state/gavel (the XDG Base Directory Specification).
func stateDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "gavel")
	}
	return filepath.Join(getenv("HOME"), ".local", "state", "gavel")
}

// file finds the config file: the --config flag, then $GAVEL_CONFIG, then
// $XDG_CONFIG_HOME/gavel/config.toml. Only the default location may be
// absent; a file named explicitly must exist. "" means no file.
func file(flag string, getenv func(string) string) (path string, explicit bool) {
	if flag != "" {
		return flag, true
	}
	if p := getenv(EnvConfig); p != "" {
		return p, true
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", false
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "gavel", "config.toml"), false
}

// Load reads the config file if there is one (flag is --config), rejects
// unknown keys and wrong types by name, and applies the GAVEL_* environment
// overrides. Its errors are *exitcode.ConfigError.
func Load(flag string, getenv func(string) string) (Config, error) {
	cfg := Default(getenv)
	if path, explicit := file(flag, getenv); path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := decode(path, data, &cfg); err != nil {
				return cfg, &exitcode.ConfigError{Err: err}
			}
		case errors.Is(err, os.ErrNotExist) && !explicit:
			// No file at the default location: the environment alone may suffice.
		default:
			return cfg, &exitcode.ConfigError{Err: fmt.Errorf("config %s: %w", path, err)}
		}
	}
	cfg.API.ApplyEnv(getenv)
	if cfg.Relay.DataDir == "" { // data_dir = "" in the file means the default
		cfg.Relay.DataDir = DefaultRelay(stateDir(getenv)).DataDir
	}
	cfg.Relay.ApplyEnv(getenv)
	cfg.Console.ApplyEnv(getenv)
	return cfg, nil
}
