package opentok

import (
	"context"
	"net/http"
)

// AudioConnectorService streams session audio to WebSocket servers, e.g. for
// transcription or recording outside the Video API.
type AudioConnectorService service

// AudioConnectOptions say which session's audio to send where.
type AudioConnectOptions struct {
	// SessionID is the session to take audio from; it must be routed.
	SessionID string `json:"sessionId"`
	// Token is a client token the connector joins the session with.
	Token string `json:"token"`
	// WebSocket is the server that receives the audio.
	WebSocket WebSocketOptions `json:"websocket"`
}

// WebSocketOptions describe the receiving WebSocket server.
type WebSocketOptions struct {
	// URI is the ws:// or wss:// address to connect to.
	URI string `json:"uri"`
	// Streams limits the audio to these stream IDs; empty means all streams.
	Streams []string `json:"streams,omitempty"`
	// Headers are sent with the WebSocket handshake, e.g. the server's own
	// authorization. Their values never appear in an error.
	Headers map[string]string `json:"headers,omitempty"`
	// AudioRate is the sample rate in Hz: 8000, 16000 or 24000; 0 leaves
	// the service's default.
	AudioRate int `json:"audioRate,omitempty"`
	// Bidirectional lets the server send audio back into the session.
	Bidirectional bool `json:"bidirectional,omitempty"`
}

// AudioConnection is a running Audio Connector. ConnectionID is its
// connection in the session.
type AudioConnection struct {
	ID           string `json:"id"`
	ConnectionID string `json:"connectionId"`
}

func (o AudioConnectOptions) validate(op string) error {
	if err := requireSessionAndToken(op, o.SessionID, o.Token); err != nil {
		return err
	}
	if err := checkURL(op, "websocket.uri", o.WebSocket.URI, "ws", "wss"); err != nil {
		return err
	}
	if err := requireIDs(op, "websocket.streams", o.WebSocket.Streams); err != nil {
		return err
	}
	for name := range o.WebSocket.Headers {
		if !validHeaderName(name) {
			return invalid(op, "websocket.headers", "header name %q must be non-empty with no spaces, controls or ':'", name)
		}
	}
	switch o.WebSocket.AudioRate {
	case 0, 8000, 16000, 24000:
		return nil
	default:
		return invalid(op, "websocket.audioRate", "must be 8000, 16000 or 24000 (got %d)", o.WebSocket.AudioRate)
	}
}

// Connect starts sending the session's audio to a WebSocket server. Never
// retried: a retry could open a second connection.
func (s *AudioConnectorService) Connect(ctx context.Context, opts AudioConnectOptions) (*AudioConnection, error) {
	const op = "audio connect"
	if err := opts.validate(op); err != nil {
		return nil, err
	}
	secrets := []string{opts.Token}
	for _, v := range opts.WebSocket.Headers {
		secrets = append(secrets, v)
	}
	var conn AudioConnection
	err := s.client.join(ctx, endpoint{
		op:   op,
		path: s.client.projectPath("connect"),
		body: opts,
		meanings: map[int]string{
			http.StatusBadRequest: "the service refused the Audio Connector options (check the session ID, token and WebSocket URI)",
			http.StatusConflict:   "the session is relayed — the Audio Connector needs a routed session",
		},
	}, &conn, &conn.ID, "connection", secrets...)
	if err != nil {
		return nil, err
	}
	return &conn, nil
}

// Stop disconnects an Audio Connector. Never retried, like every stop.
func (s *AudioConnectorService) Stop(ctx context.Context, id string) error {
	const op = "audio connector stop"
	if err := requireID(op, "id", id); err != nil {
		return err
	}
	return s.client.do(ctx, endpoint{
		op:     op,
		method: http.MethodPost,
		path:   s.client.projectPath("connect", id, "stop"),
		meanings: map[int]string{
			http.StatusNotFound: "no Audio Connector with that ID is running",
		},
	}, nil)
}
