package opentok_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

// broadcastUnifiedJSON is vonage-python video/tests/data/broadcast.json.
const broadcastUnifiedJSON = `{
    "id": "f03fad17-4591-4422-8bd3-00a4df1e616a",
    "sessionId": "test_session_id",
    "applicationId": "test_application_id",
    "createdAt": 1728039361014,
    "broadcastUrls": {
        "rtmp": [
            {
                "status": "connecting",
                "id": "test",
                "serverUrl": "rtmp://a.rtmp.youtube.com/live2",
                "streamName": "stream-key"
            }
        ],
        "hls": "https://broadcast2-euw1-cdn.media.prod.tokbox.com/broadcast-57d6569497-dj9b2.10293/broadcast-57d6569497-dj9b2.10293_f03fad17-4591-4422-8bd3-00a4df1e616a_29f760f8-7ce1-46c9-ade3-f2dedee4ed5f.2_MX4yOWY3NjBmOC03Y2UxLTQ2YzktYWRlMy1mMmRlZGVlNGVkNWZ-fjE3MjgwMzY0MTUzMDd-V2swbzlzeUppaGZIVTFzYUQwamdYM0Ryfn5-.smil/playlist.m3u8?DVR"
    },
    "updatedAt": 1728039361511,
    "status": "started",
    "streamMode": "auto",
    "hasAudio": true,
    "hasVideo": true,
    "maxDuration": 3600,
    "multiBroadcastTag": "test-broadcast-5",
    "maxBitrate": 1000000,
    "settings": {
        "hls": {
            "lowLatency": false,
            "dvr": true
        }
    },
    "event": "broadcast",
    "resolution": "1280x720"
}`

const compBroadcastID = "f03fad17-4591-4422-8bd3-00a4df1e616a"

// broadcastFixture answers in each environment's shape: applicationId in the
// unified one, projectId in the legacy one.
func broadcastFixture(e env) string {
	if e == unifiedEnv {
		return broadcastUnifiedJSON
	}
	return strings.Replace(broadcastUnifiedJSON, `"applicationId": "test_application_id"`, `"projectId": "47665971"`, 1)
}

// broadcastStoppedJSON is the OpenTok PHP SDK's
// tests/mock/v2/project/APIKEY/broadcast/BROADCASTID/stop: numeric
// projectId and partnerId, broadcastUrls null.
const broadcastStoppedJSON = `{
  "id":"6706b658-2eba-42cc-b4d2-7d01a104d182",
  "sessionId":"2_MX44NTQ1MTF-fjE0NzI0MzU2MDUyMjN-eVgwNFJhZmR6MjdockFHanpxNzBXaEFXfn4",
  "projectId":854511,
  "createdAt":1472435660275,
  "broadcastUrls":null,
  "updatedAt":1472435660275,
  "resolution": "640x480",
  "status":"stopped",
  "partnerId":854511
}`

// broadcastListJSON is the OpenTok PHP SDK's tests/mock/v2/project/APIKEY/broadcast/get_by_sessionId.
const broadcastListJSON = `{
  "count" : 2,
  "items" : [ {
    "id":"6706b658-2eba-42cc-b4d2-7d01a104d182",
    "sessionId":"1_MX4xMjM0NTY3OH4-VGh1IEZlYiAyNyAwNDozODozMSBQU1QgMjAxNH4wLjI0NDgyMjI",
    "projectId":854511,
    "createdAt":1472435660275,
    "broadcastUrls":null,
    "updatedAt":1472435660275,
    "status":"stopped",
    "partnerId":854511
  }, {
   "id":"7706b658-2eba-42cc-b4d2-7d01a104d102",
    "sessionId":"1_MX4xMjM0NTY3OH4-VGh1IEZlYiAyNyAwNDozODozMSBQU1QgMjAxNH4wLjI0NDgyMjI",
    "projectId":854511,
    "createdAt":1472435660275,
    "broadcastUrls":null,
    "updatedAt":1472435660275,
    "status":"started",
    "partnerId":854511
  } ]
}`

func youTube() opentok.RTMPOutput {
	return opentok.RTMPOutput{ID: "test", ServerURL: "rtmp://a.rtmp.youtube.com/live2", StreamName: "stream-key"}
}

func TestBroadcastStart(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{
				Method: "POST", Path: "/v2/project/{p}/broadcast",
				Body: `{"sessionId":"` + compSessionID + `","layout":{"type":"verticalPresentation"},
					"outputs":{"hls":{"dvr":true},"rtmp":[{"id":"test","serverUrl":"rtmp://a.rtmp.youtube.com/live2","streamName":"stream-key"}]},
					"resolution":"1280x720","maxDuration":3600,"maxBitrate":1000000,"streamMode":"auto",
					"multiBroadcastTag":"test-broadcast-5","hasAudio":true,"hasVideo":true}`,
				Status: 200, Reply: broadcastFixture(e),
			})
			b, err := c.Broadcasts.Start(context.Background(), opentok.BroadcastOptions{
				SessionID: compSessionID,
				Layout:    &opentok.Layout{Type: opentok.LayoutVerticalPresentation},
				Outputs: opentok.BroadcastOutputs{
					HLS:  &opentok.HLSOutput{DVR: true},
					RTMP: []opentok.RTMPOutput{youTube()},
				},
				Resolution: "1280x720", MaxDuration: 3600, MaxBitrate: 1_000_000, StreamMode: opentok.StreamModeAuto,
				MultiBroadcastTag: "test-broadcast-5", HasAudio: compBool(true), HasVideo: compBool(true),
			})
			if err != nil {
				t.Fatal(err)
			}
			u := b.BroadcastURLs
			if b.ID != compBroadcastID || b.Status != opentok.BroadcastStarted || b.SessionID != "test_session_id" ||
				b.CreatedAt != 1728039361014 || b.UpdatedAt != 1728039361511 || b.MaxDuration != 3600 ||
				b.MaxBitrate != 1000000 || b.Resolution != "1280x720" || b.StreamMode != opentok.StreamModeAuto ||
				b.MultiBroadcastTag != "test-broadcast-5" || !b.HasAudio || !b.HasVideo || b.Event != "broadcast" ||
				b.Settings.HLS == nil || !b.Settings.HLS.DVR || b.Settings.HLS.LowLatency ||
				!strings.HasSuffix(u.HLS, "/playlist.m3u8?DVR") || len(u.RTMP) != 1 ||
				u.RTMP[0] != (opentok.RTMPStatus{ID: "test", ServerURL: "rtmp://a.rtmp.youtube.com/live2", StreamName: "stream-key", Status: "connecting"}) {
				t.Errorf("broadcast %+v", b)
			}
			owner, want := b.ApplicationID, "test_application_id"
			if e == legacyEnv {
				owner, want = string(b.ProjectID), "47665971"
			}
			if owner != want {
				t.Errorf("owner %q, want %q", owner, want)
			}
		})
	}
}

// Absent options are not sent; an HLS output with no flags is sent as {}.
func TestBroadcastStartSendsOnlyWhatIsSet(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(
				call{Method: "POST", Path: "/v2/project/{p}/broadcast", Body: `{"sessionId":"` + compSessionID + `","outputs":{"hls":{}}}`, Status: 200, Reply: broadcastFixture(e)},
				call{Method: "POST", Path: "/v2/project/{p}/broadcast", Body: `{"sessionId":"` + compSessionID + `","outputs":{"hls":{"lowLatency":true}},"hasVideo":false}`, Status: 200, Reply: broadcastFixture(e)},
			)
			ctx := context.Background()
			if _, err := c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: compSessionID, Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: compSessionID, HasVideo: compBool(false),
				Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{LowLatency: true}}}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestBroadcastStartValidation(t *testing.T) {
	hls := opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{}}
	six := make([]opentok.RTMPOutput, 6)
	for i := range six {
		six[i] = youTube()
	}
	noKey := youTube()
	noKey.StreamName = ""
	noServer := youTube()
	noServer.ServerURL = " "
	cases := []struct {
		opts  opentok.BroadcastOptions
		field string
	}{
		{opentok.BroadcastOptions{Outputs: hls}, "sessionId"},
		{opentok.BroadcastOptions{SessionID: compSessionID}, "outputs"},
		{opentok.BroadcastOptions{SessionID: compSessionID, Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{DVR: true, LowLatency: true}}}, "outputs.hls.lowLatency"},
		{opentok.BroadcastOptions{SessionID: compSessionID, Outputs: opentok.BroadcastOutputs{RTMP: six}}, "outputs.rtmp"},
		{opentok.BroadcastOptions{SessionID: compSessionID, Outputs: opentok.BroadcastOutputs{RTMP: []opentok.RTMPOutput{youTube(), noKey}}}, "outputs.rtmp[1].streamName"},
		{opentok.BroadcastOptions{SessionID: compSessionID, Outputs: opentok.BroadcastOutputs{RTMP: []opentok.RTMPOutput{noServer}}}, "outputs.rtmp[0].serverUrl"},
		{opentok.BroadcastOptions{SessionID: compSessionID, Outputs: hls, Resolution: "1024x768"}, "resolution"},
		{opentok.BroadcastOptions{SessionID: compSessionID, Outputs: hls, MaxDuration: -1}, "maxDuration"},
		{opentok.BroadcastOptions{SessionID: compSessionID, Outputs: hls, MaxBitrate: -1}, "maxBitrate"},
		{opentok.BroadcastOptions{SessionID: compSessionID, Outputs: hls, StreamMode: "manually"}, "streamMode"},
		{opentok.BroadcastOptions{SessionID: compSessionID, Outputs: hls, Layout: &opentok.Layout{Type: opentok.LayoutCustom}}, "layout.stylesheet"},
	}
	for _, tc := range cases {
		api, c := newFakeAPI(t, unifiedEnv)
		_, err := c.Broadcasts.Start(context.Background(), tc.opts)
		wantInvalid(t, api, err, tc.field)
	}
	// Five RTMP outputs are allowed.
	api, c := newFakeAPI(t, legacyEnv)
	var body strings.Builder
	body.WriteString(`{"sessionId":"` + compSessionID + `","outputs":{"rtmp":[`)
	for i := range 5 {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(`{"id":"test","serverUrl":"rtmp://a.rtmp.youtube.com/live2","streamName":"stream-key"}`)
	}
	body.WriteString(`]}}`)
	api.expect(call{Method: "POST", Path: "/v2/project/{p}/broadcast", Body: body.String(), Status: 200, Reply: broadcastFixture(legacyEnv)})
	if _, err := c.Broadcasts.Start(context.Background(), opentok.BroadcastOptions{SessionID: compSessionID, Outputs: opentok.BroadcastOutputs{RTMP: six[:5]}}); err != nil {
		t.Fatal(err)
	}
}

func TestBroadcastStartErrors(t *testing.T) {
	body := `{"sessionId":"` + compSessionID + `","outputs":{"hls":{}}}`
	start := func(ctx context.Context, c *opentok.Client) error {
		_, err := c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: compSessionID, Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{}}})
		return err
	}
	checkErrCases(t, call{Method: "POST", Path: "/v2/project/{p}/broadcast", Body: body}, []errCase{
		{400, `{"code":-1,"message":"Invalid request. You can only have up to 5 RTMP destinations"}`, opentok.ErrInvalid,
			`broadcast start: the service refused the broadcast options (service said: "Invalid request. You can only have up to 5 RTMP destinations") [HTTP 400, POST /v2/project/{p}/broadcast]`},
		{403, `{"code":-1,"message":"Invalid token"}`, opentok.ErrAuth, ""},
		{409, `{"code":-1,"message":"The session is already being broadcast"}`, opentok.ErrConflict,
			`broadcast start: the session is already being broadcast — give each simultaneous broadcast its own multiBroadcastTag (service said: "The session is already being broadcast") [HTTP 409, POST /v2/project/{p}/broadcast]`},
		{409, `{"code":-1,"message":"Conflict"}`, opentok.ErrConflict,
			`broadcast start: the session is already being broadcast — give each simultaneous broadcast its own multiBroadcastTag (service said: "Conflict") [HTTP 409, POST /v2/project/{p}/broadcast]`},
		{409, `{"code":-1,"message":"Broadcasting requires a routed session"}`, opentok.ErrConflict,
			`broadcast start: the session is relayed — broadcasting needs a routed session (service said: "Broadcasting requires a routed session") [HTTP 409, POST /v2/project/{p}/broadcast]`},
	}, start)
	// A start acts: a 503 is returned, not repeated.
	wantSentence(t, call{Method: "POST", Path: "/v2/project/{p}/broadcast", Body: body, Status: 503, Reply: `{"code":-1,"message":"Service Unavailable"}`},
		`broadcast start: the Video API is temporarily unavailable; try again (service said: "Service Unavailable") [HTTP 503, POST /v2/project/{p}/broadcast]`, start)
}

func TestBroadcastStop(t *testing.T) {
	const id = "6706b658-2eba-42cc-b4d2-7d01a104d182"
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/broadcast/" + id + "/stop", Status: 200, Reply: broadcastStoppedJSON})
			b, err := c.Broadcasts.Stop(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if b.ID != id || b.Status != opentok.BroadcastStopped || b.ProjectID != "854511" || b.PartnerID != "854511" ||
				b.Resolution != "640x480" || b.CreatedAt != 1472435660275 || b.BroadcastURLs.HLS != "" || b.BroadcastURLs.RTMP != nil ||
				b.SessionID != "2_MX44NTQ1MTF-fjE0NzI0MzU2MDUyMjN-eVgwNFJhZmR6MjdockFHanpxNzBXaEFXfn4" {
				t.Errorf("broadcast %+v", b)
			}
		})
	}
}

func TestBroadcastStopErrors(t *testing.T) {
	path := "/v2/project/{p}/broadcast/" + compBroadcastID + "/stop"
	stop := func(ctx context.Context, c *opentok.Client) error {
		_, err := c.Broadcasts.Stop(ctx, compBroadcastID)
		return err
	}
	checkErrCases(t, call{Method: "POST", Path: path}, []errCase{
		{400, `{"code":-1,"message":"Invalid broadcast ID"}`, opentok.ErrInvalid, ""},
		{403, `{"code":-1,"message":"Invalid token"}`, opentok.ErrAuth, ""},
		{404, `{"code":-1,"message":"Broadcast not found"}`, opentok.ErrNotFound,
			`broadcast stop: the broadcast does not exist (service said: "Broadcast not found") [HTTP 404, POST /v2/project/{p}/broadcast/` + compBroadcastID + `/stop]`},
		{409, `{"code":-1,"message":"Broadcast not found or already stopped"}`, opentok.ErrConflict,
			`broadcast stop: the broadcast is not running (service said: "Broadcast not found or already stopped") [HTTP 409, POST /v2/project/{p}/broadcast/` + compBroadcastID + `/stop]`},
	}, stop)
	// A stop acts: a 503 is returned, not repeated.
	wantSentence(t, call{Method: "POST", Path: path, Status: 503},
		`broadcast stop: the Video API is temporarily unavailable; try again [HTTP 503, POST /v2/project/{p}/broadcast/`+compBroadcastID+`/stop]`, stop)
	// vonage-python fixture: a stop that timed out is reported, not retried.
	wantSentence(t, call{Method: "POST", Path: path, Status: 408, Reply: `{"code":-1,"message":"Request timed out."}`},
		`broadcast stop: the service timed out stopping the broadcast; check its status before trying again (service said: "Request timed out.") [HTTP 408, POST /v2/project/{p}/broadcast/`+compBroadcastID+`/stop]`, stop)
	api, c := newFakeAPI(t, legacyEnv)
	_, err := c.Broadcasts.Stop(context.Background(), "")
	wantInvalid(t, api, err, "broadcastId")
}

func TestBroadcastGet(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			// A flaky first answer is retried: a get is safe to repeat.
			api.expect(
				call{Method: "GET", Path: "/v2/project/{p}/broadcast/" + compBroadcastID, Status: 502},
				call{Method: "GET", Path: "/v2/project/{p}/broadcast/" + compBroadcastID, Status: 200, Reply: broadcastFixture(e)},
			)
			b, err := c.Broadcasts.Get(context.Background(), compBroadcastID)
			if err != nil {
				t.Fatal(err)
			}
			if b.ID != compBroadcastID || b.Status != opentok.BroadcastStarted || b.BroadcastURLs.RTMP[0].Status != "connecting" || api.requests() != 2 {
				t.Errorf("broadcast %+v after %d requests", b, api.requests())
			}
		})
	}
}

func TestBroadcastGetErrors(t *testing.T) {
	checkErrCases(t, call{Method: "GET", Path: "/v2/project/{p}/broadcast/" + compBroadcastID}, []errCase{
		{400, `{"code":-1,"message":"Invalid broadcast ID"}`, opentok.ErrInvalid, ""},
		{403, `{"code":-1,"message":"Invalid token"}`, opentok.ErrAuth, ""},
		{404, `{"code":-1,"message":"Not found"}`, opentok.ErrNotFound,
			`broadcast get: the broadcast does not exist (service said: "Not found") [HTTP 404, GET /v2/project/{p}/broadcast/` + compBroadcastID + `]`},
	}, func(ctx context.Context, c *opentok.Client) error {
		_, err := c.Broadcasts.Get(ctx, compBroadcastID)
		return err
	})
}

func TestBroadcastList(t *testing.T) {
	const sid = "1_MX4xMjM0NTY3OH4-VGh1IEZlYiAyNyAwNDozODozMSBQU1QgMjAxNH4wLjI0NDgyMjI"
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "GET", Path: "/v2/project/{p}/broadcast", Query: url.Values{"count": {"1000"}, "sessionId": {sid}},
				Status: 200, Reply: broadcastListJSON})
			l, err := c.Broadcasts.List(context.Background(), opentok.ListOptions{Count: 1000, SessionID: sid})
			if err != nil {
				t.Fatal(err)
			}
			if l.Count != 2 || len(l.Items) != 2 || l.Items[0].Status != opentok.BroadcastStopped ||
				l.Items[1].ID != "7706b658-2eba-42cc-b4d2-7d01a104d102" || l.Items[1].Status != opentok.BroadcastStarted ||
				l.Items[1].ProjectID != "854511" || l.Items[1].SessionID != sid {
				t.Errorf("list %+v", l)
			}
		})
	}
}

func TestBroadcastListErrors(t *testing.T) {
	checkErrCases(t, call{Method: "GET", Path: "/v2/project/{p}/broadcast", Query: url.Values{"offset": {"50"}}}, []errCase{
		{403, `{"code":-1,"message":"Invalid token"}`, opentok.ErrAuth,
			`broadcast list: the Video API refused the credentials (check the API key and secret, or the application ID and private key) (service said: "Invalid token") [HTTP 403, GET /v2/project/{p}/broadcast]`},
	}, func(ctx context.Context, c *opentok.Client) error {
		_, err := c.Broadcasts.List(ctx, opentok.ListOptions{Offset: 50})
		return err
	})
	api, c := newFakeAPI(t, unifiedEnv)
	_, err := c.Broadcasts.List(context.Background(), opentok.ListOptions{Count: -5})
	wantInvalid(t, api, err, "count")
}
