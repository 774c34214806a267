package opentok_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

// Fixtures shared by the tests of the services that join a session as a
// client (SIP, renders, Audio Connector, captions).
const (
	joinSessionID = "1_MX40NzY2NTk3MX5-MTczOTUzODg5NDk1OX5ROW1jWEcxUXJOM1RJWXU4eStwcHgvZ3N-UH5-"
	// joinToken has the shape of a T1 client token; its content is not checked.
	joinToken = "T1==cGFydG5lcl9pZD00NzY2NTk3MSZzaWc9ZGY5NGE2NDU1OWFjYzA2MWQ3YTM3NTJhNmZjNjk0OTNlOTM4YzE5MTpzZXNzaW9uX2lkPTFfTVg0"
	// joinJWT has the shape of a JWT client token.
	joinJWT = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzY29wZSI6InNlc3Npb24uY29ubmVjdCIsInJvbGUiOiJtb2RlcmF0b3IifQ.c2lnbmF0dXJl"
)

// wantJoinValidation asserts err is a *ValidationError on field and that no
// request reached the server.
func wantJoinValidation(t *testing.T, api *fakeAPI, err error, field string) {
	t.Helper()
	var ve *opentok.ValidationError
	if !errors.As(err, &ve) || ve.Field != field || !errors.Is(err, opentok.ErrInvalid) {
		t.Errorf("err %v, want a ValidationError on %s", err, field)
	}
	if n := api.requests(); n != 0 {
		t.Errorf("%d request(s) reached the server after a validation failure", n)
	}
}

// wantJoinAPIError asserts err matches sentinel and, when want is not
// empty, reads exactly want with {p} standing for the project ID.
func wantJoinAPIError(t *testing.T, api *fakeAPI, err error, sentinel error, want string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Errorf("err %v, want %v", err, sentinel)
	}
	var apiErr *opentok.APIError
	if !errors.As(err, &apiErr) {
		t.Errorf("err %T, want *opentok.APIError", err)
	}
	if want != "" {
		if want = strings.ReplaceAll(want, "{p}", api.projectID); err.Error() != want {
			t.Errorf("error\n got %s\nwant %s", err, want)
		}
	}
}

func TestSIPDial(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// Reply bodies: OpenTok Python tests/test_sip_call.py (legacy) and
			// vonage-python video/tests/data/initiate_sip_call.json (unified, extra fields).
			reply := `{"id":"b0a5a8c7-dc38-459f-a48d-a7f2008da853","connectionId":"e9f8c166-6c67-440d-994a-04fb6dfed007","streamId":"482bce73-f882-40fd-8ca5-cb74ff416036"}`
			if e == unifiedEnv {
				reply = `{"id":"b0a5a8c7-dc38-459f-a48d-a7f2008da853","projectId":"29f760f8-7ce1-46c9-ade3-f2dedee4ed5f","sessionId":"` + joinSessionID + `","connectionId":"e9f8c166-6c67-440d-994a-04fb6dfed007","streamId":"482bce73-f882-40fd-8ca5-cb74ff416036","createdAt":1728383115393,"updatedAt":1728383115393}`
			}
			api.expect(call{
				Method: "POST", Path: "/v2/project/{p}/dial",
				Body: `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","sip":{
					"uri":"sip:user@sip.partner.com;transport=tls","from":"14155550101@example.com",
					"headers":{"X-Room":"town-hall","headerKey":"headerValue"},
					"auth":{"username":"gateway-user","password":"s3cr3t-pass"},
					"secure":true,"video":true,"observeForceMute":true,
					"streams":["stream-id-1","stream-id-2"]}}`,
				Status: 200, Reply: reply,
			})
			got, err := c.SIP.Dial(context.Background(), opentok.DialOptions{
				SessionID: joinSessionID, Token: joinToken,
				SIP: opentok.SIPOptions{
					URI: "sip:user@sip.partner.com;transport=tls", From: "14155550101@example.com",
					Headers: map[string]string{"X-Room": "town-hall", "headerKey": "headerValue"},
					Auth:    &opentok.SIPAuth{Username: "gateway-user", Password: "s3cr3t-pass"},
					Secure:  true, Video: true, ObserveForceMute: true,
					Streams: []string{"stream-id-1", "stream-id-2"},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			want := opentok.SIPCall{ID: "b0a5a8c7-dc38-459f-a48d-a7f2008da853", ConnectionID: "e9f8c166-6c67-440d-994a-04fb6dfed007", StreamID: "482bce73-f882-40fd-8ca5-cb74ff416036"}
			if *got != want {
				t.Errorf("call %+v, want %+v", *got, want)
			}
		})
	}
}

func TestSIPDialMinimalSendsOnlyRequiredFields(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{
				Method: "POST", Path: "/v2/project/{p}/dial",
				Body:   `{"sessionId":"` + joinSessionID + `","token":"` + joinJWT + `","sip":{"uri":"sips:+14155550101@sip.example.com"}}`,
				Status: 200, Reply: `{"id":"0022f6ba-c3a7-44db-843e-dd5ffa9d0493","connectionId":"4baf5788-fa5d-4b8d-b344-7315194ebc7d","streamId":"de7d4fde-1773-4c7f-a0f8-3e1e2956d739"}`,
			})
			got, err := c.SIP.Dial(context.Background(), opentok.DialOptions{
				SessionID: joinSessionID, Token: joinJWT, SIP: opentok.SIPOptions{URI: "sips:+14155550101@sip.example.com"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.ConnectionID != "4baf5788-fa5d-4b8d-b344-7315194ebc7d" {
				t.Errorf("call %+v", got)
			}
		})
	}
}

func TestSIPDialErrors(t *testing.T) {
	cases := []struct {
		status   int
		reply    string
		sentinel error
		want     string
	}{
		{400, `{"code":15002,"message":"Invalid sessionId"}`, opentok.ErrInvalid,
			`sip dial: the service refused the dial request (check the session ID, the SIP URI, and that custom header names start with "X-") (service said: "Invalid sessionId") [HTTP 400, POST /v2/project/{p}/dial]`},
		{403, `{"code":-1,"message":"Invalid token format"}`, opentok.ErrAuth, ""},
		{404, `{"code":404,"message":"Session not found"}`, opentok.ErrNotFound,
			`sip dial: the session does not exist (service said: "Session not found") [HTTP 404, POST /v2/project/{p}/dial]`},
		{409, `{"code":409,"message":"Conflict. Only routed sessions are allowed to initiate SIP Calls."}`, opentok.ErrConflict,
			`sip dial: the session is relayed — SIP needs a routed session (service said: "Conflict. Only routed sessions are allowed to initiate SIP Calls.") [HTTP 409, POST /v2/project/{p}/dial]`},
	}
	for _, e := range bothEnvs {
		for _, tc := range cases {
			t.Run(fmt.Sprintf("%s/%d", e, tc.status), func(t *testing.T) {
				api, c := newFakeAPI(t, e)
				api.expect(call{Method: "POST", Path: "/v2/project/{p}/dial",
					Body:   `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","sip":{"uri":"sip:conf@sip.example.com"}}`,
					Status: tc.status, Reply: tc.reply})
				_, err := c.SIP.Dial(context.Background(), opentok.DialOptions{
					SessionID: joinSessionID, Token: joinToken, SIP: opentok.SIPOptions{URI: "sip:conf@sip.example.com"},
				})
				wantJoinAPIError(t, api, err, tc.sentinel, tc.want)
			})
		}
	}
}

func TestSIPDialIsNeverRetried(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	api.expect(call{Method: "POST", Path: "/v2/project/{p}/dial",
		Body:   `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","sip":{"uri":"sip:conf@sip.example.com"}}`,
		Status: 503, Reply: `{"code":503,"message":"Service Unavailable"}`})
	_, err := c.SIP.Dial(context.Background(), opentok.DialOptions{
		SessionID: joinSessionID, Token: joinToken, SIP: opentok.SIPOptions{URI: "sip:conf@sip.example.com"},
	})
	if err == nil {
		t.Fatal("no error for a 503")
	}
	if n := api.requests(); n != 1 {
		t.Errorf("dial sent %d times; a retry could place a second call", n)
	}
}

func TestSIPDialNeverLeaksThePassword(t *testing.T) {
	const password = "s3cr3t-pass"
	api, c := newFakeAPI(t, legacyEnv)
	// A service that echoes the request in its message must not leak it.
	api.expect(call{Method: "POST", Path: "/v2/project/{p}/dial",
		Body:   `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","sip":{"uri":"sip:conf@sip.example.com","auth":{"username":"u","password":"` + password + `"}}}`,
		Status: 400, Reply: `{"code":15002,"message":"bad auth {\"username\":\"u\",\"password\":\"` + password + `\"} token ` + joinToken + `"}`})
	_, err := c.SIP.Dial(context.Background(), opentok.DialOptions{
		SessionID: joinSessionID, Token: joinToken,
		SIP: opentok.SIPOptions{URI: "sip:conf@sip.example.com", Auth: &opentok.SIPAuth{Username: "u", Password: password}},
	})
	if !errors.Is(err, opentok.ErrInvalid) {
		t.Fatalf("err %v, want ErrInvalid", err)
	}
	if strings.Contains(err.Error(), password) || strings.Contains(err.Error(), joinToken) {
		t.Errorf("error leaks a secret: %s", err)
	}
	if !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %s lost the rest of the service's message", err)
	}

	// Nor may a validation failure quote the password or a URI carrying one.
	_, err = c.SIP.Dial(context.Background(), opentok.DialOptions{
		SessionID: joinSessionID, Token: joinToken,
		SIP: opentok.SIPOptions{URI: "tel:user:" + password + "@example.com", Auth: &opentok.SIPAuth{Password: password}},
	})
	if err == nil || strings.Contains(err.Error(), password) {
		t.Errorf("validation error %v leaks the password", err)
	}
}

func TestSIPDialValidation(t *testing.T) {
	ok := opentok.SIPOptions{URI: "sip:conf@sip.example.com"}
	cases := []struct {
		name  string
		opts  opentok.DialOptions
		field string
	}{
		{"no session", opentok.DialOptions{Token: joinToken, SIP: ok}, "sessionId"},
		{"long session", opentok.DialOptions{SessionID: strings.Repeat("s", 256), Token: joinToken, SIP: ok}, "sessionId"},
		{"no token", opentok.DialOptions{SessionID: joinSessionID, SIP: ok}, "token"},
		{"session ID as token", opentok.DialOptions{SessionID: joinSessionID, Token: joinSessionID, SIP: ok}, "token"},
		{"token with space", opentok.DialOptions{SessionID: joinSessionID, Token: "T1== abc", SIP: ok}, "token"},
		{"no uri", opentok.DialOptions{SessionID: joinSessionID, Token: joinToken}, "sip.uri"},
		{"tel uri", opentok.DialOptions{SessionID: joinSessionID, Token: joinToken, SIP: opentok.SIPOptions{URI: "tel:+14155550101"}}, "sip.uri"},
		{"bare sip:", opentok.DialOptions{SessionID: joinSessionID, Token: joinToken, SIP: opentok.SIPOptions{URI: "sip:"}}, "sip.uri"},
		{"header with colon", opentok.DialOptions{SessionID: joinSessionID, Token: joinToken,
			SIP: opentok.SIPOptions{URI: ok.URI, Headers: map[string]string{"X-Room:": "a"}}}, "sip.headers"},
		{"empty header", opentok.DialOptions{SessionID: joinSessionID, Token: joinToken,
			SIP: opentok.SIPOptions{URI: ok.URI, Headers: map[string]string{"": "a"}}}, "sip.headers"},
		{"auth without username", opentok.DialOptions{SessionID: joinSessionID, Token: joinToken,
			SIP: opentok.SIPOptions{URI: ok.URI, Auth: &opentok.SIPAuth{Password: "p"}}}, "sip.auth.username"},
		{"blank stream", opentok.DialOptions{SessionID: joinSessionID, Token: joinToken,
			SIP: opentok.SIPOptions{URI: ok.URI, Streams: []string{"stream-id-1", ""}}}, "sip.streams[1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api, c := newFakeAPI(t, legacyEnv)
			_, err := c.SIP.Dial(context.Background(), tc.opts)
			wantJoinValidation(t, api, err, tc.field)
		})
	}
}
