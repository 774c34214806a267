package opentok_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

const (
	streamSession = "1_MX4xMjM0NTZ-flNhdCBNYXIgMTUgMTQ6NDI6MjMgUERUIDIwMTR-MC40OTAxMzAyNX4"
	streamA       = "1234356-0a06-46a2-8ea8-074e64d43422"
	streamB       = "8b732909-0a06-46a2-8ea8-074e64d43422"
	streamsPath   = "/v2/project/{p}/session/" + streamSession + "/stream"
)

func TestStreamList(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// Ruby cassette OpenTok_Streams/get_all_streams_information.yml (the official SDKs' test fixtures).
			api.expect(call{Method: "GET", Path: streamsPath, Status: 200, Reply: `{
  "count": 2,
  "items": [
    {
      "id": "1234356-0a06-46a2-8ea8-074e64d43422",
      "videoType": "camera",
      "name": "",
      "layoutClassList": ["full", "focus"]
    },
    {
      "id": "8b732909-0a06-46a2-8ea8-074e64d43422",
      "videoType": "screen",
       "name": "",
      "layoutClassList": ["full"]
    }
    ]
}`})
			got, err := c.Streams.List(context.Background(), streamSession)
			if err != nil {
				t.Fatal(err)
			}
			want := []opentok.Stream{
				{ID: streamA, VideoType: opentok.VideoCamera, LayoutClassList: []string{"full", "focus"}},
				{ID: streamB, VideoType: opentok.VideoScreen, LayoutClassList: []string{"full"}},
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("streams\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestStreamListErrors(t *testing.T) {
	// Messages from the OpenAPI description (Vonage's OpenAPI description of the Video API:
	// https://github.com/Vonage/api-specification/blob/master/definitions/video.yml).
	checkErrCases(t, call{Method: "GET", Path: streamsPath}, []errCase{
		{404, `{"code":404,"message":"The session exists but has not had any streams added to it yet."}`, opentok.ErrNotFound,
			`stream list: the session exists but has had no streams (service said: "The session exists but has not had any streams added to it yet.") [HTTP 404, GET /v2/project/{p}/session/` + streamSession + `/stream]`},
		{408, `{"code":408,"message":"You passed in an invalid stream ID."}`, opentok.ErrNotFound,
			`stream list: invalid session ID (service said: "You passed in an invalid stream ID.") [HTTP 408, GET /v2/project/{p}/session/` + streamSession + `/stream]`},
		{400, `{"code":400,"message":"Invalid request. This response may indicate that data in your request data is invalid JSON. Or it may indicate that you do not pass in a session ID or you passed in an invalid stream ID."}`, opentok.ErrInvalid, ""},
		{403, `{"code":403,"message":"You passed in an invalid Vonage JWT token."}`, opentok.ErrAuth, ""},
	}, func(ctx context.Context, c *opentok.Client) error {
		_, err := c.Streams.List(ctx, streamSession)
		return err
	})
}

func TestStreamGet(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// PHP tests/mock/v2/project/APIKEY/session/SESSIONID/stream/STREAMID/get.
			api.expect(call{Method: "GET", Path: streamsPath + "/" + streamB, Status: 200, Reply: `{
  "id":"8b732909-0a06-46a2-8ea8-074e64d43422",
  "videoType":"camera",
  "name":"no name",
  "layoutClassList":["foo"]
}`})
			got, err := c.Streams.Get(context.Background(), streamSession, streamB)
			if err != nil {
				t.Fatal(err)
			}
			want := &opentok.Stream{ID: streamB, VideoType: opentok.VideoCamera, Name: "no name", LayoutClassList: []string{"foo"}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("stream %+v, want %+v", got, want)
			}
		})
	}
}

func TestStreamGetErrors(t *testing.T) {
	checkErrCases(t, call{Method: "GET", Path: streamsPath + "/" + streamB}, []errCase{
		{404, `{"code":404,"message":"The session exists but has not had any streams added to it yet."}`, opentok.ErrNotFound,
			`stream get: no such stream in the session (service said: "The session exists but has not had any streams added to it yet.") [HTTP 404, GET /v2/project/{p}/session/` + streamSession + `/stream/` + streamB + `]`},
		{408, `{"code":408,"message":"You passed in an invalid stream ID."}`, opentok.ErrNotFound,
			`stream get: no such stream in the session (service said: "You passed in an invalid stream ID.") [HTTP 408, GET /v2/project/{p}/session/` + streamSession + `/stream/` + streamB + `]`},
		{400, `{"code":400,"message":"Invalid request. This response may indicate that data in your request data is invalid JSON. Or it may indicate that you do not pass in a session ID or you passed in an invalid stream ID."}`, opentok.ErrInvalid, ""},
		{401, `{"code":401,"message":"Unauthorized"}`, opentok.ErrAuth, ""},
	}, func(ctx context.Context, c *opentok.Client) error {
		_, err := c.Streams.Get(ctx, streamSession, streamB)
		return err
	})
}

func TestStreamSetLayoutClasses(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// A stream given no classes is sent [] (clears them), never null.
			api.expect(call{Method: "PUT", Path: streamsPath,
				Body:   `{"items":[{"id":"1234356-0a06-46a2-8ea8-074e64d43422","layoutClassList":["full","focus"]},{"id":"8b732909-0a06-46a2-8ea8-074e64d43422","layoutClassList":[]}]}`,
				Status: 200})
			err := c.Streams.SetLayoutClasses(context.Background(), streamSession, []opentok.StreamClasses{
				{ID: streamA, LayoutClassList: []string{"full", "focus"}},
				{ID: streamB},
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestStreamSetLayoutClassesRetried(t *testing.T) {
	// A layout PUT sets the classes, so it is safe to repeat.
	mustRetryOnce(t, unifiedEnv, call{Method: "PUT", Path: streamsPath,
		Body: `{"items":[{"id":"8b732909-0a06-46a2-8ea8-074e64d43422","layoutClassList":["full"]}]}`}, 503, 200,
		func(ctx context.Context, c *opentok.Client) error {
			return c.Streams.SetLayoutClasses(ctx, streamSession, []opentok.StreamClasses{{ID: streamB, LayoutClassList: []string{"full"}}})
		})
}

func TestStreamSetLayoutClassesErrors(t *testing.T) {
	checkErrCases(t, call{Method: "PUT", Path: streamsPath, Body: `{"items":[{"id":"8b732909-0a06-46a2-8ea8-074e64d43422","layoutClassList":["full"]}]}`}, []errCase{
		{400, `{"code":400,"message":"Invalid request. This response may indicate that data in your request data is invalid JSON. It may also indicate that you passed in invalid layout options."}`, opentok.ErrInvalid,
			`stream layout classes: the service refused the stream IDs or layout classes (service said: "Invalid request. This response may indicate that data in your request data is invalid JSON. It may also indicate that you passed in invalid layout options.") [HTTP 400, PUT /v2/project/{p}/session/` + streamSession + `/stream]`},
		{403, `{"code":403,"message":"Authentication error"}`, opentok.ErrAuth, ""},
	}, func(ctx context.Context, c *opentok.Client) error {
		return c.Streams.SetLayoutClasses(ctx, streamSession, []opentok.StreamClasses{{ID: streamB, LayoutClassList: []string{"full"}}})
	})
}

func TestStreamValidation(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	ctx := context.Background()
	_, err := c.Streams.List(ctx, "")
	mustRefuseField(t, err, "sessionId")
	_, err = c.Streams.List(ctx, "1_abc def")
	mustRefuseField(t, err, "sessionId")
	_, err = c.Streams.Get(ctx, streamSession, "")
	mustRefuseField(t, err, "streamId")
	_, err = c.Streams.Get(ctx, "", streamB)
	mustRefuseField(t, err, "sessionId")
	mustRefuseField(t, c.Streams.SetLayoutClasses(ctx, streamSession, nil), "items")
	mustRefuseField(t, c.Streams.SetLayoutClasses(ctx, streamSession, []opentok.StreamClasses{
		{ID: streamA, LayoutClassList: []string{"full"}}, {LayoutClassList: []string{"focus"}},
	}), "items[1].id")
	mustRefuseField(t, c.Streams.SetLayoutClasses(ctx, "", []opentok.StreamClasses{{ID: streamA}}), "sessionId")
	mustNotSend(t, api)
}
