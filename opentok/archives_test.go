package opentok_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

// Fixtures. archiveUnifiedJSON is vonage-python video/tests/data/archive.json
// (github.com/Vonage/vonage-python-sdk); the legacy variant is the same object with the
// legacy owner key.
const archiveUnifiedJSON = `{
    "id": "5b1521e6-115f-4efd-bed9-e527b87f0699",
    "status": "started",
    "name": "first archive test",
    "reason": "",
    "sessionId": "test_session_id",
    "applicationId": "test_application_id",
    "createdAt": 1727870434974,
    "size": 0,
    "duration": 0,
    "outputMode": "composed",
    "streamMode": "manual",
    "hasAudio": true,
    "hasVideo": true,
    "hasTranscription": false,
    "sha256sum": "",
    "password": "",
    "updatedAt": 1727870434977,
    "multiArchiveTag": "my-multi-archive",
    "event": "archive",
    "resolution": "1280x720",
    "url": null,
    "maxBitrate": 2000000,
    "quantizationParameter": 25
}`

const compArchiveID = "5b1521e6-115f-4efd-bed9-e527b87f0699"

// archiveFixture answers in the shape of each environment: unified replies
// carry applicationId, legacy ones projectId.
func archiveFixture(e env) string {
	if e == unifiedEnv {
		return archiveUnifiedJSON
	}
	return strings.Replace(archiveUnifiedJSON, `"applicationId": "test_application_id"`, `"projectId": "47665971"`, 1)
}

// archiveStoppedJSON is the OpenTok PHP SDK's tests/mock/v2/project/APIKEY/archive/ARCHIVEID/stop
// body: partnerId is a number and url null.
const archiveStoppedJSON = `{
  "createdAt" : 1394394801000,
  "duration" : 0,
  "id" : "063e72a4-64b4-43c8-9da5-eca071daab89",
  "name" : "showtime",
  "partnerId" : 854511,
  "reason" : "",
  "sessionId" : "2_MX44NTQ1MTF-flR1ZSBOb3YgMTIgMDk6NDA6NTkgUFNUIDIwMTN-MC43NjU0Nzh-",
  "size" : 0,
  "status" : "stopped",
  "url" : null
}`

// archiveTranscribedJSON is vonage-python video/tests/data/archive_with_transcription.json.
const archiveTranscribedJSON = `{
    "id": "5b1521e6-115f-4efd-bed9-e527b87f0699",
    "status": "available",
    "name": "archive with transcription",
    "reason": "session ended",
    "sessionId": "test_session_id",
    "applicationId": "test_application_id",
    "createdAt": 1727870434974,
    "size": 1048576,
    "duration": 180,
    "outputMode": "individual",
    "streamMode": "auto",
    "hasAudio": true,
    "hasVideo": true,
    "hasTranscription": true,
    "sha256sum": "abc123def456",
    "password": "",
    "updatedAt": 1727870634977,
    "multiArchiveTag": "",
    "event": "archive",
    "resolution": "1280x720",
    "url": "https://example.com/archive.mp4",
    "transcription": {
        "status": "completed",
        "reason": "transcription completed successfully",
        "url": "https://example.com/transcription.json",
        "primaryLanguageCode": "en-US",
        "hasSummary": true
    }
}`

// archiveListJSON is the OpenTok PHP SDK's tests/mock/v2/project/APIKEY/archive/get body.
const archiveListJSON = `{
  "count" : 2,
  "items" : [ {
    "createdAt" : 1394396753000,
    "duration" : 24,
    "id" : "b8f64de1-e218-4091-9544-4cbf369fc238",
    "name" : "showtime again",
    "partnerId" : 854511,
    "reason" : "",
    "sessionId" : "2_MX44NTQ1MTF-flR1ZSBOb3YgMTIgMDk6NDA6NTkgUFNUIDIwMTN-MC43NjU0Nzh-",
    "size" : 2227849,
    "status" : "available",
    "url" : "http://tokbox.com.archive2.s3.amazonaws.com/854511%2Fb8f64de1-e218-4091-9544-4cbf369fc238%2Farchive.mp4?Expires=1394397391&AWSAccessKeyId=AKIAI6LQCPIXYVWCQV6Q&Signature=XXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
  }, {
    "createdAt" : 1394321113000,
    "duration" : 1294,
    "id" : "832641bf-5dbf-41a1-ad94-fea213e59a92",
    "name" : "showtime",
    "partnerId" : 854511,
    "reason" : "",
    "sessionId" : "2_MX44NTQ1MTF-flR1ZSBOb3YgMTIgMDk6NDA6NTkgUFNUIDIwMTN-MC43NjU0Nzh-",
    "size" : 42165242,
    "status" : "available",
    "url" : "http://tokbox.com.archive2.s3.amazonaws.com/854511%2F832641bf-5dbf-41a1-ad94-fea213e59a92%2Farchive.mp4?Expires=1394397391&AWSAccessKeyId=AKIAI6LQCPIXYVWCQV6Q&Signature=XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
  } ]
}`

const compSessionID = "1_MX40NzY2NTk3MX5-MTczOTUzODg5NDk1OX5ROW1jWEcxUXJOM1RJWXU4eStwcHgvZ3N-UH5-"

func compBool(b bool) *bool { return &b }

// wantInvalid checks a ValidationError naming field, and that nothing was sent.
func wantInvalid(t *testing.T, api *fakeAPI, err error, field string) {
	t.Helper()
	mustRefuseField(t, err, field)
	mustNotSend(t, api)
}

// wantSentence sends req once per environment and checks the exact error
// sentence, for statuses no sentinel covers (405, 408). {p} in want stands
// for the project ID.
func wantSentence(t *testing.T, req call, want string, send func(context.Context, *opentok.Client) error) {
	t.Helper()
	for _, e := range bothEnvs {
		api, c := newFakeAPI(t, e)
		api.expect(req)
		err := send(context.Background(), c)
		var apiErr *opentok.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != req.Status {
			t.Fatalf("%s: err %v, want an *APIError with status %d", e, err, req.Status)
		}
		if want := strings.ReplaceAll(want, "{p}", api.projectID); err.Error() != want {
			t.Errorf("%s: error\n got %s\nwant %s", e, err, want)
		}
		if api.requests() != 1 {
			t.Errorf("%s: %d requests, want 1", e, api.requests())
		}
	}
}

func TestArchiveStart(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{
				Method: "POST", Path: "/v2/project/{p}/archive",
				Body: `{"sessionId":"` + compSessionID + `","name":"first archive test","hasAudio":true,"hasVideo":true,
					"outputMode":"composed","resolution":"1280x720","layout":{"type":"bestFit","screenshareType":"pip"},
					"streamMode":"manual","multiArchiveTag":"my-multi-archive","maxBitrate":2000000}`,
				Status: 200, Reply: archiveFixture(e),
			})
			a, err := c.Archives.Start(context.Background(), opentok.ArchiveOptions{
				SessionID: compSessionID, Name: "first archive test", HasAudio: compBool(true), HasVideo: compBool(true),
				OutputMode: opentok.OutputComposed, Resolution: "1280x720",
				Layout:     &opentok.Layout{Type: opentok.LayoutBestFit, ScreenshareType: opentok.LayoutPIP},
				StreamMode: opentok.StreamModeManual, MultiArchiveTag: "my-multi-archive", MaxBitrate: 2000000,
			})
			if err != nil {
				t.Fatal(err)
			}
			if a.ID != compArchiveID || a.Status != opentok.ArchiveStarted || !a.Status.Recording() ||
				a.Name != "first archive test" || a.SessionID != "test_session_id" ||
				a.CreatedAt != 1727870434974 || a.UpdatedAt != 1727870434977 ||
				a.OutputMode != opentok.OutputComposed || a.StreamMode != opentok.StreamModeManual ||
				!a.HasAudio || !a.HasVideo || a.Resolution != "1280x720" || a.URL != "" ||
				a.MaxBitrate != 2000000 || a.QuantizationParameter != 25 || a.MultiArchiveTag != "my-multi-archive" ||
				a.Event != "archive" || a.HasTranscription || a.Transcription != nil {
				t.Errorf("archive %+v", a)
			}
			owner := a.ApplicationID
			want := "test_application_id"
			if e == legacyEnv {
				owner, want = string(a.ProjectID), "47665971"
			}
			if owner != want {
				t.Errorf("owner %q, want %q (archive %+v)", owner, want, a)
			}
		})
	}
}

// Absent options are not sent, and false is sent when it is asked for.
func TestArchiveStartSendsOnlyWhatIsSet(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(
				call{Method: "POST", Path: "/v2/project/{p}/archive", Body: `{"sessionId":"` + compSessionID + `"}`, Status: 200, Reply: archiveFixture(e)},
				call{Method: "POST", Path: "/v2/project/{p}/archive", Body: `{"sessionId":"` + compSessionID + `","hasVideo":false,"quantizationParameter":25}`, Status: 200, Reply: archiveFixture(e)},
				call{Method: "POST", Path: "/v2/project/{p}/archive",
					Body:   `{"sessionId":"` + compSessionID + `","outputMode":"individual","hasTranscription":true,"transcriptionProperties":{"primaryLanguageCode":"en-US","hasSummary":true}}`,
					Status: 200, Reply: archiveTranscribedJSON},
			)
			ctx := context.Background()
			if _, err := c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: compSessionID}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: compSessionID, HasVideo: compBool(false), QuantizationParameter: 25}); err != nil {
				t.Fatal(err)
			}
			a, err := c.Archives.Start(ctx, opentok.ArchiveOptions{
				SessionID: compSessionID, OutputMode: opentok.OutputIndividual, HasTranscription: true,
				TranscriptionProperties: &opentok.TranscriptionProperties{PrimaryLanguageCode: "en-US", HasSummary: true},
			})
			if err != nil {
				t.Fatal(err)
			}
			tr := a.Transcription
			if a.Status != opentok.ArchiveAvailable || a.Status.Recording() || !a.HasTranscription || tr == nil ||
				tr.Status != "completed" || tr.URL != "https://example.com/transcription.json" ||
				tr.PrimaryLanguageCode != "en-US" || !tr.HasSummary || tr.Reason != "transcription completed successfully" ||
				a.URL != "https://example.com/archive.mp4" || a.Size != 1048576 || a.Duration != 180 ||
				a.Reason != "session ended" || a.SHA256Sum != "abc123def456" || a.OutputMode != opentok.OutputIndividual {
				t.Errorf("archive %+v transcription %+v", a, tr)
			}
		})
	}
}

func TestArchiveStartValidation(t *testing.T) {
	sid := compSessionID
	bestFit := &opentok.Layout{Type: opentok.LayoutBestFit}
	cases := []struct {
		opts  opentok.ArchiveOptions
		field string
	}{
		{opentok.ArchiveOptions{}, "sessionId"},
		{opentok.ArchiveOptions{SessionID: "1_abc def"}, "sessionId"},
		{opentok.ArchiveOptions{SessionID: sid, HasAudio: compBool(false), HasVideo: compBool(false)}, "hasAudio"},
		{opentok.ArchiveOptions{SessionID: sid, OutputMode: "mixed"}, "outputMode"},
		{opentok.ArchiveOptions{SessionID: sid, StreamMode: "Manual"}, "streamMode"},
		{opentok.ArchiveOptions{SessionID: sid, Resolution: "800x600"}, "resolution"},
		{opentok.ArchiveOptions{SessionID: sid, OutputMode: opentok.OutputIndividual, Resolution: "1280x720"}, "resolution"},
		{opentok.ArchiveOptions{SessionID: sid, OutputMode: opentok.OutputIndividual, Layout: bestFit}, "layout"},
		{opentok.ArchiveOptions{SessionID: sid, Layout: &opentok.Layout{Type: "grid"}}, "layout.type"},
		{opentok.ArchiveOptions{SessionID: sid, Layout: &opentok.Layout{}}, "layout.type"},
		{opentok.ArchiveOptions{SessionID: sid, Layout: &opentok.Layout{Type: opentok.LayoutCustom}}, "layout.stylesheet"},
		{opentok.ArchiveOptions{SessionID: sid, Layout: &opentok.Layout{Type: opentok.LayoutPIP, Stylesheet: "stream.instructor {}"}}, "layout.stylesheet"},
		{opentok.ArchiveOptions{SessionID: sid, Layout: &opentok.Layout{Type: opentok.LayoutPIP, ScreenshareType: opentok.LayoutBestFit}}, "layout.screenshareType"},
		{opentok.ArchiveOptions{SessionID: sid, Layout: &opentok.Layout{Type: opentok.LayoutBestFit, ScreenshareType: opentok.LayoutCustom}}, "layout.screenshareType"},
		{opentok.ArchiveOptions{SessionID: sid, MaxBitrate: 99_999}, "maxBitrate"},
		{opentok.ArchiveOptions{SessionID: sid, MaxBitrate: 6_000_001}, "maxBitrate"},
		{opentok.ArchiveOptions{SessionID: sid, OutputMode: opentok.OutputIndividual, MaxBitrate: 2_000_000}, "maxBitrate"},
		{opentok.ArchiveOptions{SessionID: sid, QuantizationParameter: 14}, "quantizationParameter"},
		{opentok.ArchiveOptions{SessionID: sid, QuantizationParameter: 41}, "quantizationParameter"},
		{opentok.ArchiveOptions{SessionID: sid, MaxBitrate: 2_000_000, QuantizationParameter: 25}, "quantizationParameter"},
		{opentok.ArchiveOptions{SessionID: sid, OutputMode: opentok.OutputIndividual, QuantizationParameter: 25}, "quantizationParameter"},
		{opentok.ArchiveOptions{SessionID: sid, HasTranscription: true}, "hasTranscription"},
		{opentok.ArchiveOptions{SessionID: sid, OutputMode: opentok.OutputIndividual, TranscriptionProperties: &opentok.TranscriptionProperties{PrimaryLanguageCode: "en-US"}}, "transcriptionProperties"},
	}
	for _, tc := range cases {
		api, c := newFakeAPI(t, legacyEnv)
		_, err := c.Archives.Start(context.Background(), tc.opts)
		wantInvalid(t, api, err, tc.field)
	}
	// The boundaries themselves are allowed: this one is sent.
	api, c := newFakeAPI(t, legacyEnv)
	api.expect(call{Method: "POST", Path: "/v2/project/{p}/archive",
		Body:   `{"sessionId":"` + sid + `","hasAudio":false,"maxBitrate":6000000,"layout":{"type":"custom","stylesheet":"stream.instructor {position: absolute; width: 100%; height:50%;}"}}`,
		Status: 200, Reply: archiveFixture(legacyEnv)})
	if _, err := c.Archives.Start(context.Background(), opentok.ArchiveOptions{SessionID: sid, HasAudio: compBool(false), MaxBitrate: 6_000_000,
		Layout: &opentok.Layout{Type: opentok.LayoutCustom, Stylesheet: "stream.instructor {position: absolute; width: 100%; height:50%;}"}}); err != nil {
		t.Fatal(err)
	}
	var ve *opentok.ValidationError
	_, err := c.Archives.Start(context.Background(), opentok.ArchiveOptions{SessionID: sid, OutputMode: opentok.OutputIndividual, Resolution: "1280x720"})
	if !errors.As(err, &ve) || err.Error() != "archive start: resolution: only allowed with outputMode=composed" {
		t.Errorf("error %v", err)
	}
}

func TestArchiveStartErrors(t *testing.T) {
	body := `{"sessionId":"` + compSessionID + `"}`
	checkErrCases(t, call{Method: "POST", Path: "/v2/project/{p}/archive", Body: body}, []errCase{
		{400, `{"code":15001,"message":"Invalid resolution"}`, opentok.ErrInvalid,
			`archive start: the service refused the archive options (invalid session ID, no connected clients, or a resolution it does not accept) (service said: "Invalid resolution") [HTTP 400, POST /v2/project/{p}/archive]`},
		{403, `{"code":-1,"message":"Invalid token"}`, opentok.ErrAuth, ""},
		{404, `{"code":-1,"message":"Not found. No clients are actively connected to the OpenTok session."}`, opentok.ErrNotFound,
			`archive start: the session does not exist or has no connected clients (service said: "Not found. No clients are actively connected to the OpenTok session.") [HTTP 404, POST /v2/project/{p}/archive]`},
		{409, `{"code":15003,"message":"Conflict. You cannot archive a relayed (P2P) session."}`, opentok.ErrConflict,
			`archive start: the session is relayed — archiving needs a routed session (service said: "Conflict. You cannot archive a relayed (P2P) session.") [HTTP 409, POST /v2/project/{p}/archive]`},
	}, func(ctx context.Context, c *opentok.Client) error {
		_, err := c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: compSessionID})
		return err
	})
}

// A 409 on start has two documented causes; the service's message picks the sentence.
func TestArchiveStartConflictCauses(t *testing.T) {
	cases := []struct{ message, meaning string }{
		{"Session is not routed", "the session is relayed — archiving needs a routed session"},
		{"p2p sessions cannot be archived", "the session is relayed — archiving needs a routed session"},
		{"The session is already being recorded", "the session is already being recorded — give each simultaneous archive its own multiArchiveTag"},
		{"Session is currently recording", "the session is already being recorded — give each simultaneous archive its own multiArchiveTag"},
		{"Conflict", "the session is relayed (archiving needs a routed session) or already being recorded (give each simultaneous archive its own multiArchiveTag)"},
		{"", "the session is relayed (archiving needs a routed session) or already being recorded (give each simultaneous archive its own multiArchiveTag)"},
	}
	for _, tc := range cases {
		api, c := newFakeAPI(t, unifiedEnv)
		reply, _ := json.Marshal(map[string]any{"code": 15003, "message": tc.message})
		api.expect(call{Method: "POST", Path: "/v2/project/{p}/archive", Body: `{"sessionId":"` + compSessionID + `","multiArchiveTag":"a"}`,
			Status: 409, Reply: string(reply)})
		_, err := c.Archives.Start(context.Background(), opentok.ArchiveOptions{SessionID: compSessionID, MultiArchiveTag: "a"})
		var apiErr *opentok.APIError
		if !errors.As(err, &apiErr) || !errors.Is(err, opentok.ErrConflict) || apiErr.Meaning != tc.meaning {
			t.Errorf("message %q: err %v, want meaning %q", tc.message, err, tc.meaning)
		}
	}
}

// Starts act: a 503 must not be repeated, or two archives could start.
func TestArchiveStartNotRetried(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	api.expect(call{Method: "POST", Path: "/v2/project/{p}/archive", Body: `{"sessionId":"` + compSessionID + `"}`,
		Status: 503, Reply: `{"code":-1,"message":"Service Unavailable"}`})
	_, err := c.Archives.Start(context.Background(), opentok.ArchiveOptions{SessionID: compSessionID})
	var apiErr *opentok.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 503 {
		t.Fatalf("err %v, want the 503", err)
	}
	if api.requests() != 1 {
		t.Errorf("archive start sent %d times; it must never be retried", api.requests())
	}
}

func TestArchiveStop(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "POST", Path: "/v2/project/{p}/archive/063e72a4-64b4-43c8-9da5-eca071daab89/stop", Status: 200, Reply: archiveStoppedJSON})
			a, err := c.Archives.Stop(context.Background(), "063e72a4-64b4-43c8-9da5-eca071daab89")
			if err != nil {
				t.Fatal(err)
			}
			if a.ID != "063e72a4-64b4-43c8-9da5-eca071daab89" || a.Status != opentok.ArchiveStopped || a.Status.Recording() ||
				a.PartnerID != "854511" || a.Name != "showtime" || a.CreatedAt != 1394394801000 || a.URL != "" ||
				a.SessionID != "2_MX44NTQ1MTF-flR1ZSBOb3YgMTIgMDk6NDA6NTkgUFNUIDIwMTN-MC43NjU0Nzh-" {
				t.Errorf("archive %+v", a)
			}
		})
	}
}

func TestArchiveStopErrors(t *testing.T) {
	path := "/v2/project/{p}/archive/" + compArchiveID + "/stop"
	stop := func(ctx context.Context, c *opentok.Client) error {
		_, err := c.Archives.Stop(ctx, compArchiveID)
		return err
	}
	checkErrCases(t, call{Method: "POST", Path: path}, []errCase{
		{400, `{"code":-1,"message":"Invalid archive ID"}`, opentok.ErrInvalid, ""},
		{403, `{"code":-1,"message":"Invalid token"}`, opentok.ErrAuth, ""},
		{404, `{"code":-1,"message":"Archive not found"}`, opentok.ErrNotFound,
			`archive stop: the archive does not exist (service said: "Archive not found") [HTTP 404, POST /v2/project/{p}/archive/` + compArchiveID + `/stop]`},
		// vonage-python video/tests/data/stop_archive_error.json
		{409, `{"code":15002,"message":"You can only stop an archive that has one of the following statuses: started OR paused OR stopped","description":"You can only stop an archive that has one of the following statuses: started OR paused OR stopped"}`, opentok.ErrConflict,
			`archive stop: the archive is not recording (service said: "You can only stop an archive that has one of the following statuses: started OR paused OR stopped") [HTTP 409, POST /v2/project/{p}/archive/` + compArchiveID + `/stop]`},
	}, stop)
	// A stop acts: a 503 is returned, not repeated.
	wantSentence(t, call{Method: "POST", Path: path, Status: 503, Reply: `{"code":-1,"message":"Service Unavailable"}`},
		`archive stop: the Video API is temporarily unavailable; try again (service said: "Service Unavailable") [HTTP 503, POST /v2/project/{p}/archive/`+compArchiveID+`/stop]`, stop)
	api, c := newFakeAPI(t, legacyEnv)
	_, err := c.Archives.Stop(context.Background(), "")
	wantInvalid(t, api, err, "archiveId")
}

func TestArchiveGet(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "GET", Path: "/v2/project/{p}/archive/" + compArchiveID, Status: 200, Reply: archiveFixture(e)})
			a, err := c.Archives.Get(context.Background(), compArchiveID)
			if err != nil {
				t.Fatal(err)
			}
			if a.ID != compArchiveID || a.Status != opentok.ArchiveStarted || a.QuantizationParameter != 25 || a.Resolution != "1280x720" {
				t.Errorf("archive %+v", a)
			}
		})
	}
}

// A get is safe to repeat: a 503 then a 200 succeeds.
func TestArchiveGetRetries503(t *testing.T) {
	api, c := newFakeAPI(t, unifiedEnv)
	api.expect(
		call{Method: "GET", Path: "/v2/project/{p}/archive/" + compArchiveID, Status: 503, Reply: `{"code":-1,"message":"Service Unavailable"}`},
		call{Method: "GET", Path: "/v2/project/{p}/archive/" + compArchiveID, Status: 200, Reply: archiveFixture(unifiedEnv)},
	)
	a, err := c.Archives.Get(context.Background(), compArchiveID)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != compArchiveID || api.requests() != 2 {
		t.Errorf("archive %+v after %d requests", a, api.requests())
	}
}

func TestArchiveGetErrors(t *testing.T) {
	checkErrCases(t, call{Method: "GET", Path: "/v2/project/{p}/archive/" + compArchiveID}, []errCase{
		{400, `{"code":-1,"message":"Invalid archive ID"}`, opentok.ErrInvalid,
			`archive get: the archive ID is invalid (service said: "Invalid archive ID") [HTTP 400, GET /v2/project/{p}/archive/` + compArchiveID + `]`},
		{403, `{"code":-1,"message":"Invalid token"}`, opentok.ErrAuth, ""},
		{404, `{"code":-1,"message":"Not found"}`, opentok.ErrNotFound,
			`archive get: the archive does not exist (service said: "Not found") [HTTP 404, GET /v2/project/{p}/archive/` + compArchiveID + `]`},
	}, func(ctx context.Context, c *opentok.Client) error {
		_, err := c.Archives.Get(ctx, compArchiveID)
		return err
	})
}

// The callback reference's archive carries projectId and partnerId as numbers (the
// callback reference: https://tokbox.com/developer/callbacks/); Archive must still decode
// it.
func TestArchiveDecodesCallbackShape(t *testing.T) {
	const callback = `{
  "id" : "b40ef09b-3811-4726-b508-e41a0f96c68f",
  "event": "archive",
  "createdAt" : 1384221380000,
  "duration" : 328,
  "name" : "Foo",
  "partnerId" : 123456,
  "projectId" : 123456,
  "reason" : "",
  "resolution" : "640x480",
  "sessionId" : "2_MX40NzIwMzJ-flR1ZSBPY3QgMjkgMTI6MTM6MjMgUERUIDIwMTN-MC45NDQ2MzE2NH4",
  "size" : 18023312,
  "status" : "available",
  "streams": [{"streamId":"63245362-e00e-4834-8371-9397deb3e452","hasAudio":true,"hasVideo":false}],
  "url" : "https://tokbox.com.archive2.s3.amazonaws.com/123456/b40ef09b-3811-4726-b508-e41a0f96c68f/archive.mp4"
}`
	var a opentok.Archive
	if err := json.Unmarshal([]byte(callback), &a); err != nil {
		t.Fatal(err)
	}
	if a.ProjectID != "123456" || a.PartnerID != "123456" || a.Duration != 328 || a.Size != 18023312 ||
		a.Status != opentok.ArchiveAvailable || a.Resolution != "640x480" || a.Event != "archive" ||
		len(a.Streams) != 1 || a.Streams[0].StreamID != "63245362-e00e-4834-8371-9397deb3e452" || !a.Streams[0].HasAudio || a.Streams[0].HasVideo ||
		!strings.HasSuffix(a.URL, "/archive.mp4") {
		t.Errorf("archive %+v", a)
	}
	if err := json.Unmarshal([]byte(`{"id":"x","projectId":true}`), &a); err == nil {
		t.Error("projectId true decoded without error")
	}
}

func TestArchiveStatusRecording(t *testing.T) {
	recording := map[opentok.ArchiveStatus]bool{
		opentok.ArchiveStarted: true, opentok.ArchivePaused: true,
		opentok.ArchiveStopped: false, opentok.ArchiveUploaded: false, opentok.ArchiveAvailable: false,
		opentok.ArchiveExpired: false, opentok.ArchiveFailed: false, opentok.ArchiveDeleted: false,
	}
	for s, want := range recording {
		if s.Recording() != want {
			t.Errorf("%s.Recording() = %v", s, !want)
		}
	}
}

func TestArchiveList(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(
				call{Method: "GET", Path: "/v2/project/{p}/archive",
					Query:  url.Values{"offset": {"10"}, "count": {"2"}, "sessionId": {"2_MX44NTQ1MTF-flR1ZSBOb3YgMTIgMDk6NDA6NTkgUFNUIDIwMTN-MC43NjU0Nzh-"}},
					Status: 200, Reply: archiveListJSON},
				call{Method: "GET", Path: "/v2/project/{p}/archive", Status: 200, Reply: `{"count":0,"items":[]}`},
			)
			l, err := c.Archives.List(context.Background(), opentok.ListOptions{Offset: 10, Count: 2, SessionID: "2_MX44NTQ1MTF-flR1ZSBOb3YgMTIgMDk6NDA6NTkgUFNUIDIwMTN-MC43NjU0Nzh-"})
			if err != nil {
				t.Fatal(err)
			}
			if l.Count != 2 || len(l.Items) != 2 || l.Items[0].ID != "b8f64de1-e218-4091-9544-4cbf369fc238" ||
				l.Items[0].Size != 2227849 || l.Items[1].Duration != 1294 || l.Items[1].PartnerID != "854511" ||
				l.Items[1].Status != opentok.ArchiveAvailable || !strings.HasPrefix(l.Items[0].URL, "http://tokbox.com.archive2.s3.amazonaws.com/") {
				t.Errorf("list %+v", l)
			}
			// The zero ListOptions sends no query: the service's defaults apply.
			l, err = c.Archives.List(context.Background(), opentok.ListOptions{})
			if err != nil || l.Count != 0 || len(l.Items) != 0 {
				t.Errorf("empty list %+v, %v", l, err)
			}
		})
	}
}

func TestArchiveListErrors(t *testing.T) {
	checkErrCases(t, call{Method: "GET", Path: "/v2/project/{p}/archive"}, []errCase{
		{403, `{"code":-1,"message":"Invalid token"}`, opentok.ErrAuth,
			`archive list: the Video API refused the credentials (check the API key and secret, or the application ID and private key) (service said: "Invalid token") [HTTP 403, GET /v2/project/{p}/archive]`},
	}, func(ctx context.Context, c *opentok.Client) error {
		_, err := c.Archives.List(ctx, opentok.ListOptions{})
		return err
	})
	for _, tc := range []struct {
		opts  opentok.ListOptions
		field string
	}{
		{opentok.ListOptions{Count: 1001}, "count"},
		{opentok.ListOptions{Offset: -1}, "offset"},
		{opentok.ListOptions{SessionID: "1_a b"}, "sessionId"},
	} {
		api, c := newFakeAPI(t, legacyEnv)
		_, err := c.Archives.List(context.Background(), tc.opts)
		wantInvalid(t, api, err, tc.field)
	}
}

func TestArchiveDelete(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{Method: "DELETE", Path: "/v2/project/{p}/archive/" + compArchiveID, Status: 204})
			if err := c.Archives.Delete(context.Background(), compArchiveID); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestArchiveDeleteErrors(t *testing.T) {
	path := "/v2/project/{p}/archive/" + compArchiveID
	checkErrCases(t, call{Method: "DELETE", Path: path}, []errCase{
		{403, `{"code":-1,"message":"Invalid token"}`, opentok.ErrAuth, ""},
		// vonage-python video/tests/data/delete_archive_error.json (the Video API REST
		// reference: https://developer.vonage.com/en/api/video)
		{409, `{"code":15004,"message":"You can only delete an archive that has one of the following statuses: available OR uploaded OR deleted"}`, opentok.ErrConflict,
			`archive delete: only an archive that is available or uploaded can be deleted (service said: "You can only delete an archive that has one of the following statuses: available OR uploaded OR deleted") [HTTP 409, DELETE /v2/project/{p}/archive/` + compArchiveID + `]`},
	}, func(ctx context.Context, c *opentok.Client) error {
		return c.Archives.Delete(ctx, compArchiveID)
	})
	api, c := newFakeAPI(t, legacyEnv)
	wantInvalid(t, api, c.Archives.Delete(context.Background(), " "+compArchiveID), "archiveId")
}
