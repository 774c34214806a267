package opentok_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

const (
	sigSession = "2_MX40NzY2NTk3MX5-MTczOTUzODg5NDk1OX5ROW1jWEcxUXJOM1RJWXU4eStwcHgvZ3N-UH5-"
	sigConn    = "c6db93f0-8692-438c-944b-cfbaf577c878"
	sigAllPath = "/v2/project/{p}/session/" + sigSession + "/signal"
	sigOnePath = "/v2/project/{p}/session/" + sigSession + "/connection/" + sigConn + "/signal"
)

func TestSignalSend(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// Java testSignalAllConnections: {"type":"test","data":"Signal test string"} → 204.
			api.expect(
				call{Method: "POST", Path: sigAllPath, Body: `{"type":"test","data":"Signal test string"}`, Status: 204},
				call{Method: "POST", Path: sigOnePath, Body: `{"type":"mod-notice_1~","data":"Please mute: {\"by\":\"host\"} ✓"}`, Status: 204},
				// At the limits exactly: 128-byte type, 8192-byte data.
				call{Method: "POST", Path: sigAllPath, Body: `{"type":"` + strings.Repeat("t", 128) + `","data":"` + strings.Repeat("d", 8192) + `"}`, Status: 204},
			)
			ctx := context.Background()
			if err := c.Signals.Send(ctx, sigSession, "", opentok.Signal{Type: "test", Data: "Signal test string"}); err != nil {
				t.Fatal(err)
			}
			if err := c.Signals.Send(ctx, sigSession, sigConn, opentok.Signal{Type: "mod-notice_1~", Data: `Please mute: {"by":"host"} ✓`}); err != nil {
				t.Fatal(err)
			}
			if err := c.Signals.Send(ctx, sigSession, "", opentok.Signal{Type: strings.Repeat("t", 128), Data: strings.Repeat("d", 8192)}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSignalSendErrors(t *testing.T) {
	body := `{"type":"chat","data":"hello"}`
	sig := opentok.Signal{Type: "chat", Data: "hello"}
	// OpenAPI messages; PHP fixture for "no clients".
	checkErrCases(t, call{Method: "POST", Path: sigAllPath, Body: body}, []errCase{
		{404, `{"code":404,"message":"Not found. No clients are actively connected to the OpenTok session."}`, opentok.ErrNotFound,
			`signal: no clients are connected to the session (service said: "Not found. No clients are actively connected to the OpenTok session.") [HTTP 404, POST /v2/project/{p}/session/` + sigSession + `/signal]`},
		{413, `{"code":413,"message":"The type string exceeds the maximum length (128 bytes), or the data string exceeds the maximum size (8 kB)."}`, opentok.ErrTooLarge,
			`signal: the signal is too large: type over 128 bytes or data over 8 kB (service said: "The type string exceeds the maximum length (128 bytes), or the data string exceeds the maximum size (8 kB).") [HTTP 413, POST /v2/project/{p}/session/` + sigSession + `/signal]`},
		{400, `{"code":15202,"message":"Signal payload 'data' must be set"}`, opentok.ErrInvalid,
			`signal: the service refused the signal's type or data (service said: "Signal payload 'data' must be set") [HTTP 400, POST /v2/project/{p}/session/` + sigSession + `/signal]`},
		{403, `{"code":403,"message":"You are not authorized to send the signal. Check your authentication credentials."}`, opentok.ErrAuth, ""},
	}, func(ctx context.Context, c *opentok.Client) error {
		return c.Signals.Send(ctx, sigSession, "", sig)
	})
	checkErrCases(t, call{Method: "POST", Path: sigOnePath, Body: body}, []errCase{
		{404, `{"code":404,"message":"The client specified by the connectionId property is not connected to the session."}`, opentok.ErrNotFound,
			`signal: that connection is not connected to the session (service said: "The client specified by the connectionId property is not connected to the session.") [HTTP 404, POST /v2/project/{p}/session/` + sigSession + `/connection/` + sigConn + `/signal]`},
		{413, `{"code":413,"message":"The type string exceeds the maximum length (128 bytes), or the data string exceeds the maximum size (8 kB)."}`, opentok.ErrTooLarge, ""},
	}, func(ctx context.Context, c *opentok.Client) error {
		return c.Signals.Send(ctx, sigSession, sigConn, sig)
	})
}

func TestSignalSendNotRetried(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "POST", Path: sigAllPath, Body: `{"type":"chat","data":"hello"}`, Status: 503, Reply: `{"code":503,"message":"Service Unavailable"}`})
			err := c.Signals.Send(context.Background(), sigSession, "", opentok.Signal{Type: "chat", Data: "hello"})
			if err == nil {
				t.Fatal("no error")
			}
			if api.requests() != 1 {
				t.Errorf("%d requests, want 1: a retried signal could be delivered twice", api.requests())
			}
		})
	}
}

func TestSignalSendValidation(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	ctx := context.Background()
	cases := []struct {
		session, conn string
		sig           opentok.Signal
		field         string
	}{
		{sigSession, "", opentok.Signal{Type: strings.Repeat("t", 129), Data: "x"}, "type"},
		{sigSession, "", opentok.Signal{Type: "two words", Data: "x"}, "type"},
		{sigSession, "", opentok.Signal{Type: "party🎉", Data: "x"}, "type"},
		{sigSession, "", opentok.Signal{Type: "chat", Data: strings.Repeat("d", 8193)}, "data"},
		{sigSession, sigConn, opentok.Signal{Type: "chat", Data: strings.Repeat("é", 4097)}, "data"}, // 8194 bytes, 4097 characters
		{"", "", opentok.Signal{Type: "chat"}, "sessionId"},
		{sigSession, "conn 1", opentok.Signal{Type: "chat"}, "connectionId"},
	}
	for _, tc := range cases {
		mustRefuseField(t, c.Signals.Send(ctx, tc.session, tc.conn, tc.sig), tc.field)
	}
	mustNotSend(t, api)
}
