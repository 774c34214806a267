package opentok_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

const captionsID = "7c0680fc-6274-4de5-a66f-d0648e8d3ac2"

func TestCaptionsStart(t *testing.T) {
	for _, e := range bothEnvs {
		// 200 in OpenTok Python's test, 202 documented: both succeed (the Live Captions guide:
		// https://developer.vonage.com/en/video/guides/live-caption).
		for _, status := range []int{202, 200} {
			t.Run(fmt.Sprintf("%s/%d", e, status), func(t *testing.T) {
				api, c := newFakeAPI(t, e)
				// Reply: OpenTok Python tests/test_captions.py; vonage-python start_captions.json.
				id := captionsID
				if e == unifiedEnv {
					id = "bc01a6b7-0e8e-4aa0-bb4e-2390f7cb18a1"
				}
				api.expect(call{
					Method: "POST", Path: "/v2/project/{p}/captions",
					Body: `{"sessionId":"` + joinSessionID + `","token":"` + joinJWT + `","languageCode":"en-GB",
						"maxDuration":10000,"partialCaptions":false,"statusCallbackUrl":"https://gavel.example.com/callbacks/captions"}`,
					Status: status, Reply: `{"captionsId":"` + id + `"}`,
				})
				partial := false // false must reach the service, not vanish as a default
				got, err := c.Captions.Start(context.Background(), opentok.CaptionsOptions{
					SessionID: joinSessionID, Token: joinJWT, LanguageCode: "en-GB", MaxDuration: 10000,
					PartialCaptions: &partial, StatusCallbackURL: "https://gavel.example.com/callbacks/captions",
				})
				if err != nil {
					t.Fatal(err)
				}
				if got != id {
					t.Errorf("captions ID %q, want %q", got, id)
				}
			})
		}
	}
}

func TestCaptionsStartMinimal(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	api.expect(call{Method: "POST", Path: "/v2/project/{p}/captions",
		Body:   `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","languageCode":"en-US"}`,
		Status: 202, Reply: `{"captionsId":"` + captionsID + `"}`})
	got, err := c.Captions.Start(context.Background(), opentok.CaptionsOptions{SessionID: joinSessionID, Token: joinToken, LanguageCode: "en-US"})
	if err != nil || got != captionsID {
		t.Fatalf("captions %q, %v", got, err)
	}

	// A 2xx without the ID leaves nothing to stop: that is an error.
	api.expect(call{Method: "POST", Path: "/v2/project/{p}/captions",
		Body:   `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","languageCode":"en-US"}`,
		Status: 202, Reply: `{}`})
	if _, err := c.Captions.Start(context.Background(), opentok.CaptionsOptions{SessionID: joinSessionID, Token: joinToken, LanguageCode: "en-US"}); err == nil {
		t.Error("no error for a reply without captionsId")
	}
}

func TestCaptionsStartErrors(t *testing.T) {
	body := `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","languageCode":"en-US"}`
	opts := opentok.CaptionsOptions{SessionID: joinSessionID, Token: joinToken, LanguageCode: "en-US"}
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// vonage-python video/tests/data/captions_error_already_enabled.json.
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/captions", Body: body, Status: 409,
				Reply: `{"code":60003,"message":"Audio captioning is already enabled","description":"Audio captioning is already enabled"}`})
			_, err := c.Captions.Start(context.Background(), opts)
			wantJoinAPIError(t, api, err, opentok.ErrConflict,
				`captions start: captions are already running in this session (service said: "Audio captioning is already enabled") [HTTP 409, POST /v2/project/{p}/captions]`)

			// The other documented 409: captions need a routed session (the Live Captions guide
			// above; the limits in the Interactive broadcast guide:
			// https://developer.vonage.com/en/video/guides/broadcast/interactive).
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/captions", Body: body, Status: 409,
				Reply: `{"code":409,"message":"Only routed sessions are allowed to start captions."}`})
			_, err = c.Captions.Start(context.Background(), opts)
			wantJoinAPIError(t, api, err, opentok.ErrConflict,
				`captions start: the session is relayed — captions need a routed session (service said: "Only routed sessions are allowed to start captions.") [HTTP 409, POST /v2/project/{p}/captions]`)

			api.expect(call{Method: "POST", Path: "/v2/project/{p}/captions", Body: body, Status: 400,
				Reply: `{"code":15001,"message":"Invalid request"}`})
			_, err = c.Captions.Start(context.Background(), opts)
			wantJoinAPIError(t, api, err, opentok.ErrInvalid,
				`captions start: the service refused the captions options (check the language code, and that the token has the moderator role) (service said: "Invalid request") [HTTP 400, POST /v2/project/{p}/captions]`)

			api.expect(call{Method: "POST", Path: "/v2/project/{p}/captions", Body: body, Status: 403,
				Reply: `{"code":-1,"message":"Invalid token format"}`})
			_, err = c.Captions.Start(context.Background(), opts)
			wantJoinAPIError(t, api, err, opentok.ErrAuth, "")

			// Never retried: the retry would meet its own captions.
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/captions", Body: body, Status: 503})
			if _, err = c.Captions.Start(context.Background(), opts); err == nil {
				t.Fatal("no error for a 503")
			}
			if n := api.requests(); n != 5 {
				t.Errorf("%d requests for 5 calls; captions start must not be retried", n)
			}
		})
	}
}

func TestCaptionsStop(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/captions/" + captionsID + "/stop", Status: 202})
			if err := c.Captions.Stop(context.Background(), captionsID); err != nil {
				t.Fatal(err)
			}

			api.expect(call{Method: "POST", Path: "/v2/project/{p}/captions/" + captionsID + "/stop", Status: 404,
				Reply: `{"code":404,"message":"Not found"}`})
			err := c.Captions.Stop(context.Background(), captionsID)
			wantJoinAPIError(t, api, err, opentok.ErrNotFound,
				`captions stop: no live captions with that ID exist in this project (service said: "Not found") [HTTP 404, POST /v2/project/{p}/captions/`+captionsID+`/stop]`)

			api.expect(call{Method: "POST", Path: "/v2/project/{p}/captions/" + captionsID + "/stop", Status: 503})
			if err := c.Captions.Stop(context.Background(), captionsID); err == nil {
				t.Fatal("no error for a 503")
			}
			if n := api.requests(); n != 3 {
				t.Errorf("%d requests for 3 calls; captions stop must not be retried", n)
			}
		})
	}
}

func TestCaptionsGet(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// Fields as listed in the Live Captions guide above for GET captions.
			owner, want := `"projectId":"47665971"`, opentok.Captions{ProjectID: "47665971"}
			if e == unifiedEnv {
				owner, want = `"applicationId":"`+testAppID+`"`, opentok.Captions{ApplicationID: testAppID}
			}
			want.ID, want.SessionID, want.Status = captionsID, joinSessionID, opentok.CaptionsStopped
			want.CreatedAt, want.UpdatedAt, want.Duration = 1727870434974, 1727874035012, 3600
			want.LanguageCode, want.Reason, want.Provider = "en-US", "Max duration exceeded", "aws-transcribe"
			api.expect(call{Method: "GET", Path: "/v2/project/{p}/captions/" + captionsID, Status: 200,
				Reply: `{"captionId":"` + captionsID + `",` + owner + `,"sessionId":"` + joinSessionID + `","status":"stopped",
					"createdAt":1727870434974,"updatedAt":1727874035012,"duration":3600,"languageCode":"en-US",
					"reason":"Max duration exceeded","provider":"aws-transcribe"}`})
			got, err := c.Captions.Get(context.Background(), captionsID)
			if err != nil {
				t.Fatal(err)
			}
			if *got != want {
				t.Errorf("captions\n got %+v\nwant %+v", *got, want)
			}

			api.expect(call{Method: "GET", Path: "/v2/project/{p}/captions/" + captionsID, Status: 404, Reply: `{"code":404,"message":"Not found"}`})
			_, err = c.Captions.Get(context.Background(), captionsID)
			wantJoinAPIError(t, api, err, opentok.ErrNotFound,
				`captions get: no live captions with that ID exist in this project (service said: "Not found") [HTTP 404, GET /v2/project/{p}/captions/`+captionsID+`]`)

			// Get is idempotent: a 503 is retried.
			api.expect(
				call{Method: "GET", Path: "/v2/project/{p}/captions/" + captionsID, Status: 503},
				call{Method: "GET", Path: "/v2/project/{p}/captions/" + captionsID, Status: 200,
					Reply: `{"captionId":"` + captionsID + `","sessionId":"` + joinSessionID + `","status":"started"}`},
			)
			if got, err = c.Captions.Get(context.Background(), captionsID); err != nil || got.Status != opentok.CaptionsStarted {
				t.Errorf("after a retry: %+v, %v", got, err)
			}
		})
	}
}

func TestCaptionsValidation(t *testing.T) {
	base := opentok.CaptionsOptions{SessionID: joinSessionID, Token: joinToken, LanguageCode: "en-US"}
	with := func(f func(*opentok.CaptionsOptions)) opentok.CaptionsOptions { o := base; f(&o); return o }
	cases := []struct {
		name  string
		opts  opentok.CaptionsOptions
		field string
	}{
		{"no session", with(func(o *opentok.CaptionsOptions) { o.SessionID = "" }), "sessionId"},
		{"no token", with(func(o *opentok.CaptionsOptions) { o.Token = "" }), "token"},
		{"no language", with(func(o *opentok.CaptionsOptions) { o.LanguageCode = "" }), "languageCode"},
		{"language only", with(func(o *opentok.CaptionsOptions) { o.LanguageCode = "en" }), "languageCode"},
		{"underscore", with(func(o *opentok.CaptionsOptions) { o.LanguageCode = "en_US" }), "languageCode"},
		{"lower region", with(func(o *opentok.CaptionsOptions) { o.LanguageCode = "en-us" }), "languageCode"},
		{"too short", with(func(o *opentok.CaptionsOptions) { o.MaxDuration = 299 }), "maxDuration"},
		{"too long", with(func(o *opentok.CaptionsOptions) { o.MaxDuration = 14401 }), "maxDuration"},
		{"bad callback", with(func(o *opentok.CaptionsOptions) { o.StatusCallbackURL = "ws://gavel.example.com/cb" }), "statusCallbackUrl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api, c := newFakeAPI(t, legacyEnv)
			_, err := c.Captions.Start(context.Background(), tc.opts)
			wantJoinValidation(t, api, err, tc.field)
		})
	}
	api, c := newFakeAPI(t, legacyEnv)
	wantJoinValidation(t, api, c.Captions.Stop(context.Background(), ""), "captionsId")
	_, err := c.Captions.Get(context.Background(), "a\tb")
	wantJoinValidation(t, api, err, "captionsId")
}
