package opentok_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

const (
	modSession = "1_MX4xMjM0NTZ-flNhdCBNYXIgMTUgMTQ6NDI6MjMgUERUIDIwMTR-MC40OTAxMzAyNX4"
	modConn    = "527775e1-626e-42c3-b0e8-e2122d20661a"
	modStream  = "b1963d15-537f-459a-be89-e00fc310b82b"
	modSessP   = "/v2/project/{p}/session/" + modSession
)

// muteReplies are the bodies a successful mute has been seen with (the Moderation REST
// guide: https://developer.vonage.com/en/video/guides/moderation/rest): empty (Ruby
// cassette), {"code":200,…} (PHP fixture) and the OpenAPI "project details" object. The
// client must ignore all of them.
var muteReplies = []string{
	``,
	`{"code":200,"message":"OK"}`,
	`{"applicationId":"78d335fa-323d-0114-9c3d-d6f0d48968cf","status":"ACTIVE","name":"Joe Montana","environment":"standard","createdAt":1414642898000}`,
}

func TestForceDisconnect(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "DELETE", Path: modSessP + "/connection/" + modConn, Status: 204})
			if err := c.Moderation.ForceDisconnect(context.Background(), modSession, modConn); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestForceDisconnectRetried(t *testing.T) {
	mustRetryOnce(t, legacyEnv, call{Method: "DELETE", Path: modSessP + "/connection/" + modConn}, 503, 204,
		func(ctx context.Context, c *opentok.Client) error {
			return c.Moderation.ForceDisconnect(ctx, modSession, modConn)
		})
}

func TestForceDisconnectErrors(t *testing.T) {
	// Messages from the OpenAPI description.
	checkErrCases(t, call{Method: "DELETE", Path: modSessP + "/connection/" + modConn}, []errCase{
		{404, `{"code":404,"message":"The client specified by the connectionId property is not connected to the session."}`, opentok.ErrNotFound,
			`force disconnect: that connection is not connected to the session (service said: "The client specified by the connectionId property is not connected to the session.") [HTTP 404, DELETE /v2/project/{p}/session/` + modSession + `/connection/` + modConn + `]`},
		{400, `{"code":400,"message":"One of the arguments — sessionId or connectionId — is invalid."}`, opentok.ErrInvalid,
			`force disconnect: invalid session or connection ID (service said: "One of the arguments — sessionId or connectionId — is invalid.") [HTTP 400, DELETE /v2/project/{p}/session/` + modSession + `/connection/` + modConn + `]`},
		{403, `{"code":403,"message":"You are not authorized to forceDisconnect, check your authentication credentials."}`, opentok.ErrAuth, ""},
	}, func(ctx context.Context, c *opentok.Client) error {
		return c.Moderation.ForceDisconnect(ctx, modSession, modConn)
	})
}

func TestMuteStream(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			for _, reply := range muteReplies {
				// No body at all: Body "" makes the fake refuse any.
				api.expect(call{Method: "POST", Path: modSessP + "/stream/" + modStream + "/mute", Status: 200, Reply: reply})
				if err := c.Moderation.MuteStream(context.Background(), modSession, modStream); err != nil {
					t.Errorf("reply %q: %v", reply, err)
				}
			}
		})
	}
}

func TestMuteStreamRetried(t *testing.T) {
	mustRetryOnce(t, unifiedEnv, call{Method: "POST", Path: modSessP + "/stream/" + modStream + "/mute", Reply: muteReplies[1]}, 500, 200,
		func(ctx context.Context, c *opentok.Client) error {
			return c.Moderation.MuteStream(ctx, modSession, modStream)
		})
}

func TestMuteStreamErrors(t *testing.T) {
	path := modSessP + "/stream/" + modStream + "/mute"
	checkErrCases(t, call{Method: "POST", Path: path}, []errCase{
		{404, `{"code":404,"message":"Not found. The session or stream is not found"}`, opentok.ErrNotFound,
			`mute stream: no such stream in the session (service said: "Not found. The session or stream is not found") [HTTP 404, POST /v2/project/{p}/session/` + modSession + `/stream/` + modStream + `/mute]`},
		{408, `{"code":408,"message":"You passed in an invalid stream ID."}`, opentok.ErrNotFound, ""},
		{400, `{"code":400,"message":"Invalid request"}`, opentok.ErrInvalid,
			`mute stream: invalid session or stream ID (service said: "Invalid request") [HTTP 400, POST /v2/project/{p}/session/` + modSession + `/stream/` + modStream + `/mute]`},
		{403, `{"code":403,"message":"Authentication error"}`, opentok.ErrAuth, ""},
	}, func(ctx context.Context, c *opentok.Client) error {
		return c.Moderation.MuteStream(ctx, modSession, modStream)
	})
}

func TestMuteAll(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// The documented key and a boolean; never excludedStreams or "true" (the Moderation REST guide above; as the official SDKs send it, which sdk_test.go runs).
			for _, reply := range muteReplies {
				api.expect(call{Method: "POST", Path: modSessP + "/mute",
					Body:   `{"active":true,"excludedStreamIds":["b1963d15-537f-459a-be89-e00fc310b82b","8b732909-0a06-46a2-8ea8-074e64d43422"]}`,
					Status: 200, Reply: reply})
				if err := c.Moderation.MuteAll(context.Background(), modSession, []string{modStream, "8b732909-0a06-46a2-8ea8-074e64d43422"}); err != nil {
					t.Errorf("reply %q: %v", reply, err)
				}
			}
			// None excluded: an empty list, not null and not absent.
			api.expect(call{Method: "POST", Path: modSessP + "/mute", Body: `{"active":true,"excludedStreamIds":[]}`, Status: 200})
			if err := c.Moderation.MuteAll(context.Background(), modSession, nil); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestDisableMuteAll(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			for _, reply := range muteReplies {
				api.expect(call{Method: "POST", Path: modSessP + "/mute", Body: `{"active":false}`, Status: 200, Reply: reply})
				if err := c.Moderation.DisableMuteAll(context.Background(), modSession); err != nil {
					t.Errorf("reply %q: %v", reply, err)
				}
			}
		})
	}
}

func TestMuteAllRetried(t *testing.T) {
	mustRetryOnce(t, legacyEnv, call{Method: "POST", Path: modSessP + "/mute", Body: `{"active":false}`}, 502, 200,
		func(ctx context.Context, c *opentok.Client) error {
			return c.Moderation.DisableMuteAll(ctx, modSession)
		})
}

func TestMuteAllErrors(t *testing.T) {
	cases := func(op string) []errCase {
		return []errCase{
			{404, `{"code":404,"message":"Not found. The session or stream is not found"}`, opentok.ErrNotFound,
				op + `: the session does not exist (service said: "Not found. The session or stream is not found") [HTTP 404, POST /v2/project/{p}/session/` + modSession + `/mute]`},
			{400, `{"code":400,"message":"Invalid request. This response may indicate that data in your request data is invalid JSON."}`, opentok.ErrInvalid,
				op + `: the service refused the mute request (service said: "Invalid request. This response may indicate that data in your request data is invalid JSON.") [HTTP 400, POST /v2/project/{p}/session/` + modSession + `/mute]`},
			{403, `{"code":403,"message":"Authentication error"}`, opentok.ErrAuth, ""},
		}
	}
	checkErrCases(t, call{Method: "POST", Path: modSessP + "/mute", Body: `{"active":true,"excludedStreamIds":[]}`}, cases("mute all"),
		func(ctx context.Context, c *opentok.Client) error {
			return c.Moderation.MuteAll(ctx, modSession, []string{})
		})
	checkErrCases(t, call{Method: "POST", Path: modSessP + "/mute", Body: `{"active":false}`}, cases("disable mute all"),
		func(ctx context.Context, c *opentok.Client) error {
			return c.Moderation.DisableMuteAll(ctx, modSession)
		})
}

func TestPlayDTMF(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(
				call{Method: "POST", Path: modSessP + "/play-dtmf", Body: `{"digits":"1p2#*90"}`, Status: 200},
				call{Method: "POST", Path: modSessP + "/connection/" + modConn + "/play-dtmf", Body: `{"digits":"5"}`, Status: 200},
			)
			if err := c.Moderation.PlayDTMF(context.Background(), modSession, "", "1p2#*90"); err != nil {
				t.Fatal(err)
			}
			if err := c.Moderation.PlayDTMF(context.Background(), modSession, modConn, "5"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPlayDTMFErrors(t *testing.T) {
	checkErrCases(t, call{Method: "POST", Path: modSessP + "/play-dtmf", Body: `{"digits":"1"}`}, []errCase{
		// PHP tests/mock/v2/project/APIKEY/session/SESSIONID/play-dtmf-400.
		{400, "{\n  \"code\" : 400,\n  \"message\" : \"Invalid DTMF Digits\"\n}\n", opentok.ErrInvalid,
			`play DTMF: the service refused the digits (service said: "Invalid DTMF Digits") [HTTP 400, POST /v2/project/{p}/session/` + modSession + `/play-dtmf]`},
		{404, `{"code":404,"message":"Not found"}`, opentok.ErrNotFound,
			`play DTMF: the session does not exist (service said: "Not found") [HTTP 404, POST /v2/project/{p}/session/` + modSession + `/play-dtmf]`},
		{403, `{"code":403,"message":"Authentication error"}`, opentok.ErrAuth, ""},
	}, func(ctx context.Context, c *opentok.Client) error {
		return c.Moderation.PlayDTMF(ctx, modSession, "", "1")
	})
	checkErrCases(t, call{Method: "POST", Path: modSessP + "/connection/" + modConn + "/play-dtmf", Body: `{"digits":"1"}`}, []errCase{
		{404, `{"code":404,"message":"Not found"}`, opentok.ErrNotFound,
			`play DTMF: that connection is not connected to the session (service said: "Not found") [HTTP 404, POST /v2/project/{p}/session/` + modSession + `/connection/` + modConn + `/play-dtmf]`},
	}, func(ctx context.Context, c *opentok.Client) error {
		return c.Moderation.PlayDTMF(ctx, modSession, modConn, "1")
	})
}

func TestPlayDTMFNotRetried(t *testing.T) {
	api, c := newFakeAPI(t, unifiedEnv)
	api.expect(call{Method: "POST", Path: modSessP + "/play-dtmf", Body: `{"digits":"1"}`, Status: 503, Reply: `{"code":503,"message":"Service Unavailable"}`})
	err := c.Moderation.PlayDTMF(context.Background(), modSession, "", "1")
	mustFailWith(t, err, nil, `play DTMF: the Video API is temporarily unavailable; try again (service said: "Service Unavailable") [HTTP 503, POST /v2/project/`+testAppID+`/session/`+modSession+`/play-dtmf]`)
	if api.requests() != 1 {
		t.Errorf("%d requests, want 1: the digits must not play twice", api.requests())
	}
}

func TestModerationValidation(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	ctx := context.Background()
	m := c.Moderation
	mustRefuseField(t, m.ForceDisconnect(ctx, "", modConn), "sessionId")
	mustRefuseField(t, m.ForceDisconnect(ctx, modSession, ""), "connectionId")
	mustRefuseField(t, m.ForceDisconnect(ctx, modSession, "c 1"), "connectionId")
	mustRefuseField(t, m.MuteStream(ctx, modSession, ""), "streamId")
	mustRefuseField(t, m.MuteStream(ctx, "", modStream), "sessionId")
	mustRefuseField(t, m.MuteAll(ctx, "", nil), "sessionId")
	mustRefuseField(t, m.MuteAll(ctx, modSession, []string{modStream, ""}), "excludedStreamIds[1]")
	mustRefuseField(t, m.DisableMuteAll(ctx, ""), "sessionId")
	mustRefuseField(t, m.PlayDTMF(ctx, modSession, "", ""), "digits")
	for _, digits := range []string{"12a", "1 2", "P", "1-2", "１"} {
		mustRefuseField(t, m.PlayDTMF(ctx, modSession, "", digits), "digits")
	}
	mustRefuseField(t, m.PlayDTMF(ctx, modSession, "c\t1", "1"), "connectionId")
	mustRefuseField(t, m.PlayDTMF(ctx, "", "", "1"), "sessionId")
	mustNotSend(t, api)
}

// TestForceDisconnectRetryAfterLostReply: the first DELETE succeeds but its
// reply is lost (503); the retry finds the connection gone (404). That is
// success, not "not connected" — the relay would otherwise audit a failure.
func TestForceDisconnectRetryAfterLostReply(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	path := "/v2/project/{p}/session/S1/connection/C1"
	api.expect(
		call{Method: "DELETE", Path: path, Status: 503, Reply: `{"code":503,"message":"upstream"}`},
		call{Method: "DELETE", Path: path, Status: 404, Reply: `{"code":404,"message":"Not found"}`},
	)
	if err := c.Moderation.ForceDisconnect(context.Background(), "S1", "C1"); err != nil {
		t.Fatalf("a 404 on the retry of a delete that may have succeeded: %v", err)
	}
	// A 404 on the first attempt is still an error.
	api.expect(call{Method: "DELETE", Path: path, Status: 404, Reply: `{"code":404,"message":"Not found"}`})
	if err := c.Moderation.ForceDisconnect(context.Background(), "S1", "C1"); !errors.Is(err, opentok.ErrNotFound) {
		t.Errorf("a first-attempt 404: %v, want ErrNotFound", err)
	}
}

// TestCancelDuringRetryWaitIsVisible: cancelling while waiting to retry
// returns an error that is both the API error and the cancellation.
func TestCancelDuringRetryWaitIsVisible(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel the moment the client has read the 503's body: it is then
	// about to wait an hour to retry, however loaded the machine is.
	hc := &http.Client{Transport: cancelOnBodyClose{cancel: cancel}}
	api, c := newFakeAPI(t, legacyEnv, opentok.WithHTTPClient(hc),
		opentok.WithRetryPolicy(opentok.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Hour, MaxDelay: time.Hour}))
	api.expect(call{Method: "GET", Path: "/v2/project/{p}/session/S1/stream", Status: 503, Reply: `{"code":503,"message":"busy"}`})
	_, err := c.Streams.List(ctx, "S1")
	var apiErr *opentok.APIError
	if !errors.Is(err, context.Canceled) || !errors.As(err, &apiErr) || apiErr.Status != 503 {
		t.Errorf("err %v: want both the 503 and the cancellation", err)
	}
}

// cancelOnBodyClose is a transport that cancels a context when the client
// closes a response body.
type cancelOnBodyClose struct{ cancel context.CancelFunc }

func (c cancelOnBodyClose) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = &closeHook{ReadCloser: resp.Body, onClose: c.cancel}
	}
	return resp, err
}

type closeHook struct {
	io.ReadCloser
	onClose func()
}

func (h *closeHook) Close() error {
	err := h.ReadCloser.Close()
	h.onClose()
	return err
}
