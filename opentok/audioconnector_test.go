package opentok_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

func TestAudioConnect(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// OpenTok Python tests/test_audio_connector.py (legacy) and
			// vonage-python video/tests/data/audio_connector.json (unified).
			reply, want := `{"id":"b0a5a8c7-dc38-459f-a48d-a7f2008da853","connectionId":"e9f8c166-6c67-440d-994a-04fb6dfed007"}`,
				opentok.AudioConnection{ID: "b0a5a8c7-dc38-459f-a48d-a7f2008da853", ConnectionID: "e9f8c166-6c67-440d-994a-04fb6dfed007"}
			if e == unifiedEnv {
				reply, want = `{"id":"b3cd31f4-020e-4ba3-9a2a-12d98b8a184f","connectionId":"1bf530df-97f4-4437-b6c9-2a66200200c8"}`,
					opentok.AudioConnection{ID: "b3cd31f4-020e-4ba3-9a2a-12d98b8a184f", ConnectionID: "1bf530df-97f4-4437-b6c9-2a66200200c8"}
			}
			api.expect(call{
				Method: "POST", Path: "/v2/project/{p}/connect",
				Body: `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","websocket":{
					"uri":"wss://service.com/ws-endpoint","streams":["stream-id-1","stream-id-2"],
					"headers":{"WebSocketHeader":"Sent via Audio Connector API"},
					"audioRate":16000,"bidirectional":true}}`,
				Status: 200, Reply: reply,
			})
			got, err := c.AudioConnector.Connect(context.Background(), opentok.AudioConnectOptions{
				SessionID: joinSessionID, Token: joinToken,
				WebSocket: opentok.WebSocketOptions{
					URI: "wss://service.com/ws-endpoint", Streams: []string{"stream-id-1", "stream-id-2"},
					Headers:   map[string]string{"WebSocketHeader": "Sent via Audio Connector API"},
					AudioRate: 16000, Bidirectional: true,
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if *got != want {
				t.Errorf("connection %+v, want %+v", *got, want)
			}
		})
	}
}

func TestAudioConnectMinimal(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	api.expect(call{Method: "POST", Path: "/v2/project/{p}/connect",
		Body:   `{"sessionId":"` + joinSessionID + `","token":"` + joinJWT + `","websocket":{"uri":"ws://10.0.0.5:8080/audio"}}`,
		Status: 200, Reply: `{"id":"b0a5a8c7-dc38-459f-a48d-a7f2008da853","connectionId":"e9f8c166-6c67-440d-994a-04fb6dfed007"}`})
	got, err := c.AudioConnector.Connect(context.Background(), opentok.AudioConnectOptions{
		SessionID: joinSessionID, Token: joinJWT, WebSocket: opentok.WebSocketOptions{URI: "ws://10.0.0.5:8080/audio"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.ConnectionID != "e9f8c166-6c67-440d-994a-04fb6dfed007" {
		t.Errorf("connection %+v", got)
	}
}

func TestAudioConnectErrors(t *testing.T) {
	const secretHeader = "Bearer ws-server-secret-123"
	body := `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","websocket":{"uri":"wss://service.com/ws-endpoint","headers":{"Authorization":"` + secretHeader + `"}}}`
	opts := opentok.AudioConnectOptions{SessionID: joinSessionID, Token: joinToken,
		WebSocket: opentok.WebSocketOptions{URI: "wss://service.com/ws-endpoint", Headers: map[string]string{"Authorization": secretHeader}}}
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/connect", Body: body,
				Status: 409, Reply: `{"code":409,"message":"Conflict. Only routed sessions are allowed to initiate Connect Calls."}`})
			_, err := c.AudioConnector.Connect(context.Background(), opts)
			wantJoinAPIError(t, api, err, opentok.ErrConflict,
				`audio connect: the session is relayed — the Audio Connector needs a routed session (service said: "Conflict. Only routed sessions are allowed to initiate Connect Calls.") [HTTP 409, POST /v2/project/{p}/connect]`)

			// The handshake headers may hold the WebSocket server's credential.
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/connect", Body: body,
				Status: 400, Reply: `{"code":15001,"message":"invalid header Authorization: ` + secretHeader + `"}`})
			_, err = c.AudioConnector.Connect(context.Background(), opts)
			wantJoinAPIError(t, api, err, opentok.ErrInvalid,
				`audio connect: the service refused the Audio Connector options (check the session ID, token and WebSocket URI) (service said: "invalid header Authorization: [redacted]") [HTTP 400, POST /v2/project/{p}/connect]`)

			api.expect(call{Method: "POST", Path: "/v2/project/{p}/connect", Body: body,
				Status: 403, Reply: `{"code":-1,"message":"Invalid token format"}`})
			_, err = c.AudioConnector.Connect(context.Background(), opts)
			wantJoinAPIError(t, api, err, opentok.ErrAuth, "")

			// Never retried: a retry could open a second connection.
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/connect", Body: body, Status: 502})
			if _, err = c.AudioConnector.Connect(context.Background(), opts); err == nil {
				t.Fatal("no error for a 502")
			}
			if n := api.requests(); n != 4 {
				t.Errorf("%d requests for 4 calls; audio connect must not be retried", n)
			}
		})
	}
}

func TestAudioConnectorStop(t *testing.T) {
	const id = "b0a5a8c7-dc38-459f-a48d-a7f2008da853"
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/connect/" + id + "/stop", Status: 200})
			if err := c.AudioConnector.Stop(context.Background(), id); err != nil {
				t.Fatal(err)
			}

			api.expect(call{Method: "POST", Path: "/v2/project/{p}/connect/" + id + "/stop", Status: 404, Reply: `{"code":404,"message":"Not found"}`})
			err := c.AudioConnector.Stop(context.Background(), id)
			wantJoinAPIError(t, api, err, opentok.ErrNotFound,
				`audio connector stop: no Audio Connector with that ID is running (service said: "Not found") [HTTP 404, POST /v2/project/{p}/connect/`+id+`/stop]`)
		})
	}
}

func TestAudioConnectValidation(t *testing.T) {
	base := opentok.AudioConnectOptions{SessionID: joinSessionID, Token: joinToken, WebSocket: opentok.WebSocketOptions{URI: "wss://service.com/ws-endpoint"}}
	with := func(f func(*opentok.AudioConnectOptions)) opentok.AudioConnectOptions { o := base; f(&o); return o }
	cases := []struct {
		name  string
		opts  opentok.AudioConnectOptions
		field string
	}{
		{"no session", with(func(o *opentok.AudioConnectOptions) { o.SessionID = "" }), "sessionId"},
		{"no token", with(func(o *opentok.AudioConnectOptions) { o.Token = "" }), "token"},
		{"no uri", with(func(o *opentok.AudioConnectOptions) { o.WebSocket.URI = "" }), "websocket.uri"},
		{"https uri", with(func(o *opentok.AudioConnectOptions) { o.WebSocket.URI = "https://service.com/ws" }), "websocket.uri"},
		{"no host", with(func(o *opentok.AudioConnectOptions) { o.WebSocket.URI = "wss:///ws" }), "websocket.uri"},
		{"blank stream", with(func(o *opentok.AudioConnectOptions) { o.WebSocket.Streams = []string{" "} }), "websocket.streams[0]"},
		{"bad header", with(func(o *opentok.AudioConnectOptions) { o.WebSocket.Headers = map[string]string{"Bad Name": "v"} }), "websocket.headers"},
		{"44.1 kHz", with(func(o *opentok.AudioConnectOptions) { o.WebSocket.AudioRate = 44100 }), "websocket.audioRate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api, c := newFakeAPI(t, legacyEnv)
			_, err := c.AudioConnector.Connect(context.Background(), tc.opts)
			wantJoinValidation(t, api, err, tc.field)
		})
	}

	// A URI may carry a credential in its query: the error must not quote it.
	api, c := newFakeAPI(t, legacyEnv)
	_, err := c.AudioConnector.Connect(context.Background(), with(func(o *opentok.AudioConnectOptions) {
		o.WebSocket.URI = "https://service.com/ws?key=hunter2"
	}))
	wantJoinValidation(t, api, err, "websocket.uri")
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %s quotes the URI", err)
	}
	wantJoinValidation(t, api, c.AudioConnector.Stop(context.Background(), ""), "id")
}
