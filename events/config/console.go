package config

import "fmt"

// Console is the [console] section: which relay a console (and
// `gavel events`) connects to, with what token, and how it looks.
type Console struct {
	Relay string `toml:"relay"`
	Token string `toml:"token"`
	// MaxConnections flags, in the console, a session with more
	// connections than this; 0 is off.
	MaxConnections int `toml:"max_connections"`
	// ReadOnly takes the moderation keys away (as --read-only does).
	ReadOnly bool `toml:"read_only"`
	// Record holds the recording form's defaults ([console.record]).
	Record RecordDefaults `toml:"record"`
	// Theme is the console's palette: auto (the terminal's background,
	// the default), dark or light. The console checks the value.
	Theme string `toml:"theme"`
	// Keys rebinds console actions by name ([console.keys]); the console
	// checks names, keys and conflicts.
	Keys map[string]KeyList `toml:"keys"`
	// Aliases label sessions by id in the console ([console.aliases]).
	Aliases map[string]string `toml:"aliases"`
}

// ApplyEnv lets GAVEL_RELAY_URL and GAVEL_RELAY_TOKEN override the file.
func (c *Console) ApplyEnv(getenv func(string) string) {
	if v := getenv(EnvRelayURL); v != "" {
		c.Relay = v
	}
	if v := getenv(EnvRelayToken); v != "" {
		c.Token = v
	}
}

// KeyBindings is [console.keys] as the console takes it.
func (c Console) KeyBindings() map[string][]string {
	if len(c.Keys) == 0 {
		return nil
	}
	out := make(map[string][]string, len(c.Keys))
	for name, keys := range c.Keys {
		out[name] = keys
	}
	return out
}

// RecordDefaults prefill the console's recording form ([console.record]).
// The zero value is a composed archive, without a name, at the service's
// default resolution, laid out bestFit. The console checks the values
// against the choices its form offers (tui.CheckRecordDefaults), naming
// the key and what it expected.
type RecordDefaults struct {
	Name       string `toml:"name"`
	OutputMode string `toml:"output_mode"` // "composed" or "individual"; "" is composed
	Resolution string `toml:"resolution"`  // one of opentok.Resolutions; "" is the service's default
	Layout     string `toml:"layout"`      // bestFit, pip, verticalPresentation or horizontalPresentation; "" is bestFit
}

// KeyList is one action's keys in [console.keys]: a string (quit = "Q")
// or an array of strings (filter = ["/", "ctrl+f"]).
type KeyList []string

// keyListError starts the message of a value that is neither; decode
// keeps it when it rewords the parser's errors (it quotes no value).
const keyListError = "expected a key or an array of keys"

// UnmarshalTOML takes either form; the decoder prefixes the key and line.
func (l *KeyList) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*l = KeyList{v}
		return nil
	case []any:
		keys := make(KeyList, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("%s (\"q\" or [\"/\", \"ctrl+f\"]), got an array holding %s", keyListError, valueKind(e))
			}
			keys = append(keys, s)
		}
		*l = keys
		return nil
	}
	return fmt.Errorf("%s (\"q\" or [\"/\", \"ctrl+f\"]), got %s", keyListError, valueKind(v))
}
