// Package exitcode holds the two kinds of mistake gavel's commands report
// with exit status 2 — a wrong command line and a wrong configuration —
// and the mapping from a command's error to the process exit status.
//
// It sits below every package that returns those errors (the one-shot
// commands, the emulator's command, the relay, the config loader), so
// each kind has a single type whatever layer notices the mistake.
package exitcode

import (
	"errors"

	"github.com/gavelhq/gavel/opentok"
)

// UsageError is a mistake on the command line: exit status 2.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// ConfigError is a problem with the config file, the GAVEL_* variables or
// a value the relay refuses: exit status 2, like a usage error, but --help
// would not help. The system failing (a port in use, NATS unreachable, a
// data directory not writable) is not one: the same configuration may
// work on retry.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Code maps an error from a command to the process exit status:
// 0 success, 2 a usage or configuration mistake (including input the client
// refused before sending), 1 anything the API or the network did.
func Code(err error) int {
	if err == nil {
		return 0
	}
	var ue *UsageError
	var ce *ConfigError
	var ve *opentok.ValidationError
	if errors.As(err, &ue) || errors.As(err, &ce) || errors.As(err, &ve) {
		return 2
	}
	return 1
}
