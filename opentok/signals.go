package opentok

import (
	"context"
	"net/http"
)

// SignalsService sends signals to clients connected to a session.
type SignalsService service

// Signal is a message delivered to clients' signal handlers. Clients see it
// with an empty "from": it comes from the server.
type Signal struct {
	// Type is at most 128 bytes of A–Z a–z 0–9 - _ ~; clients filter on it.
	Type string `json:"type"`
	// Data is the payload, at most 8 kB.
	Data string `json:"data"`
}

// Validate checks the signal against the service's limits, as Send does,
// so a form can refuse it before anything is sent.
func (sig Signal) Validate() error { return sig.validate("signal") }

func (sig Signal) validate(op string) error {
	if n := len(sig.Type); n > MaxSignalTypeBytes {
		return invalid(op, "type", "at most %d bytes (got %d)", MaxSignalTypeBytes, n)
	}
	if !validSignalType(sig.Type) {
		return invalid(op, "type", "only letters, digits, '-', '_' and '~' are allowed (got %q)", sig.Type)
	}
	if n := len(sig.Data); n > MaxSignalDataBytes {
		return invalid(op, "data", "at most %d bytes (got %d)", MaxSignalDataBytes, n)
	}
	return nil
}

// Send signals every client in the session, or only connectionID when it is
// not empty. Signals are never retried: a retry could deliver twice.
func (s *SignalsService) Send(ctx context.Context, sessionID, connectionID string, sig Signal) error {
	const op = "signal"
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return err
	}
	if err := sig.validate(op); err != nil {
		return err
	}
	ep := endpoint{
		op:     op,
		method: http.MethodPost,
		body:   sig,
		meanings: map[int]string{
			http.StatusBadRequest:            "the service refused the signal's type or data",
			http.StatusNotFound:              "no clients are connected to the session",
			http.StatusRequestEntityTooLarge: "the signal is too large: type over 128 bytes or data over 8 kB",
		},
	}
	if connectionID == "" {
		ep.path = s.client.projectPath("session", sessionID, "signal")
	} else {
		if err := requireID(op, "connectionId", connectionID); err != nil {
			return err
		}
		ep.path = s.client.projectPath("session", sessionID, "connection", connectionID, "signal")
		ep.meanings[http.StatusNotFound] = "that connection is not connected to the session"
	}
	return s.client.do(ctx, ep, nil)
}
