package opentok_test

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

const renderID = "80abaf0d-25a3-4efc-968f-6268d620668d"

func TestRenderStart(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// 202 bodies: OpenTok Python tests/test_render.py (legacy, projectId)
			// and vonage-python start_experience_composer.json (unified, applicationId).
			reply := `{"id":"1248e7070b81464c9789f46ad10e7764","sessionId":"` + joinSessionID + `","projectId":"e2343f23456g34709d2443a234","createdAt":1437676551000,"updatedAt":1437676551000,"url":"https://webapp.customer.com","resolution":"1280x720","status":"started","streamId":"e32445b743678c98230f238"}`
			want := opentok.Render{ID: "1248e7070b81464c9789f46ad10e7764", SessionID: joinSessionID, ProjectID: "e2343f23456g34709d2443a234",
				CreatedAt: 1437676551000, UpdatedAt: 1437676551000, URL: "https://webapp.customer.com", Resolution: "1280x720",
				Status: opentok.RenderStarted, StreamID: "e32445b743678c98230f238"}
			if e == unifiedEnv {
				reply = `{"id":"80c3d2d8-0848-41b2-be14-1a5b8936c87d","sessionId":"` + joinSessionID + `","createdAt":1727781191064,"updatedAt":1727781191064,"url":"https://webapp.customer.com","status":"starting","name":"Town hall slides","event":"render","applicationId":"` + testAppID + `","resolution":"1280x720"}`
				want = opentok.Render{ID: "80c3d2d8-0848-41b2-be14-1a5b8936c87d", SessionID: joinSessionID, ApplicationID: testAppID,
					CreatedAt: 1727781191064, UpdatedAt: 1727781191064, URL: "https://webapp.customer.com", Resolution: "1280x720",
					Status: opentok.RenderStarting}
			}
			api.expect(call{
				Method: "POST", Path: "/v2/project/{p}/render",
				Body: `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","url":"https://webapp.customer.com",
					"maxDuration":1800,"resolution":"1280x720","properties":{"name":"Town hall slides"},
					"statusCallbackUrl":"https://gavel.example.com/callbacks/render"}`,
				Status: 202, Reply: reply,
			})
			got, err := c.Renders.Start(context.Background(), opentok.RenderOptions{
				SessionID: joinSessionID, Token: joinToken, URL: "https://webapp.customer.com",
				MaxDuration: 1800, Resolution: "1280x720", Properties: &opentok.RenderProperties{Name: "Town hall slides"},
				StatusCallbackURL: "https://gavel.example.com/callbacks/render",
			})
			if err != nil {
				t.Fatal(err)
			}
			if *got != want {
				t.Errorf("render\n got %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestRenderStartMinimalAndAny2xx(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	// Optional fields stay out of the body; a 200 is as good as the documented 202.
	api.expect(call{Method: "POST", Path: "/v2/project/{p}/render",
		Body:   `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","url":"http://intranet.example.com/board"}`,
		Status: 200, Reply: `{"id":"d95f6496-df6e-4f49-86d6-832e00303602","sessionId":"` + joinSessionID + `","status":"starting"}`})
	got, err := c.Renders.Start(context.Background(), opentok.RenderOptions{SessionID: joinSessionID, Token: joinToken, URL: "http://intranet.example.com/board"})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "d95f6496-df6e-4f49-86d6-832e00303602" || got.Status != opentok.RenderStarting {
		t.Errorf("render %+v", got)
	}
}

func TestRenderStartErrors(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			body := `{"sessionId":"` + joinSessionID + `","token":"` + joinToken + `","url":"https://webapp.customer.com"}`
			opts := opentok.RenderOptions{SessionID: joinSessionID, Token: joinToken, URL: "https://webapp.customer.com"}

			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/render", Body: body,
				Status: 400, Reply: `{"code":15001,"message":"Invalid request: token is invalid ` + joinToken + `"}`})
			_, err := c.Renders.Start(context.Background(), opts)
			wantJoinAPIError(t, api, err, opentok.ErrInvalid,
				`render start: the service refused the render options (check the session ID, token and URL) (service said: "Invalid request: token is invalid [redacted]") [HTTP 400, POST /v2/project/{p}/render]`)

			api.expect(call{Method: "POST", Path: "/v2/project/{p}/render", Body: body,
				Status: 403, Reply: `{"code":-1,"message":"Invalid token format"}`})
			_, err = c.Renders.Start(context.Background(), opts)
			wantJoinAPIError(t, api, err, opentok.ErrAuth, "")

			// A start is never retried: a retry could start a second render.
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/render", Body: body,
				Status: 503, Reply: `{"code":503,"message":"Service Unavailable"}`})
			before := api.requests()
			if _, err = c.Renders.Start(context.Background(), opts); err == nil {
				t.Fatal("no error for a 503")
			}
			if n := api.requests() - before; n != 1 {
				t.Errorf("render start sent %d times", n)
			}
		})
	}
}

func TestRenderGet(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// OpenTok Python test_get_render_status (legacy); vonage-python
			// get_experience_composer.json (unified).
			reply := `{"id":"` + renderID + `","sessionId":"` + joinSessionID + `","projectId":"e2343f23456g34709d2443a234","createdAt":1437676551000,"updatedAt":1437676551000,"url":"https://webapp.customer.com","resolution":"1280x720","status":"failed","reason":"Could not load URL"}`
			want := opentok.Render{ID: renderID, SessionID: joinSessionID, ProjectID: "e2343f23456g34709d2443a234",
				CreatedAt: 1437676551000, UpdatedAt: 1437676551000, URL: "https://webapp.customer.com", Resolution: "1280x720",
				Status: opentok.RenderFailed, Reason: "Could not load URL"}
			if e == unifiedEnv {
				reply = `{"id":"` + renderID + `","sessionId":"` + joinSessionID + `","createdAt":1727784741000,"updatedAt":1727788344000,"url":"https://developer.vonage.com","status":"stopped","streamId":"C1B0E149-8169-4AFD-9397-882516EE9430","reason":"Max duration exceeded","event":"render","applicationId":"` + testAppID + `","resolution":"1280x720"}`
				want = opentok.Render{ID: renderID, SessionID: joinSessionID, ApplicationID: testAppID,
					CreatedAt: 1727784741000, UpdatedAt: 1727788344000, URL: "https://developer.vonage.com", Resolution: "1280x720",
					Status: opentok.RenderStopped, StreamID: "C1B0E149-8169-4AFD-9397-882516EE9430", Reason: "Max duration exceeded"}
			}
			api.expect(call{Method: "GET", Path: "/v2/project/{p}/render/" + renderID, Status: 200, Reply: reply})
			got, err := c.Renders.Get(context.Background(), renderID)
			if err != nil {
				t.Fatal(err)
			}
			if *got != want {
				t.Errorf("render\n got %+v\nwant %+v", *got, want)
			}

			api.expect(call{Method: "GET", Path: "/v2/project/{p}/render/" + renderID, Status: 404, Reply: `{"code":404,"message":"Not found"}`})
			_, err = c.Renders.Get(context.Background(), renderID)
			wantJoinAPIError(t, api, err, opentok.ErrNotFound,
				`render get: no render with that ID exists in this project (service said: "Not found") [HTTP 404, GET /v2/project/{p}/render/`+renderID+`]`)
		})
	}
}

func TestRenderGetRetriesAfter503(t *testing.T) {
	api, c := newFakeAPI(t, unifiedEnv)
	api.expect(
		call{Method: "GET", Path: "/v2/project/{p}/render/" + renderID, Status: 503, Reply: `{"code":503,"message":"Service Unavailable"}`},
		call{Method: "GET", Path: "/v2/project/{p}/render/" + renderID, Status: 200,
			Reply: `{"id":"` + renderID + `","sessionId":"` + joinSessionID + `","status":"started","streamId":"d2334b35690a92f78945"}`},
	)
	got, err := c.Renders.Get(context.Background(), renderID)
	if err != nil {
		t.Fatal(err)
	}
	if got.StreamID != "d2334b35690a92f78945" || api.requests() != 2 {
		t.Errorf("render %+v after %d requests", got, api.requests())
	}
}

func TestRenderList(t *testing.T) {
	// OpenTok Python tests/test_render.py test_list_renders.
	const reply = `{"count":2,"items":[
		{"id":"80abaf0d-25a3-4efc-968f-6268d620668d","sessionId":"1_MX4yNzA4NjYxMn5-MTU0NzA4MDUyMTEzNn5sOXU5ZnlWYXplRnZGblV4RUo3dXJpZk1-fg","projectId":"27086612","createdAt":1547080532099,"updatedAt":1547080532099,"url":"https://webapp.customer.com","resolution":"1280x720","status":"started","streamId":"d2334b35690a92f78945"},
		{"id":"d95f6496-df6e-4f49-86d6-832e00303602","sessionId":"2_MX4yNzA4NjYxMn5-MTU0NzA4MDUwMDc2MH5STWRiSE1jZjVoV3lBQU9nN2JuNElUV3V-fg","projectId":"27086612","createdAt":1547080511760,"updatedAt":1547080518965,"url":"https://webapp2.customer.com","resolution":"1280x720","status":"stopped","streamId":"d2334b35690a92f78945","reason":"Maximum duration exceeded"}]}`
	want := &opentok.RenderList{Count: 2, Items: []opentok.Render{
		{ID: "80abaf0d-25a3-4efc-968f-6268d620668d", SessionID: "1_MX4yNzA4NjYxMn5-MTU0NzA4MDUyMTEzNn5sOXU5ZnlWYXplRnZGblV4RUo3dXJpZk1-fg", ProjectID: "27086612",
			CreatedAt: 1547080532099, UpdatedAt: 1547080532099, URL: "https://webapp.customer.com", Resolution: "1280x720", Status: opentok.RenderStarted, StreamID: "d2334b35690a92f78945"},
		{ID: "d95f6496-df6e-4f49-86d6-832e00303602", SessionID: "2_MX4yNzA4NjYxMn5-MTU0NzA4MDUwMDc2MH5STWRiSE1jZjVoV3lBQU9nN2JuNElUV3V-fg", ProjectID: "27086612",
			CreatedAt: 1547080511760, UpdatedAt: 1547080518965, URL: "https://webapp2.customer.com", Resolution: "1280x720", Status: opentok.RenderStopped, StreamID: "d2334b35690a92f78945", Reason: "Maximum duration exceeded"},
	}}
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "GET", Path: "/v2/project/{p}/render", Query: url.Values{"offset": {"50"}, "count": {"2"}}, Status: 200, Reply: reply})
			got, err := c.Renders.List(context.Background(), opentok.ListOptions{Offset: 50, Count: 2})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("list\n got %+v\nwant %+v", got, want)
			}

			// The zero value sends no query: the service's defaults apply.
			api.expect(call{Method: "GET", Path: "/v2/project/{p}/render", Status: 200, Reply: `{"count":0,"items":[]}`})
			if got, err = c.Renders.List(context.Background(), opentok.ListOptions{}); err != nil || got.Count != 0 || len(got.Items) != 0 {
				t.Errorf("empty list %+v, %v", got, err)
			}

			api.expect(call{Method: "GET", Path: "/v2/project/{p}/render", Status: 403, Reply: `{"code":-1,"message":"Invalid token format"}`})
			_, err = c.Renders.List(context.Background(), opentok.ListOptions{})
			wantJoinAPIError(t, api, err, opentok.ErrAuth,
				`render list: the Video API refused the credentials (check the API key and secret, or the application ID and private key) (service said: "Invalid token format") [HTTP 403, GET /v2/project/{p}/render]`)
		})
	}
}

func TestRenderListValidation(t *testing.T) {
	for _, tc := range []struct {
		opts  opentok.ListOptions
		field string
	}{
		{opentok.ListOptions{SessionID: joinSessionID}, "sessionId"}, // renders are not filtered by session
		{opentok.ListOptions{Offset: -1}, "offset"},
		{opentok.ListOptions{Count: 1001}, "count"},
	} {
		api, c := newFakeAPI(t, legacyEnv)
		_, err := c.Renders.List(context.Background(), tc.opts)
		wantJoinValidation(t, api, err, tc.field)
	}
}

func TestRenderStop(t *testing.T) {
	for _, e := range bothEnvs {
		// 200 is what Java and OpenTok Python expect, 204 what Ruby expects (the Experience
		// Composer guide: https://developer.vonage.com/en/video/guides/experience-composer; as
		// the official SDKs send it, which sdk_test.go runs).
		for _, status := range []int{200, 204} {
			t.Run(fmt.Sprintf("%s/%d", e, status), func(t *testing.T) {
				api, c := newFakeAPI(t, e)
				api.expect(call{Method: "DELETE", Path: "/v2/project/{p}/render/" + renderID, Status: status})
				if err := c.Renders.Stop(context.Background(), renderID); err != nil {
					t.Fatal(err)
				}
			})
		}
		t.Run(string(e)+"/errors", func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "DELETE", Path: "/v2/project/{p}/render/" + renderID, Status: 404, Reply: `{"code":404,"message":"Render not found"}`})
			err := c.Renders.Stop(context.Background(), renderID)
			wantJoinAPIError(t, api, err, opentok.ErrNotFound,
				`render stop: no render with that ID exists in this project (service said: "Render not found") [HTTP 404, DELETE /v2/project/{p}/render/`+renderID+`]`)

			// A stop is never retried: after a lost reply the retry would report a missing render.
			api.expect(call{Method: "DELETE", Path: "/v2/project/{p}/render/" + renderID, Status: 503})
			if err := c.Renders.Stop(context.Background(), renderID); err == nil {
				t.Fatal("no error for a 503")
			}
			if n := api.requests(); n != 2 {
				t.Errorf("%d requests; render stop must not be retried", n)
			}
		})
	}
}

func TestRenderValidation(t *testing.T) {
	base := opentok.RenderOptions{SessionID: joinSessionID, Token: joinToken, URL: "https://webapp.customer.com"}
	with := func(f func(*opentok.RenderOptions)) opentok.RenderOptions { o := base; f(&o); return o }
	cases := []struct {
		name  string
		opts  opentok.RenderOptions
		field string
	}{
		{"no session", with(func(o *opentok.RenderOptions) { o.SessionID = "" }), "sessionId"},
		{"no token", with(func(o *opentok.RenderOptions) { o.Token = "" }), "token"},
		{"no url", with(func(o *opentok.RenderOptions) { o.URL = "" }), "url"},
		{"ftp url", with(func(o *opentok.RenderOptions) { o.URL = "ftp://files.example.com/board" }), "url"},
		{"relative url", with(func(o *opentok.RenderOptions) { o.URL = "/board" }), "url"},
		{"too short", with(func(o *opentok.RenderOptions) { o.MaxDuration = 59 }), "maxDuration"},
		{"too long", with(func(o *opentok.RenderOptions) { o.MaxDuration = 36001 }), "maxDuration"},
		{"bad resolution", with(func(o *opentok.RenderOptions) { o.Resolution = "800x600" }), "resolution"},
		{"bad callback", with(func(o *opentok.RenderOptions) { o.StatusCallbackURL = "gavel.example.com/cb" }), "statusCallbackUrl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api, c := newFakeAPI(t, legacyEnv)
			_, err := c.Renders.Start(context.Background(), tc.opts)
			wantJoinValidation(t, api, err, tc.field)
		})
	}
	api, c := newFakeAPI(t, legacyEnv)
	_, err := c.Renders.Get(context.Background(), "")
	wantJoinValidation(t, api, err, "renderId")
	wantJoinValidation(t, api, c.Renders.Stop(context.Background(), "a b"), "renderId")
}
