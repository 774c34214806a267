package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// tomlTypeError matches BurntSushi/toml's type mismatch message so it can
// be said in words: `api.timeout: expected a string, got an integer`.
var tomlTypeError = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]+)"\): incompatible types: TOML value has type (\w+); destination has type (\w+)`)

// decode fills cfg from the file at path, whose text is data. Its errors
// name the file, the line and the key, and never quote a value.
func decode(path string, data []byte, cfg *Config) error {
	md, err := toml.Decode(string(data), cfg)
	if err != nil {
		if m := tomlTypeError.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Errorf("config %s: line %s: %s: expected %s, got %s", path, m[1], m[2], typeKind(m[4]), typeKind(m[3]))
		}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return describeParseError(path, pe)
		}
		return fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "toml: "))
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return fmt.Errorf("config %s: unknown key %s (see config.example.toml for every key)", path, strings.Join(keys, ", "))
	}
	return nil
}

// describeParseError says where the file is wrong without quoting it: the
// parser's own message repeats the offending text, which may be a secret
// written without quotes (api_secret = s3cr3t). Our own value errors
// (durations, console key lists) quote nothing secret and are kept.
func describeParseError(path string, pe toml.ParseError) error {
	where := fmt.Sprintf("config %s: line %d, column %d", path, pe.Position.Line, pe.Position.Col)
	if strings.HasPrefix(pe.Message, durationError) || strings.HasPrefix(pe.Message, keyListError) {
		return fmt.Errorf("%s: %s: %s", where, pe.LastKey, pe.Message)
	}
	if pe.LastKey != "" {
		where += " (after key " + pe.LastKey + ")"
	}
	return fmt.Errorf("%s: not valid TOML: text values need double quotes (key = \"value\") and sections look like [api]", where)
}

// typeKind turns the decoder's Go/TOML type names into words.
func typeKind(t string) string {
	switch t {
	case "string":
		return "a string"
	case "int64", "integer":
		return "an integer"
	case "float64", "float":
		return "a number"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "a table"
	case "slice", "array":
		return "an array"
	}
	return t
}

// valueKind names a decoded TOML value's type, never the value: a mistyped
// line may be a secret.
func valueKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "true or false"
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	}
	return "a date or time"
}

// Duration is a config value written as a Go duration string ("30s", "5m").
type Duration struct{ time.Duration }

// durationError starts the message of a value that is not a duration;
// describeParseError keeps it (it quotes the value, which is no secret).
const durationError = "expected a duration"

// UnmarshalText parses "30s"; the TOML decoder prefixes the key and line.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%s like \"30s\" or \"5m\", got %q", durationError, b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back in the same form.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }
