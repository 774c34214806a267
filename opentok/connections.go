package opentok

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// ConnectionsService lists a session's connections.
type ConnectionsService service

// ConnectionState is where a client is in its connection's life.
type ConnectionState string

// The states the service reports, title-case as it sends them.
const (
	Connecting   ConnectionState = "Connecting"
	Connected    ConnectionState = "Connected"
	Disconnected ConnectionState = "Disconnected"
)

// ConnectionInfo is one client connection as the connection list reports it.
type ConnectionInfo struct {
	ID    string          `json:"connectionId"`
	State ConnectionState `json:"connectionState"`
	// CreatedAt is when the client connected, in milliseconds since the epoch.
	CreatedAt int64 `json:"createdAt"`
}

// UnmarshalJSON accepts createdAt as a number (Java and .NET fixtures) or as
// a numeric string (PHP fixture): the endpoint has no public reference to settle it.
func (ci *ConnectionInfo) UnmarshalJSON(data []byte) error {
	var wire struct {
		ID        string          `json:"connectionId"`
		State     ConnectionState `json:"connectionState"`
		CreatedAt json.RawMessage `json:"createdAt"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	ms, err := parseMillis(wire.CreatedAt)
	if err != nil {
		return fmt.Errorf("connection %q: createdAt: %w", wire.ID, err)
	}
	*ci = ConnectionInfo{ID: wire.ID, State: wire.State, CreatedAt: ms}
	return nil
}

// parseMillis reads a millisecond timestamp sent as 1747655658197 or
// "1747655658197"; absent or null is 0.
func parseMillis(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		if s == "" {
			return 0, nil
		}
		return strconv.ParseInt(s, 10, 64)
	}
	return strconv.ParseInt(string(raw), 10, 64)
}

// ConnectionList is a session's connections.
type ConnectionList struct {
	Count int `json:"count"`
	// ProjectID is the API key or application ID that owns the session; the
	// SDK fixtures disagree whether the service calls it projectId or applicationId.
	ProjectID string           `json:"projectId"`
	SessionID string           `json:"sessionId"`
	Items     []ConnectionInfo `json:"items"`
}

// UnmarshalJSON takes the owner from projectId (Java, PHP fixtures) or
// applicationId (.NET fixture).
func (cl *ConnectionList) UnmarshalJSON(data []byte) error {
	type plain ConnectionList // no methods: avoids recursing into this one
	var wire struct {
		plain
		ApplicationID string `json:"applicationId"`
	}
	if err := json.Unmarshal(data, &wire); err != nil {
		return err
	}
	*cl = ConnectionList(wire.plain)
	if cl.ProjectID == "" {
		cl.ProjectID = wire.ApplicationID
	}
	return nil
}

// List returns the session's connections, including ones the service still
// reports as Disconnected.
func (s *ConnectionsService) List(ctx context.Context, sessionID string) (*ConnectionList, error) {
	const op = "connection list"
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return nil, err
	}
	var list ConnectionList
	err := s.client.do(ctx, endpoint{
		op:         op,
		method:     http.MethodGet,
		path:       s.client.projectPath("session", sessionID, "connection"),
		idempotent: true,
		meanings: map[int]string{
			http.StatusBadRequest: "the service refused the session ID",
			http.StatusNotFound:   "the session does not exist or has no connections",
		},
	}, &list)
	if err != nil {
		return nil, err
	}
	return &list, nil
}
