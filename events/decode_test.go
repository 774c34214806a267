package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// The documented examples, verbatim: the Session monitoring guide
// (https://developer.vonage.com/en/video/guides/session-monitoring), the
// callback reference (https://tokbox.com/developer/callbacks/), the 2022
// archiving guide and the SIP Interconnect guide
// (https://developer.vonage.com/en/video/guides/sip-interconnect).
const (
	docConnectionCreated = `{
  "sessionId": "2_MX4xMzExMjU3MX5-MTQ3MDI1NzY3OTkxOH45QXRr",
  "projectId": "123456",
  "event": "connectionCreated",
  "timestamp": 1470257688309,
  "connection": {
    "id": "c053fcc8-c681-41d5-8ec2-7a9e1434a21e",
    "createdAt": 1470257688143,
    "data": "TOKENDATA"
  }
}`
	docConnectionDestroyed = `{
  "sessionId": "2_MX4xMzExMjU3MX5-MTQ3MDI1NzY3OTkxOH45QXRr",
  "projectId": "123456",
  "event": "connectionDestroyed",
  "reason": "clientDisconnected",
  "timestamp": 1470258896953,
  "connection": {
    "id": "c053fcc8-c681-41d5-8ec2-7a9e1434a21e",
    "createdAt": 1470257688143,
    "data": ""
  }
}`
	docStreamCreated = `{
  "sessionId": "2_MX4xMzExMjU3MX5-MTQ3MDI1NzY3OTkxOH45QXRr",
  "projectId": "123456",
  "event": "streamCreated",
  "timestamp": 1470258860571,
  "stream": {
    "id": "63245362-e00e-4834-8371-9397deb3e452",
    "connection": {
      "id": "c053fcc8-c681-41d5-8ec2-7a9e1434a21e",
      "createdAt": 1470257688143,
      "data": ""
    },
    "createdAt": 1470258845416,
    "name": "",
    "videoType": "camera"
  }
}`
	docStreamDestroyed = `{
  "sessionId": "2_MX4xMzExMjU3MX5-MTQ3MDI1NzY3OTkxOH45QXRr",
  "projectId": "123456",
  "event": "streamDestroyed",
  "reason": "mediaStopped",
  "timestamp": 1470258896953,
  "stream": {
    "id": "63245362-e00e-4834-8371-9397deb3e452",
    "connection": {"id": "c053fcc8-c681-41d5-8ec2-7a9e1434a21e", "createdAt": 1470257688143, "data": ""},
    "createdAt": 1470258845416,
    "name": "",
    "videoType": "screen"
  }
}`
	// The 2022 archiving guide: partnerId, no updatedAt.
	docArchive2022 = `{
  "id" : "b40ef09b-3811-4726-b508-e41a0f96c68f",
  "event": "archive",
  "createdAt" : 1384221380000,
  "duration" : 328,
  "name" : "Foo",
  "partnerId" : 123456,
  "reason" : "",
  "resolution" : "640x480",
  "sessionId" : "2_MX40NzIwMzJ-flR1ZSBPY3QgMjkgMTI6MTM6MjMgUERUIDIwMTN-MC45NDQ2MzE2NH4",
  "size" : 18023312,
  "status" : "available",
  "url" : "https://tokbox.com.archive2.s3.amazonaws.com/123456/b40ef09b-3811-4726-b508-e41a0f96c68f/archive.mp4"
}`
	// The callback reference: projectId a number, updatedAt.
	docArchiveStarted = `{
  "id": "b40ef09b-3811-4726-b508-e41a0f96c68f",
  "status": "started",
  "name": "Foo",
  "reason": "",
  "sessionId": "2_MX40NzIwMzJ-flR1ZSBPY3QgMjkgMTI6MTM6MjMgUERUIDIwMTN-MC45NDQ2MzE2NH4",
  "projectId": 123456,
  "createdAt": 1384221380000,
  "size": 0,
  "duration": 0,
  "outputMode": "composed",
  "hasAudio": true,
  "hasVideo": true,
  "certificate": "",
  "sha256sum": "",
  "password": "",
  "updatedAt": 1384221385112,
  "projectId": 123456
}`
	docCallCreated   = `{"sessionId":"2_MX4xMjM0NTZ-sip","projectId":"123456","event":"callCreated","timestamp":1470257688309,"call":{"id":"conf-1","connectionId":"c-sip","createdAt":1470257688000}}`
	docCallUpdated   = `{"sessionId":"2_MX4xMjM0NTZ-sip","projectId":"123456","event":"callUpdated","timestamp":1470257689309,"state":"RINGING","call":{"id":"conf-1","connectionId":"c-sip","createdAt":1470257688000}}`
	docCallDestroyed = `{"sessionId":"2_MX4xMjM0NTZ-sip","projectId":"123456","event":"callDestroyed","timestamp":1470257699309,"reason_code":700,"reason_message":"Normal Clearing","call":{"id":"conf-1","connectionId":"c-sip","createdAt":1470257688000}}`
	docMuteForced    = `{"sessionId":"2_MX4xMjM0NTZ-sip","projectId":"123456","event":"muteForced","timestamp":1470257690309,"call":{"id":"conf-1","connectionId":"c-sip","createdAt":1470257688000}}`
)

const (
	docSession = "2_MX4xMzExMjU3MX5-MTQ3MDI1NzY3OTkxOH45QXRr"
	docConn    = "c053fcc8-c681-41d5-8ec2-7a9e1434a21e"
	docStream  = "63245362-e00e-4834-8371-9397deb3e452"
	docArcSess = "2_MX40NzIwMzJ-flR1ZSBPY3QgMjkgMTI6MTM6MjMgUERUIDIwMTN-MC45NDQ2MzE2NH4"
	docArchive = "b40ef09b-3811-4726-b508-e41a0f96c68f"
)

func TestDecodeDocumentedExamples(t *testing.T) {
	docConnection := Connection{ID: docConn, CreatedAt: 1470257688143}
	cases := []struct {
		name  string
		group Group
		body  string
		want  Event
	}{
		{"connectionCreated", GroupSession, docConnectionCreated, Event{Kind: ConnectionCreated, SessionID: docSession, ProjectID: "123456",
			Timestamp: 1470257688309, Connection: &Connection{ID: docConn, CreatedAt: 1470257688143, Data: "TOKENDATA"}}},
		{"connectionDestroyed", GroupSession, docConnectionDestroyed, Event{Kind: ConnectionDestroyed, SessionID: docSession, ProjectID: "123456",
			Timestamp: 1470258896953, Reason: ReasonClientDisconnected, Connection: &docConnection}},
		{"streamCreated", GroupSession, docStreamCreated, Event{Kind: StreamCreated, SessionID: docSession, ProjectID: "123456",
			Timestamp: 1470258860571, Stream: &Stream{ID: docStream, Connection: docConnection, CreatedAt: 1470258845416, VideoType: "camera"}}},
		{"streamDestroyed", GroupSession, docStreamDestroyed, Event{Kind: StreamDestroyed, SessionID: docSession, ProjectID: "123456",
			Timestamp: 1470258896953, Reason: ReasonMediaStopped, Stream: &Stream{ID: docStream, Connection: docConnection, CreatedAt: 1470258845416, VideoType: "screen"}}},
		{"archive 2022", GroupArchive, docArchive2022, Event{Kind: ArchiveStatus, SessionID: docArcSess, ProjectID: "123456", Timestamp: 1384221380000,
			Archive: &Archive{ID: docArchive, Status: "available", Name: "Foo", SessionID: docArcSess, Resolution: "640x480",
				URL:       "https://tokbox.com.archive2.s3.amazonaws.com/123456/b40ef09b-3811-4726-b508-e41a0f96c68f/archive.mp4",
				CreatedAt: 1384221380000, Size: 18023312, Duration: 328}}},
		{"archive started", GroupArchive, docArchiveStarted, Event{Kind: ArchiveStatus, SessionID: docArcSess, ProjectID: "123456", Timestamp: 1384221385112,
			Archive: &Archive{ID: docArchive, Status: "started", Name: "Foo", SessionID: docArcSess, OutputMode: "composed",
				CreatedAt: 1384221380000, UpdatedAt: 1384221385112}}},
		{"callCreated", GroupSIP, docCallCreated, Event{Kind: CallCreated, SessionID: "2_MX4xMjM0NTZ-sip", ProjectID: "123456", Timestamp: 1470257688309,
			Call: &Call{ID: "conf-1", ConnectionID: "c-sip", CreatedAt: 1470257688000}}},
		{"callUpdated", GroupSIP, docCallUpdated, Event{Kind: CallUpdated, SessionID: "2_MX4xMjM0NTZ-sip", ProjectID: "123456", Timestamp: 1470257689309,
			Call: &Call{ID: "conf-1", ConnectionID: "c-sip", CreatedAt: 1470257688000, State: "RINGING"}}},
		{"callDestroyed", GroupSIP, docCallDestroyed, Event{Kind: CallDestroyed, SessionID: "2_MX4xMjM0NTZ-sip", ProjectID: "123456", Timestamp: 1470257699309,
			Call: &Call{ID: "conf-1", ConnectionID: "c-sip", CreatedAt: 1470257688000, ReasonCode: "700", ReasonMessage: "Normal Clearing"}}},
		{"muteForced", GroupSIP, docMuteForced, Event{Kind: MuteForced, SessionID: "2_MX4xMjM0NTZ-sip", ProjectID: "123456", Timestamp: 1470257690309,
			Call: &Call{ID: "conf-1", ConnectionID: "c-sip", CreatedAt: 1470257688000}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.group, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Raw = json.RawMessage(tc.body)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %s\nwant %s", dump(got), dump(tc.want))
			}
		})
	}
}

func dump(ev Event) string {
	ev.Raw = nil
	b, _ := json.Marshal(ev)
	return string(b)
}

func TestDecodeVariants(t *testing.T) {
	cases := []struct {
		name  string
		group Group
		body  string
		check func(t *testing.T, ev Event)
	}{
		{"projectId string", GroupSession, `{"sessionId":"s","projectId":"46000000","event":"sessionCreated","timestamp":5}`, func(t *testing.T, ev Event) {
			if ev.ProjectID != "46000000" || ev.Kind != SessionCreated || ev.Timestamp != 5 {
				t.Fatalf("%+v", ev)
			}
		}},
		{"projectId number", GroupSession, `{"sessionId":"s","projectId":46000000,"event":"sessionDestroyed","timestamp":5}`, func(t *testing.T, ev Event) {
			if ev.ProjectID != "46000000" || ev.Kind != SessionDestroyed {
				t.Fatalf("%+v", ev)
			}
		}},
		{"applicationId", GroupSession, `{"sessionId":"s","applicationId":"aaaaaaaa-bbbb-cccc-dddd-0123456789ab","event":"connectionCreated","timestamp":5,"connection":{"id":"c","createdAt":4,"data":""}}`,
			func(t *testing.T, ev Event) {
				if ev.ProjectID != "aaaaaaaa-bbbb-cccc-dddd-0123456789ab" {
					t.Fatalf("%+v", ev)
				}
			}},
		{"audio-only stream", GroupSession, `{"sessionId":"s","projectId":"1","event":"streamCreated","timestamp":5,"stream":{"id":"st","connection":{"id":"c","createdAt":1,"data":"d"},"createdAt":4,"name":"Ada"}}`,
			func(t *testing.T, ev Event) {
				if ev.Stream.VideoType != "" || ev.Stream.Name != "Ada" || ev.Stream.Connection.Data != "d" {
					t.Fatalf("%+v", ev.Stream)
				}
				s := NewState()
				s.Apply(ev)
				if c := s.Counts("s"); c.AudioOnly != 1 || c.Streams != 1 {
					t.Fatalf("counts %+v", c)
				}
			}},
		{"numbers as strings, nulls", GroupSession, `{"sessionId":"s","projectId":null,"event":"connectionCreated","timestamp":"1470257688309","connection":{"id":"c","createdAt":null,"data":null}}`,
			func(t *testing.T, ev Event) {
				if ev.Timestamp != 1470257688309 || ev.ProjectID != "" || *ev.Connection != (Connection{ID: "c"}) {
					t.Fatalf("%+v %+v", ev, ev.Connection)
				}
			}},
		{"archive without event field", GroupArchive, `{"id":"a","status":"paused","sessionId":"s","createdAt":1,"updatedAt":2}`, func(t *testing.T, ev Event) {
			if ev.Kind != ArchiveStatus || ev.Archive.Status != "paused" || ev.Timestamp != 2 {
				t.Fatalf("%+v", ev)
			}
		}},
		{"broadcast", GroupBroadcast, `{"id":"b","event":"broadcast","status":"started","sessionId":"s","projectId":123,"createdAt":1,"updatedAt":3,"broadcastUrls":{"hls":"https://h/x.m3u8"}}`,
			func(t *testing.T, ev Event) {
				if ev.Kind != BroadcastStatus || ev.ProjectID != "123" || *ev.Broadcast != (Broadcast{ID: "b", Status: "started", SessionID: "s", CreatedAt: 1, UpdatedAt: 3, HLS: "https://h/x.m3u8"}) || ev.Timestamp != 3 {
					t.Fatalf("%+v %+v", ev, ev.Broadcast)
				}
			}},
		{"render at its URL", GroupRender, `{"id":"r","sessionId":"s","streamId":"st","status":"stopped","reason":"Max Duration Exceeded"}`, func(t *testing.T, ev Event) {
			if ev.Kind != RenderStatus || *ev.Render != (Render{ID: "r", SessionID: "s", StreamID: "st", Status: "stopped", Reason: "Max Duration Exceeded"}) {
				t.Fatalf("%+v", ev)
			}
		}},
		{"captions at its URL", GroupCaptions, `{"captionId":"cap","sessionId":"s","status":"failed","reason":"quota"}`, func(t *testing.T, ev Event) {
			if ev.Kind != CaptionsStatus || ev.Captions.ID != "cap" || ev.Captions.Status != "failed" {
				t.Fatalf("%+v", ev)
			}
		}},
		{"unknown event type kept", GroupSession, "  \n" + `{"sessionId":"s","event":"streamPropertyChanged","timestamp":9,"stream":{"id":"st"},"changedProperty":"hasAudio"}` + "\n",
			func(t *testing.T, ev Event) {
				if ev.Kind != "streamPropertyChanged" || ev.SessionID != "s" || ev.Timestamp != 9 || ev.Stream != nil {
					t.Fatalf("%+v", ev)
				}
				if want := `{"sessionId":"s","event":"streamPropertyChanged","timestamp":9,"stream":{"id":"st"},"changedProperty":"hasAudio"}`; string(ev.Raw) != want {
					t.Fatalf("Raw %q", ev.Raw)
				}
				if NewState().Apply(ev) {
					t.Fatal("an unknown kind changed the state")
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Decode(tc.group, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, ev)
		})
	}
}

func TestDecodeRefusesNamingTheField(t *testing.T) {
	cases := []struct {
		name  string
		group Group
		body  string
		field string
	}{
		{"no event at the session URL", GroupSession, `{"sessionId":"s","projectId":"1","timestamp":1}`, "event"},
		{"no event at the SIP URL", GroupSIP, `{"sessionId":"s","call":{"id":"k"}}`, "event"},
		{"connection without id", GroupSession, `{"sessionId":"s","event":"connectionCreated","timestamp":1,"connection":{"createdAt":1,"data":"x"}}`, "connection.id"},
		{"connection missing", GroupSession, `{"sessionId":"s","event":"connectionDestroyed","timestamp":1}`, "connection"},
		{"stream.connection missing", GroupSession, `{"sessionId":"s","event":"streamCreated","timestamp":1,"stream":{"id":"st","createdAt":1}}`, "stream.connection"},
		{"stream.connection without id", GroupSession, `{"sessionId":"s","event":"streamDestroyed","timestamp":1,"stream":{"id":"st","connection":{}}}`, "stream.connection.id"},
		{"stream without id", GroupSession, `{"sessionId":"s","event":"streamCreated","stream":{"connection":{"id":"c"}}}`, "stream.id"},
		{"timestamp as an object", GroupSession, `{"sessionId":"s","event":"connectionCreated","timestamp":{"ms":1},"connection":{"id":"c"}}`, "timestamp"},
		{"no sessionId", GroupSession, `{"event":"connectionCreated","connection":{"id":"c"}}`, "sessionId"},
		{"archive without id", GroupArchive, `{"event":"archive","status":"started","sessionId":"s"}`, "id"},
		{"broadcast without status", GroupBroadcast, `{"event":"broadcast","id":"b","sessionId":"s"}`, "status"},
		{"call without id", GroupSIP, `{"sessionId":"s","event":"callCreated","call":{"connectionId":"c"}}`, "call.id"},
		{"body []", GroupSession, `[]`, ""},
		{"empty body", GroupArchive, ``, ""},
		{"not JSON", GroupSession, `{"event":`, ""},
		{"trailing garbage", GroupSession, `{"event":"sessionCreated","sessionId":"s"} {}`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Decode(tc.group, []byte(tc.body))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode = %+v, %v; want a *DecodeError", ev, err)
			}
			if de.Field != tc.field || de.Problem == "" {
				t.Fatalf("error %q names field %q, want %q", err, de.Field, tc.field)
			}
			if tc.field != "" && !strings.Contains(err.Error(), tc.field+": ") {
				t.Fatalf("message %q does not name %s", err, tc.field)
			}
		})
	}
}

var fuzzGroups = []Group{GroupSession, GroupArchive, GroupBroadcast, GroupSIP, GroupRender, GroupCaptions}

// FuzzDecode: no body makes Decode panic; what it accepts has a kind and
// keeps the trimmed body as Raw; what it refuses, it refuses with a
// *DecodeError; and no accepted event makes Apply panic.
func FuzzDecode(f *testing.F) {
	for _, body := range []string{docConnectionCreated, docConnectionDestroyed, docStreamCreated, docStreamDestroyed, docArchive2022, docArchiveStarted,
		docCallCreated, docCallUpdated, docCallDestroyed, docMuteForced,
		`{"id":"r","sessionId":"s","streamId":"st","status":"started"}`, `{"captionId":"c","sessionId":"s","status":"failed"}`,
		`{"id":"b","event":"broadcast","status":"started","sessionId":"s","broadcastUrls":{"hls":"u"}}`,
		`{"sessionId":"s","event":"streamCreated","reason":"reconciled","timestamp":1,"stream":{"id":"u","createdAt":1,"name":""}}`,
		`[]`, ``, `{"event":5}`, `{"timestamp":1e400}`, ` {"event":"x","sessionId":"s"} `} {
		for i := range fuzzGroups {
			f.Add(uint8(i), []byte(body))
		}
	}
	f.Fuzz(func(t *testing.T, g uint8, body []byte) {
		group := fuzzGroups[int(g)%len(fuzzGroups)]
		ev, err := Decode(group, body)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("refused with %T %v, not a *DecodeError", err, err)
			}
			return
		}
		if ev.Kind == "" {
			t.Fatalf("accepted without a kind: %q", body)
		}
		if !bytes.Equal(ev.Raw, bytes.TrimSpace(body)) {
			t.Fatalf("Raw %q, body %q", ev.Raw, body)
		}
		s := NewState()
		s.Apply(ev)
		s.Apply(ev)
		_ = s.Sessions()
	})
}
