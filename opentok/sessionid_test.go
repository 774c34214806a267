package opentok_test

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// The worked examples of session IDs as opentok-node's test helpers decode them:
// https://github.com/opentok/opentok-node/blob/main/test/helpers.js, with what each decodes to.
const (
	sidLegacy    = "1_MX40NzY2NTk3MX5-MTczOTUzODg5NDk1OX5ROW1jWEcxUXJOM1RJWXU4eStwcHgvZ3N-UH5-"
	sidUnified   = "1_MX4yOWY3NjBmOC03Y2UxLTQ2YzktYWRlMy1mMmRlZGVlNGVkNWZ-fjE3MjY0NjI1ODg2NDd-MTF4TGExYmJoelBlR1FHbVhzbWd4STBrfn5-"
	sidOld       = "2_MX4xNzAxMjYzMX4xMjcuMC4wLjF-V2VkIEZlYiAyNiAxODo1NzoyNCBQU1QgMjAxNH4wLjU0MDU4ODc0fg"
	sidTruncated = "2_MX4xMzExMjU3MX5-MTQ3MDI1NzY3OTkxOH45QXRr"
)

func TestDecodeSessionIDWorkedExamples(t *testing.T) {
	cases := []struct {
		id   string
		want opentok.SessionInfo
	}{
		{sidLegacy, opentok.SessionInfo{
			Prefix: "1", ProjectID: "47665971", Location: "",
			// The same instant as the create_dt "Fri Feb 14 05:14:54 PST 2025" of the SDK fixture.
			CreatedAt: time.Date(2025, 2, 14, 13, 14, 54, 959e6, time.UTC),
			Fields:    []string{"1", "47665971", "", "1739538894959", "Q9mcXG1QrN3TIYu8y+ppx/gs", "P", "", ""},
		}},
		{sidUnified, opentok.SessionInfo{
			Prefix: "1", ProjectID: "29f760f8-7ce1-46c9-ade3-f2dedee4ed5f", Location: "",
			CreatedAt: time.Date(2024, 9, 16, 4, 56, 28, 647e6, time.UTC),
			Fields:    []string{"1", "29f760f8-7ce1-46c9-ade3-f2dedee4ed5f", "", "1726462588647", "11xLa1bbhzPeGQGmXsmgxI0k", "", "", ""},
		}},
		{sidOld, opentok.SessionInfo{
			Prefix: "2", ProjectID: "17012631", Location: "127.0.0.1",
			// 18:57:24 PST is 02:57:24 UTC the next day.
			CreatedAt: time.Date(2014, 2, 27, 2, 57, 24, 0, time.UTC),
			Fields:    []string{"1", "17012631", "127.0.0.1", "Wed Feb 26 18:57:24 PST 2014", "0.54058874", ""},
		}},
		{sidTruncated, opentok.SessionInfo{
			Prefix: "2", ProjectID: "13112571", Location: "",
			CreatedAt: time.Date(2016, 8, 3, 20, 54, 39, 918e6, time.UTC),
			Fields:    []string{"1", "13112571", "", "1470257679918", "9Atk"},
		}},
	}
	for _, tc := range cases {
		got, err := opentok.DecodeSessionID(tc.id)
		if err != nil {
			t.Errorf("%s: %v", tc.id, err)
			continue
		}
		if !got.CreatedAt.Equal(tc.want.CreatedAt) {
			t.Errorf("%s: CreatedAt %s, want %s", tc.id, got.CreatedAt, tc.want.CreatedAt)
		}
		got.CreatedAt, tc.want.CreatedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.id, got, tc.want)
		}
	}
}

func TestDecodeSessionIDTolerance(t *testing.T) {
	body := strings.TrimPrefix(sidOld, "2_")
	std := strings.NewReplacer("-", "+", "_", "/").Replace(body)
	cases := []struct{ name, id, project string }{
		{"standard alphabet", "2_" + std, "17012631"},
		{"padded", "2_" + body + "==", "17012631"},
		// 4n+1 characters: the stray last one cannot carry a byte.
		{"one stray character", sidLegacy + "Z", "47665971"},
	}
	for _, tc := range cases {
		info, err := opentok.DecodeSessionID(tc.id)
		if err != nil || info.ProjectID != tc.project {
			t.Errorf("%s: %+v, %v", tc.name, info, err)
		}
	}
}

func TestDecodeSessionIDCreationTime(t *testing.T) {
	encode := func(field3 string) string {
		return "1_" + base64.RawURLEncoding.EncodeToString([]byte("1~47665971~~"+field3+"~x"))
	}
	cases := map[string]time.Time{
		"0":                            time.Unix(0, 0),
		"Tue Jul 1 09:05:00 PDT 2014":  time.Date(2014, 7, 1, 16, 5, 0, 0, time.UTC),
		"Tue Jul  1 09:05:00 EDT 2014": time.Date(2014, 7, 1, 13, 5, 0, 0, time.UTC),
		"Tue Jul 1 09:05:00 GMT 2014":  time.Date(2014, 7, 1, 9, 5, 0, 0, time.UTC),
		// An unknown zone would parse as UTC and be hours off: left zero instead.
		"Tue Jul 1 09:05:00 XYZ 2014": {},
		"":                            {},
		"-5":                          {},
		"99999999999999999999999":     {}, // overflows int64
		"yesterday":                   {},
	}
	for field3, want := range cases {
		info, err := opentok.DecodeSessionID(encode(field3))
		if err != nil {
			t.Errorf("%q: %v", field3, err)
			continue
		}
		if !info.CreatedAt.Equal(want) || info.CreatedAt.IsZero() != want.IsZero() {
			t.Errorf("%q: CreatedAt %s, want %s", field3, info.CreatedAt, want)
		}
	}
}

func TestDecodeSessionIDRefusesOtherShapes(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, id := range []string{
		"",
		"1_",
		"x_" + enc("1~47665971~~0~x"),
		"12" + enc("1~47665971~~0~x"),
		"1_!!!!",
		"1_" + enc("2~47665971~~0~x"), // field 0 is not "1"
		"1_" + enc("1"),               // no project field
		"1_" + enc("1~~~0~x"),         // empty project field
		"my-session",
	} {
		if info, err := opentok.DecodeSessionID(id); err == nil {
			t.Errorf("%q decoded to %+v, want an error", id, info)
		}
	}
}

// FuzzDecodeSessionID checks that no input panics and that a successful
// decode is consistent with its fields.
func FuzzDecodeSessionID(f *testing.F) {
	for _, id := range []string{sidLegacy, sidUnified, sidOld, sidTruncated, "", "1_", "1_=", "2_MX4", "9_" + strings.Repeat("-", 5)} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		info, err := opentok.DecodeSessionID(id)
		if err != nil {
			if !reflect.DeepEqual(info, opentok.SessionInfo{}) {
				t.Fatalf("%q: error %v with a non-zero info %+v", id, err, info)
			}
			return
		}
		if info.Prefix != id[:1] || id[1] != '_' || len(info.Fields) < 2 || info.Fields[0] != "1" ||
			info.ProjectID == "" || info.ProjectID != info.Fields[1] {
			t.Fatalf("%q: inconsistent %+v", id, info)
		}
		if len(info.Fields) > 2 && info.Location != info.Fields[2] || len(info.Fields) <= 2 && info.Location != "" {
			t.Fatalf("%q: location %q, fields %q", id, info.Location, info.Fields)
		}
		if len(info.Fields) <= 3 && !info.CreatedAt.IsZero() {
			t.Fatalf("%q: CreatedAt %s without a field 3", id, info.CreatedAt)
		}
	})
}
