package opentok_test

import (
	"context"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

// compositionKind lets the layout and stream-change tests run against
// archives and broadcasts alike, since both services send the same requests
// under their own path.
type compositionKind struct {
	name      string // "archive" or "broadcast", as in paths and error sentences
	id        string
	setLayout func(context.Context, *opentok.Client, string, opentok.Layout) error
	add       func(context.Context, *opentok.Client, string, string, bool, bool) error
	remove    func(context.Context, *opentok.Client, string, string) error
}

var compositionKinds = []compositionKind{
	{
		name: "archive", id: compArchiveID,
		setLayout: func(ctx context.Context, c *opentok.Client, id string, l opentok.Layout) error {
			return c.Archives.SetLayout(ctx, id, l)
		},
		add: func(ctx context.Context, c *opentok.Client, id, sid string, a, v bool) error {
			return c.Archives.AddStream(ctx, id, sid, a, v)
		},
		remove: func(ctx context.Context, c *opentok.Client, id, sid string) error {
			return c.Archives.RemoveStream(ctx, id, sid)
		},
	},
	{
		name: "broadcast", id: compBroadcastID,
		setLayout: func(ctx context.Context, c *opentok.Client, id string, l opentok.Layout) error {
			return c.Broadcasts.SetLayout(ctx, id, l)
		},
		add: func(ctx context.Context, c *opentok.Client, id, sid string, a, v bool) error {
			return c.Broadcasts.AddStream(ctx, id, sid, a, v)
		},
		remove: func(ctx context.Context, c *opentok.Client, id, sid string) error {
			return c.Broadcasts.RemoveStream(ctx, id, sid)
		},
	},
}

const compStreamID = "63245362-e00e-4834-8371-9397deb3e452"

func TestCompositionSetLayout(t *testing.T) {
	const css = "stream.instructor {position: absolute; width: 100%;  height:50%;}"
	for _, k := range compositionKinds {
		for _, e := range bothEnvs {
			t.Run(k.name+"/"+string(e), func(t *testing.T) {
				api, c := newFakeAPI(t, e)
				path := "/v2/project/{p}/" + k.name + "/" + k.id + "/layout"
				api.expect(
					call{Method: "PUT", Path: path, Body: `{"type":"bestFit","screenshareType":"horizontalPresentation"}`, Status: 200},
					call{Method: "PUT", Path: path, Body: `{"type":"custom","stylesheet":"` + css + `"}`, Status: 200, Reply: `{}`},
					call{Method: "PUT", Path: path, Body: `{"type":"pip"}`, Status: 200},
				)
				ctx := context.Background()
				for _, l := range []opentok.Layout{
					{Type: opentok.LayoutBestFit, ScreenshareType: opentok.LayoutHorizontalPresentation},
					{Type: opentok.LayoutCustom, Stylesheet: css},
					{Type: opentok.LayoutPIP},
				} {
					if err := k.setLayout(ctx, c, k.id, l); err != nil {
						t.Fatalf("%+v: %v", l, err)
					}
				}
			})
		}
	}
}

func TestCompositionSetLayoutErrors(t *testing.T) {
	for _, k := range compositionKinds {
		t.Run(k.name, func(t *testing.T) {
			path := "/v2/project/{p}/" + k.name + "/" + k.id + "/layout"
			checkErrCases(t, call{Method: "PUT", Path: path, Body: `{"type":"verticalPresentation"}`}, []errCase{
				{400, `{"code":-1,"message":"Invalid layout type"}`, opentok.ErrInvalid,
					k.name + ` layout: the service refused the layout (service said: "Invalid layout type") [HTTP 400, PUT ` + path + `]`},
				{403, `{"code":-1,"message":"Invalid token"}`, opentok.ErrAuth, ""},
			}, func(ctx context.Context, c *opentok.Client) error {
				return k.setLayout(ctx, c, k.id, opentok.Layout{Type: opentok.LayoutVerticalPresentation})
			})
			// A layout PUT is safe to repeat: a 503 then a 200 succeeds.
			api, c := newFakeAPI(t, legacyEnv)
			api.expect(
				call{Method: "PUT", Path: path, Body: `{"type":"pip"}`, Status: 503},
				call{Method: "PUT", Path: path, Body: `{"type":"pip"}`, Status: 200},
			)
			if err := k.setLayout(context.Background(), c, k.id, opentok.Layout{Type: opentok.LayoutPIP}); err != nil || api.requests() != 2 {
				t.Errorf("err %v after %d requests, want success after 2", err, api.requests())
			}
		})
	}
}

// The whole PUT body is the layout, so the fields are named without a prefix.
func TestCompositionSetLayoutValidation(t *testing.T) {
	cases := []struct {
		l     opentok.Layout
		field string
	}{
		{opentok.Layout{}, "type"},
		{opentok.Layout{Type: "bestfit"}, "type"},
		{opentok.Layout{Type: opentok.LayoutCustom, Stylesheet: "  "}, "stylesheet"},
		{opentok.Layout{Type: opentok.LayoutBestFit, Stylesheet: "stream {}"}, "stylesheet"},
		{opentok.Layout{Type: opentok.LayoutVerticalPresentation, ScreenshareType: opentok.LayoutPIP}, "screenshareType"},
		{opentok.Layout{Type: opentok.LayoutBestFit, ScreenshareType: "grid"}, "screenshareType"},
	}
	for _, k := range compositionKinds {
		api, c := newFakeAPI(t, legacyEnv)
		for _, tc := range cases {
			mustRefuseField(t, k.setLayout(context.Background(), c, k.id, tc.l), tc.field)
		}
		mustRefuseField(t, k.setLayout(context.Background(), c, "", opentok.Layout{Type: opentok.LayoutPIP}), k.name+"Id")
		mustNotSend(t, api)
	}
}

func TestCompositionAddRemoveStream(t *testing.T) {
	for _, k := range compositionKinds {
		for _, e := range bothEnvs {
			t.Run(k.name+"/"+string(e), func(t *testing.T) {
				api, c := newFakeAPI(t, e)
				path := "/v2/project/{p}/" + k.name + "/" + k.id + "/streams"
				api.expect(
					call{Method: "PATCH", Path: path, Body: `{"addStream":"` + compStreamID + `","hasAudio":true,"hasVideo":false}`, Status: 204},
					call{Method: "PATCH", Path: path, Body: `{"addStream":"` + compStreamID + `","hasAudio":false,"hasVideo":true}`, Status: 204},
					call{Method: "PATCH", Path: path, Body: `{"removeStream":"` + compStreamID + `"}`, Status: 204},
				)
				ctx := context.Background()
				if err := k.add(ctx, c, k.id, compStreamID, true, false); err != nil {
					t.Fatal(err)
				}
				if err := k.add(ctx, c, k.id, compStreamID, false, true); err != nil {
					t.Fatal(err)
				}
				if err := k.remove(ctx, c, k.id, compStreamID); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestCompositionStreamChangeErrors(t *testing.T) {
	for _, k := range compositionKinds {
		t.Run(k.name, func(t *testing.T) {
			path := "/v2/project/{p}/" + k.name + "/" + k.id + "/streams"
			addBody := `{"addStream":"` + compStreamID + `","hasAudio":true,"hasVideo":true}`
			removeBody := `{"removeStream":"` + compStreamID + `"}`
			add := func(ctx context.Context, c *opentok.Client) error {
				return k.add(ctx, c, k.id, compStreamID, true, true)
			}
			remove := func(ctx context.Context, c *opentok.Client) error { return k.remove(ctx, c, k.id, compStreamID) }
			checkErrCases(t, call{Method: "PATCH", Path: path, Body: addBody}, []errCase{
				{400, `{"code":-1,"message":"Invalid request"}`, opentok.ErrInvalid, ""},
				{403, `{"code":-1,"message":"Invalid token"}`, opentok.ErrAuth, ""},
				{404, `{"code":-1,"message":"Stream not found"}`, opentok.ErrNotFound,
					k.name + ` add stream: the ` + k.name + ` or the stream does not exist (service said: "Stream not found") [HTTP 404, PATCH ` + path + `]`},
			}, add)
			checkErrCases(t, call{Method: "PATCH", Path: path, Body: removeBody}, []errCase{
				{404, `{"code":-1,"message":"Not found"}`, opentok.ErrNotFound, ""},
			}, remove)
			wantSentence(t, call{Method: "PATCH", Path: path, Body: addBody, Status: 405, Reply: `{"code":-1,"message":"Method not allowed"}`},
				k.name+` add stream: the `+k.name+` uses streamMode=auto; only manual-mode `+k.name+`s take stream changes (service said: "Method not allowed") [HTTP 405, PATCH `+path+`]`, add)
			wantSentence(t, call{Method: "PATCH", Path: path, Body: removeBody, Status: 405},
				k.name+` remove stream: the `+k.name+` uses streamMode=auto; only manual-mode `+k.name+`s take stream changes [HTTP 405, PATCH `+path+`]`, remove)
			// Adding a stream is not idempotent: a 503 is returned, not repeated.
			wantSentence(t, call{Method: "PATCH", Path: path, Body: addBody, Status: 503},
				k.name+` add stream: the Video API is temporarily unavailable; try again [HTTP 503, PATCH `+path+`]`, add)

			api, c := newFakeAPI(t, unifiedEnv)
			ctx := context.Background()
			mustRefuseField(t, k.add(ctx, c, k.id, "", true, true), "addStream")
			mustRefuseField(t, k.add(ctx, c, k.id, "a b", true, true), "addStream")
			mustRefuseField(t, k.remove(ctx, c, k.id, ""), "removeStream")
			mustRefuseField(t, k.remove(ctx, c, "", compStreamID), k.name+"Id")
			mustNotSend(t, api)
		})
	}
}
