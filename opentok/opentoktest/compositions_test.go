package opentoktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// These tests drive the archive and broadcast endpoints through the real
// HTTP surface with the opentok client, in both environments, and follow
// the lifecycle through participants and the callbacks a receiver gets.

// compKinds are the two credential kinds every test runs with.
var compKinds = []struct {
	name        string
	application bool
}{{"legacy", false}, {"application", true}}

// compSink is a callback receiver: every body POSTed to it, in arrival order.
type compSink struct {
	mu     sync.Mutex
	bodies [][]byte
	url    string
}

func newCompSink(t *testing.T) *compSink {
	t.Helper()
	k := &compSink{}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		k.mu.Lock()
		k.bodies = append(k.bodies, body)
		k.mu.Unlock()
	}))
	t.Cleanup(hs.Close)
	k.url = hs.URL
	return k
}

// events decodes what arrived so far, numbers kept as json.Number so a
// test can tell a JSON number from a string.
func (k *compSink) events(t *testing.T) []map[string]any {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]map[string]any, 0, len(k.bodies))
	for _, b := range k.bodies {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("callback body is not a JSON object: %v: %s", err, b)
		}
		out = append(out, m)
	}
	return out
}

// waitEvents waits until at least n callbacks arrived and returns them all.
func (k *compSink) waitEvents(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := k.events(t)
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited for %d callbacks, got %d: %v", n, len(evs), compStatuses(evs))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func compStatuses(evs []map[string]any) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		s, _ := e["status"].(string)
		out = append(out, s)
	}
	return out
}

// compRewrite lets a test send what the client's own validation would
// refuse, so the emulator's checks are what answers: the client still signs
// the request, the transport swaps the body or query.
type compRewrite struct {
	mu    sync.Mutex
	body  string // replaces the body when not empty
	query func(q map[string][]string)
}

func (c *compRewrite) set(body string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.body = body
}

func (c *compRewrite) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	body, query := c.body, c.query
	c.mu.Unlock()
	r = r.Clone(r.Context())
	if body != "" {
		r.Body = io.NopCloser(strings.NewReader(body))
		r.ContentLength = int64(len(body))
		r.GetBody = nil
	}
	if query != nil {
		q := r.URL.Query()
		query(q)
		r.URL.RawQuery = q.Encode()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func newCompServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	srv, err := NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func compClient(t *testing.T, srv *Server, application bool, opts ...opentok.Option) *opentok.Client {
	t.Helper()
	c, err := srv.Client(application, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func compSession(t *testing.T, c *opentok.Client, opts opentok.SessionOptions) string {
	t.Helper()
	sess, err := c.Sessions.Create(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return sess.ID
}

func compJoin(t *testing.T, srv *Server, c *opentok.Client, sessionID string) *Participant {
	t.Helper()
	tok, err := c.Token(sessionID, opentok.TokenOptions{Role: opentok.RolePublisher})
	if err != nil {
		t.Fatal(err)
	}
	p, err := srv.Join(sessionID, tok.Value)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func compPublish(t *testing.T, p *Participant) string {
	t.Helper()
	id, err := p.Publish(PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// compAPIError asserts err is the service's answer (not the client's own
// validation) with the given status and sentinel, and returns it.
func compAPIError(t *testing.T, err error, status int, sentinel error) *opentok.APIError {
	t.Helper()
	var apiErr *opentok.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want an HTTP %d from the emulator, got %v", status, err)
	}
	if apiErr.Status != status {
		t.Fatalf("want HTTP %d, got %d: %v", status, apiErr.Status, err)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("want errors.Is(err, %v): %v", sentinel, err)
	}
	return apiErr
}

func compWaitArchive(t *testing.T, c *opentok.Client, id string, status opentok.ArchiveStatus) *opentok.Archive {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, err := c.Archives.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status == status {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("archive %s: waited for %s, still %s", id, status, a.Status)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestArchiveEndpoints(t *testing.T) {
	for _, kind := range compKinds {
		t.Run(kind.name, func(t *testing.T) {
			srv := newCompServer(t)
			rw := &compRewrite{}
			c := compClient(t, srv, kind.application)
			raw := compClient(t, srv, kind.application, opentok.WithHTTPClient(&http.Client{Transport: rw}))
			ctx := t.Context()
			sid := compSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})

			// Nobody connected yet.
			_, err := c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sid})
			if e := compAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound); !strings.Contains(e.Message, "no clients connected") {
				t.Errorf("no-clients message %q does not say so", e.Message)
			}
			_, err = c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: "1_nosuchsession"})
			compAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound)

			p := compJoin(t, srv, c, sid)
			st := compPublish(t, p)

			// Every option of ArchiveOptions, composed.
			yes := true
			manual, err := c.Archives.Start(ctx, opentok.ArchiveOptions{
				SessionID: sid, Name: "all options", HasAudio: &yes, HasVideo: &yes, OutputMode: opentok.OutputComposed,
				Resolution: "1280x720", Layout: &opentok.Layout{Type: opentok.LayoutCustom, Stylesheet: "stream { width: 100% }"},
				StreamMode: opentok.StreamModeManual, MultiArchiveTag: "manual", MaxBitrate: 1_000_000,
			})
			if err != nil {
				t.Fatal(err)
			}
			if manual.Status != opentok.ArchiveStarted || manual.Name != "all options" || manual.Resolution != "1280x720" ||
				manual.StreamMode != opentok.StreamModeManual || manual.OutputMode != opentok.OutputComposed ||
				manual.MaxBitrate != 1_000_000 || manual.SessionID != sid || manual.URL != "" || manual.CreatedAt == 0 ||
				!manual.HasAudio || !manual.HasVideo || manual.Size != 0 || manual.Duration != 0 {
				t.Errorf("start reply: %+v", manual)
			}
			if kind.application {
				if manual.ApplicationID != srv.ApplicationID || manual.ProjectID != "" || manual.Event != "archive" || manual.MultiArchiveTag != "manual" {
					t.Errorf("unified owner fields: %+v", manual)
				}
			} else if string(manual.ProjectID) != srv.APIKey || manual.ApplicationID != "" || manual.MultiArchiveTag != "" {
				t.Errorf("legacy owner fields: %+v", manual)
			}
			if len(manual.Streams) != 0 {
				t.Errorf("a manual archive records no stream until one is added: %+v", manual.Streams)
			}

			// Same tag: conflict; a distinct tag (here none) may record at once.
			_, err = c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sid, MultiArchiveTag: "manual"})
			if e := compAPIError(t, err, http.StatusConflict, opentok.ErrConflict); !strings.Contains(e.Message, "already") {
				t.Errorf("busy message %q does not say already", e.Message)
			}
			auto, err := c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sid})
			if err != nil {
				t.Fatal(err)
			}
			if auto.Resolution != "640x480" || auto.StreamMode != opentok.StreamModeAuto || auto.OutputMode != opentok.OutputComposed {
				t.Errorf("defaults: %+v", auto)
			}
			if want := []opentok.ArchiveStream{{StreamID: st, HasAudio: true, HasVideo: true}}; !slices.Equal(auto.Streams, want) {
				t.Errorf("auto archive streams %+v, want %+v", auto.Streams, want)
			}
			_, err = c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sid})
			compAPIError(t, err, http.StatusConflict, opentok.ErrConflict)

			// Individual, with a transcript.
			ind, err := c.Archives.Start(ctx, opentok.ArchiveOptions{
				SessionID: sid, OutputMode: opentok.OutputIndividual, MultiArchiveTag: "ind", HasTranscription: true,
				TranscriptionProperties: &opentok.TranscriptionProperties{PrimaryLanguageCode: "fr-FR", HasSummary: true},
			})
			if err != nil {
				t.Fatal(err)
			}
			if ind.OutputMode != opentok.OutputIndividual || ind.Resolution != "" || !ind.HasTranscription ||
				ind.Transcription == nil || ind.Transcription.PrimaryLanguageCode != "fr-FR" || !ind.Transcription.HasSummary {
				t.Errorf("individual archive: %+v", ind)
			}

			// Streams of a manual archive.
			if err := c.Archives.AddStream(ctx, manual.ID, st, true, false); err != nil {
				t.Fatal(err)
			}
			got, err := c.Archives.Get(ctx, manual.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := []opentok.ArchiveStream{{StreamID: st, HasAudio: true, HasVideo: false}}; !slices.Equal(got.Streams, want) {
				t.Errorf("after add: streams %+v, want %+v", got.Streams, want)
			}
			compAPIError(t, c.Archives.AddStream(ctx, manual.ID, "no-such-stream", true, true), http.StatusNotFound, opentok.ErrNotFound)
			compAPIError(t, c.Archives.AddStream(ctx, auto.ID, st, true, true), http.StatusMethodNotAllowed, nil)
			if err := c.Archives.RemoveStream(ctx, manual.ID, st); err != nil {
				t.Fatal(err)
			}
			compAPIError(t, c.Archives.RemoveStream(ctx, manual.ID, st), http.StatusNotFound, opentok.ErrNotFound)

			// Layout.
			if err := c.Archives.SetLayout(ctx, auto.ID, opentok.Layout{Type: opentok.LayoutBestFit, ScreenshareType: opentok.LayoutPIP}); err != nil {
				t.Fatal(err)
			}
			rw.set(`{"type":"mosaic"}`)
			compAPIError(t, raw.Archives.SetLayout(ctx, auto.ID, opentok.Layout{Type: opentok.LayoutPIP}), http.StatusBadRequest, opentok.ErrInvalid)
			rw.set(`{"type":"pip","stylesheet":"x {}"}`)
			compAPIError(t, raw.Archives.SetLayout(ctx, auto.ID, opentok.Layout{Type: opentok.LayoutPIP}), http.StatusBadRequest, opentok.ErrInvalid)
			rw.set("")
			compAPIError(t, c.Archives.SetLayout(ctx, ind.ID, opentok.Layout{Type: opentok.LayoutPIP}), http.StatusBadRequest, opentok.ErrInvalid)

			// The service's own 400s, past the client's validation.
			for name, body := range map[string]string{
				"resolution with individual": `{"sessionId":"` + sid + `","outputMode":"individual","resolution":"1280x720"}`,
				"bad resolution":             `{"sessionId":"` + sid + `","resolution":"1024x768"}`,
				"no audio and no video":      `{"sessionId":"` + sid + `","hasAudio":false,"hasVideo":false}`,
				"bad layout":                 `{"sessionId":"` + sid + `","layout":{"type":"custom"}}`,
				"bad layout type":            `{"sessionId":"` + sid + `","layout":{"type":"grid"}}`,
				"missing session":            `{"name":"x"}`,
				"bitrate and qp":             `{"sessionId":"` + sid + `","maxBitrate":1000000,"quantizationParameter":20}`,
			} {
				rw.set(body)
				_, err := raw.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sid})
				if err == nil {
					t.Errorf("%s: started", name)
					continue
				}
				compAPIError(t, err, http.StatusBadRequest, opentok.ErrInvalid)
			}
			// OpenTok Python's nulls mean absent (as the official SDKs send it, which sdk_test.go runs).
			rw.set(`{"sessionId":"` + sid + `","name":null,"resolution":null,"multiArchiveTag":"py","maxBitrate":null,"hasAudio":null,"layout":null}`)
			py, err := raw.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sid})
			rw.set("")
			if err != nil {
				t.Fatalf("start with nulls: %v", err)
			}
			if py.Resolution != "640x480" || !py.HasAudio || py.Name != "" {
				t.Errorf("start with nulls: %+v", py)
			}

			// Get and list.
			if _, err := c.Archives.Get(ctx, "7b0bbf0b-0000-4000-8000-000000000000"); err == nil {
				t.Error("get of an unknown archive worked")
			} else {
				compAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound)
			}
			other := compSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
			compJoin(t, srv, c, other)
			elsewhere, err := c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: other})
			if err != nil {
				t.Fatal(err)
			}
			all, err := c.Archives.List(ctx, opentok.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantOrder := []string{elsewhere.ID, py.ID, ind.ID, auto.ID, manual.ID}
			if all.Count != 5 || !slices.Equal(compIDs(all.Items), wantOrder) {
				t.Errorf("list: count %d items %v, want 5 %v (newest first)", all.Count, compIDs(all.Items), wantOrder)
			}
			pageOf, err := c.Archives.List(ctx, opentok.ListOptions{SessionID: sid, Offset: 1, Count: 2})
			if err != nil {
				t.Fatal(err)
			}
			if pageOf.Count != 4 || !slices.Equal(compIDs(pageOf.Items), []string{ind.ID, auto.ID}) {
				t.Errorf("session page: count %d items %v", pageOf.Count, compIDs(pageOf.Items))
			}
			rw.query = func(q map[string][]string) { q["session_id"] = q["sessionId"]; delete(q, "sessionId") }
			py2, err := raw.Archives.List(ctx, opentok.ListOptions{SessionID: other})
			rw.query = nil
			if err != nil {
				t.Fatal(err)
			}
			if py2.Count != 1 || !slices.Equal(compIDs(py2.Items), []string{elsewhere.ID}) {
				t.Errorf("session_id filter: count %d items %v", py2.Count, compIDs(py2.Items))
			}
			rw.query = func(q map[string][]string) { q["count"] = []string{"1001"} }
			_, err = raw.Archives.List(ctx, opentok.ListOptions{})
			rw.query = nil
			compAPIError(t, err, http.StatusBadRequest, opentok.ErrInvalid)

			// Delete only once the file is available; stop only while recording.
			compAPIError(t, c.Archives.Delete(ctx, auto.ID), http.StatusConflict, opentok.ErrConflict)
			stopped, err := c.Archives.Stop(ctx, auto.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stopped.Status != opentok.ArchiveStopped || stopped.Reason != "user initiated" || stopped.URL != "" || len(stopped.Streams) != 0 {
				t.Errorf("stop reply: %+v", stopped)
			}
			_, err = c.Archives.Stop(ctx, auto.ID)
			if e := compAPIError(t, err, http.StatusConflict, opentok.ErrConflict); !strings.Contains(e.Message, "not currently recording") {
				t.Errorf("stop-twice message %q", e.Message)
			}
			compAPIError(t, c.Archives.Delete(ctx, auto.ID), http.StatusConflict, opentok.ErrConflict)
			compAPIError(t, c.Archives.SetLayout(ctx, auto.ID, opentok.Layout{Type: opentok.LayoutPIP}), http.StatusConflict, opentok.ErrConflict)
			_, err = c.Archives.Stop(ctx, "7b0bbf0b-0000-4000-8000-000000000000")
			compAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound)
		})
	}
}

func compIDs[T opentok.Archive | opentok.Broadcast](items []T) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch v := any(it).(type) {
		case opentok.Archive:
			out = append(out, v.ID)
		case opentok.Broadcast:
			out = append(out, v.ID)
		}
	}
	return out
}

func TestArchiveStartOnRelayedSession(t *testing.T) {
	for _, kind := range compKinds {
		t.Run(kind.name, func(t *testing.T) {
			srv := newCompServer(t)
			c := compClient(t, srv, kind.application)
			sid := compSession(t, c, opentok.SessionOptions{MediaMode: opentok.Relayed})
			compJoin(t, srv, c, sid)
			_, err := c.Archives.Start(t.Context(), opentok.ArchiveOptions{SessionID: sid})
			e := compAPIError(t, err, http.StatusConflict, opentok.ErrConflict)
			if !strings.Contains(e.Message, "relayed") {
				t.Errorf("message %q does not mention relayed", e.Message)
			}
			const want = "archive start: the session is relayed — archiving needs a routed session"
			if !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error reads %q, want it to start %q", err, want)
			}
		})
	}
}

// archiveCallbackKeys are the fields of the archive callback (the callback reference:
// https://tokbox.com/developer/callbacks/):
// the callback reference's list plus event, resolution and url, with the
// owner as projectId (legacy) or applicationId (application).
var archiveCallbackKeys = []string{"id", "event", "status", "name", "reason", "sessionId", "createdAt", "size", "duration",
	"outputMode", "hasAudio", "hasVideo", "certificate", "sha256sum", "password", "updatedAt", "resolution", "url"}

// checkArchiveCallback asserts one archive callback field by field against
// the callback reference above and the archive as REST shows it.
func checkArchiveCallback(t *testing.T, srv *Server, application bool, ev map[string]any, a *opentok.Archive, status, reason string, streams []string) {
	t.Helper()
	want := slices.Clone(archiveCallbackKeys)
	if application {
		want = append(want, "applicationId")
	} else {
		want = append(want, "projectId")
	}
	if status == "started" {
		want = append(want, "streams")
	}
	slices.Sort(want)
	got := slices.Sorted(maps.Keys(ev))
	if !slices.Equal(got, want) {
		t.Errorf("%s callback keys %v, want %v", status, got, want)
	}
	str := func(k string) string { s, _ := ev[k].(string); return s }
	num := func(k string) int64 {
		n, ok := ev[k].(json.Number)
		if !ok {
			t.Errorf("%s callback: %s = %#v, want a JSON number", status, k, ev[k])
			return -1
		}
		v, _ := n.Int64()
		return v
	}
	if application {
		if str("applicationId") != srv.ApplicationID {
			t.Errorf("applicationId = %#v", ev["applicationId"])
		}
	} else if n, ok := ev["projectId"].(json.Number); !ok || n.String() != srv.APIKey {
		t.Errorf("projectId = %#v, want the JSON number %s", ev["projectId"], srv.APIKey)
	}
	if str("event") != "archive" || str("id") != a.ID || str("status") != status || str("reason") != reason ||
		str("sessionId") != a.SessionID || str("name") != a.Name || str("outputMode") != "composed" ||
		str("resolution") != a.Resolution || str("certificate") != "" || str("password") != "" {
		t.Errorf("%s callback: %v", status, ev)
	}
	if ev["hasAudio"] != true || ev["hasVideo"] != true {
		t.Errorf("%s callback media: %v", status, ev)
	}
	if c := num("createdAt"); c != a.CreatedAt-a.CreatedAt%1000 {
		t.Errorf("%s callback createdAt %d, want the start time %d rounded down to the second", status, c, a.CreatedAt)
	}
	if u := num("updatedAt"); u < a.CreatedAt {
		t.Errorf("%s callback updatedAt %d before createdAt %d", status, u, a.CreatedAt)
	}
	size, duration := num("size"), num("duration")
	if status == "available" {
		if size <= 0 || duration < 1 || len(str("sha256sum")) != 64 || !strings.HasPrefix(str("url"), "https://") {
			t.Errorf("available callback: size %d duration %d sha %q url %v", size, duration, str("sha256sum"), ev["url"])
		}
	} else {
		if size != 0 || duration != 0 || ev["url"] != nil || str("sha256sum") != "" {
			t.Errorf("%s callback: size %d duration %d url %v sha %q", status, size, duration, ev["url"], str("sha256sum"))
		}
		if _, ok := ev["url"]; !ok {
			t.Errorf("%s callback has no url key (want null)", status)
		}
	}
	if status == "started" {
		list, _ := ev["streams"].([]any)
		var ids []string
		for _, x := range list {
			m, _ := x.(map[string]any)
			if m["hasAudio"] != true || m["hasVideo"] != true || len(m) != 3 {
				t.Errorf("started callback stream %v", m)
			}
			id, _ := m["streamId"].(string)
			ids = append(ids, id)
		}
		if !slices.Equal(ids, streams) {
			t.Errorf("started callback streams %v, want %v", ids, streams)
		}
	}
}

func TestArchiveLifecycleCallbacks(t *testing.T) {
	for _, kind := range compKinds {
		t.Run(kind.name, func(t *testing.T) {
			sink := newCompSink(t)
			srv := newCompServer(t, WithCallbackURL(GroupArchive, sink.url), WithTimeScale(1000))
			c := compClient(t, srv, kind.application)
			ctx := t.Context()
			sid := compSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
			p1, p2 := compJoin(t, srv, c, sid), compJoin(t, srv, c, sid)
			s1 := compPublish(t, p1)

			a, err := c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sid, Name: "lifecycle"})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // record something, so duration is at least 1 s
			if err := p1.Unpublish(s1); err != nil {
				t.Fatal(err)
			}
			if got := compWaitArchive(t, c, a.ID, opentok.ArchivePaused); got.Streams != nil {
				t.Errorf("a paused archive lists streams: %+v", got.Streams)
			}
			s2 := compPublish(t, p2)
			compWaitArchive(t, c, a.ID, opentok.ArchiveStarted)
			if _, err := c.Archives.Stop(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			avail := compWaitArchive(t, c, a.ID, opentok.ArchiveAvailable)
			if avail.URL == "" || avail.Size <= 0 || avail.Duration < 1 || avail.Reason != "user initiated" {
				t.Errorf("available archive: %+v", avail)
			}

			evs := sink.waitEvents(t, 5)
			if got := compStatuses(evs); !slices.Equal(got, []string{"started", "paused", "started", "stopped", "available"}) {
				t.Fatalf("callback statuses %v", got)
			}
			checkArchiveCallback(t, srv, kind.application, evs[0], a, "started", "", []string{s1})
			checkArchiveCallback(t, srv, kind.application, evs[1], a, "paused", "", nil)
			checkArchiveCallback(t, srv, kind.application, evs[2], a, "started", "", []string{s2})
			checkArchiveCallback(t, srv, kind.application, evs[3], a, "stopped", "user initiated", nil)
			checkArchiveCallback(t, srv, kind.application, evs[4], a, "available", "user initiated", nil)
			if evs[4]["url"] != avail.URL {
				t.Errorf("available callback url %v, REST %q", evs[4]["url"], avail.URL)
			}

			// Delete only when available; a deleted archive can be deleted again.
			if err := c.Archives.Delete(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
			if err := c.Archives.Delete(ctx, a.ID); err != nil {
				t.Fatalf("second delete: %v", err)
			}
			if got, err := c.Archives.Get(ctx, a.ID); err != nil || got.Status != opentok.ArchiveDeleted || got.URL != "" {
				t.Errorf("after delete: %+v %v", got, err)
			}
			if evs := sink.waitEvents(t, 6); compStatuses(evs)[5] != "deleted" {
				t.Errorf("statuses after delete %v", compStatuses(evs))
			}
		})
	}
}

func TestArchiveStopsWhenSessionEnds(t *testing.T) {
	for _, kind := range compKinds {
		t.Run(kind.name, func(t *testing.T) {
			sink := newCompSink(t)
			// 60 s of service time is 60 ms.
			srv := newCompServer(t, WithCallbackURL(GroupArchive, sink.url), WithTimeScale(1000))
			c := compClient(t, srv, kind.application)
			sid := compSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
			p := compJoin(t, srv, c, sid)
			compPublish(t, p)
			a, err := c.Archives.Start(t.Context(), opentok.ArchiveOptions{SessionID: sid})
			if err != nil {
				t.Fatal(err)
			}
			left := time.Now()
			if err := p.Leave(); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Archives.Get(t.Context(), a.ID); err != nil || got.Status != opentok.ArchivePaused {
				t.Fatalf("right after the last client left: %+v %v (want paused, not yet stopped)", got, err)
			}
			// stopped lasts 2 ms of real time here; the file is what a poll sees.
			done := compWaitArchive(t, c, a.ID, opentok.ArchiveAvailable)
			if done.Reason != "session ended" {
				t.Errorf("reason %q, want session ended", done.Reason)
			}
			evs := sink.waitEvents(t, 4)
			if got := compStatuses(evs); !slices.Equal(got, []string{"started", "paused", "stopped", "available"}) {
				t.Fatalf("callback statuses %v", got)
			}
			if evs[2]["reason"] != "session ended" || evs[3]["reason"] != "session ended" {
				t.Errorf("reasons: %v / %v", evs[2]["reason"], evs[3]["reason"])
			}
			if at, _ := evs[2]["updatedAt"].(json.Number).Int64(); at-left.UnixMilli() < 55 {
				t.Errorf("stopped %d ms after the session emptied, want the scaled 60 s", at-left.UnixMilli())
			}
		})
	}
}

func TestArchiveSurvivesAClientComingBack(t *testing.T) {
	// 60 s of service time is 600 ms here: the client is back at once.
	srv := newCompServer(t, WithTimeScale(100))
	c := compClient(t, srv, false)
	sid := compSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
	p := compJoin(t, srv, c, sid)
	compPublish(t, p)
	a, err := c.Archives.Start(t.Context(), opentok.ArchiveOptions{SessionID: sid})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Leave(); err != nil {
		t.Fatal(err)
	}
	emptied := time.Now()
	back := compJoin(t, srv, c, sid)
	compPublish(t, back)
	// The stop armed when the session emptied is due 60 service-seconds
	// later: let the service's clock pass that, then look.
	waitTimersDue(t, srv, emptied.Add(compositionEmptyStop/100+time.Millisecond))
	if got, err := c.Archives.Get(t.Context(), a.ID); err != nil || got.Status != opentok.ArchiveStarted {
		t.Fatalf("archive after the client came back: %+v %v (want still started)", got, err)
	}
}

func TestArchiveModeAlwaysStartsOnFirstStream(t *testing.T) {
	for _, kind := range compKinds {
		t.Run(kind.name, func(t *testing.T) {
			sink := newCompSink(t)
			srv := newCompServer(t, WithCallbackURL(GroupArchive, sink.url), WithTimeScale(1000))
			c := compClient(t, srv, kind.application)
			ctx := t.Context()
			sid := compSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed, ArchiveMode: opentok.ArchiveAlways,
				ArchiveName: "always on", ArchiveResolution: "1280x720"})
			p := compJoin(t, srv, c, sid)
			if l, err := c.Archives.List(ctx, opentok.ListOptions{SessionID: sid}); err != nil || l.Count != 0 {
				t.Fatalf("before any stream: %+v %v", l, err)
			}
			st := compPublish(t, p)
			l, err := c.Archives.List(ctx, opentok.ListOptions{SessionID: sid})
			if err != nil {
				t.Fatal(err)
			}
			if l.Count != 1 {
				t.Fatalf("after the first stream: %d archives", l.Count)
			}
			a := l.Items[0]
			if a.Status != opentok.ArchiveStarted || a.Name != "always on" || a.Resolution != "1280x720" ||
				!slices.Equal(a.Streams, []opentok.ArchiveStream{{StreamID: st, HasAudio: true, HasVideo: true}}) {
				t.Errorf("automatic archive: %+v", a)
			}
			evs := sink.waitEvents(t, 1)
			checkArchiveCallback(t, srv, kind.application, evs[0], &a, "started", "", []string{st})

			// It blocks an untagged manual archive like any other.
			_, err = c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sid})
			compAPIError(t, err, http.StatusConflict, opentok.ErrConflict)
			// A second stream does not start a second archive.
			compPublish(t, compJoin(t, srv, c, sid))
			if l, _ := c.Archives.List(ctx, opentok.ListOptions{SessionID: sid}); l.Count != 1 {
				t.Errorf("second stream: %d archives", l.Count)
			}
		})
	}
}

func TestBroadcastEndpoints(t *testing.T) {
	for _, kind := range compKinds {
		t.Run(kind.name, func(t *testing.T) {
			srv := newCompServer(t)
			rw := &compRewrite{}
			c := compClient(t, srv, kind.application)
			raw := compClient(t, srv, kind.application, opentok.WithHTTPClient(&http.Client{Transport: rw}))
			ctx := t.Context()
			sid := compSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
			p := compJoin(t, srv, c, sid)
			st := compPublish(t, p)

			yes, no := true, false
			b, err := c.Broadcasts.Start(ctx, opentok.BroadcastOptions{
				SessionID: sid, Layout: &opentok.Layout{Type: opentok.LayoutHorizontalPresentation},
				Outputs: opentok.BroadcastOutputs{
					HLS:  &opentok.HLSOutput{DVR: true},
					RTMP: []opentok.RTMPOutput{{ID: "yt", ServerURL: "rtmp://a.example/live2", StreamName: "key1"}, {ServerURL: "rtmps://b.example/app", StreamName: "key2"}},
				},
				Resolution: "1280x720", MaxDuration: 3600, MaxBitrate: 1_000_000, StreamMode: opentok.StreamModeAuto,
				MultiBroadcastTag: "main", HasAudio: &yes, HasVideo: &no,
			})
			if err != nil {
				t.Fatal(err)
			}
			if b.Status != opentok.BroadcastStarted || b.SessionID != sid || b.Resolution != "1280x720" || b.MaxDuration != 3600 ||
				b.MaxBitrate != 1_000_000 || b.MultiBroadcastTag != "main" || !b.HasAudio || b.HasVideo ||
				b.StreamMode != opentok.StreamModeAuto || b.CreatedAt == 0 || b.UpdatedAt < b.CreatedAt {
				t.Errorf("start reply: %+v", b)
			}
			if kind.application {
				if b.ApplicationID != srv.ApplicationID || b.ProjectID != "" || b.Event != "broadcast" {
					t.Errorf("unified owner fields: %+v", b)
				}
			} else if string(b.ProjectID) != srv.APIKey || b.ApplicationID != "" {
				t.Errorf("legacy owner fields: %+v", b)
			}
			u := b.BroadcastURLs
			if !strings.HasPrefix(u.HLS, "https://") || !strings.Contains(u.HLS, "DVR") || u.HLSStatus != "live" ||
				b.Settings.HLS == nil || !b.Settings.HLS.DVR || b.Settings.HLS.LowLatency {
				t.Errorf("hls: %+v settings %+v", u, b.Settings)
			}
			wantRTMP := []opentok.RTMPStatus{{ID: "yt", ServerURL: "rtmp://a.example/live2", StreamName: "key1", Status: "live"},
				{ServerURL: "rtmps://b.example/app", StreamName: "key2", Status: "live"}}
			if !slices.Equal(u.RTMP, wantRTMP) {
				t.Errorf("rtmp %+v, want %+v", u.RTMP, wantRTMP)
			}

			// Tags.
			_, err = c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: sid, MultiBroadcastTag: "main",
				Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{}}})
			if e := compAPIError(t, err, http.StatusConflict, opentok.ErrConflict); !strings.Contains(e.Message, "already") {
				t.Errorf("busy message %q", e.Message)
			}
			manual, err := c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: sid, StreamMode: opentok.StreamModeManual,
				Outputs: opentok.BroadcastOutputs{RTMP: []opentok.RTMPOutput{{ServerURL: "rtmp://c.example/x", StreamName: "k"}}}})
			if err != nil {
				t.Fatal(err)
			}
			if manual.BroadcastURLs.HLS != "" || manual.Settings.HLS != nil || manual.Resolution != "640x480" || manual.MaxDuration != 14400 {
				t.Errorf("rtmp-only broadcast defaults: %+v", manual)
			}

			// The service's own 400s.
			rtmp := `{"serverUrl":"rtmp://x.example/a","streamName":"k"}`
			for name, body := range map[string]string{
				"no outputs":         `{"sessionId":"` + sid + `","outputs":{}}`,
				"outputs missing":    `{"sessionId":"` + sid + `"}`,
				"six rtmp":           `{"sessionId":"` + sid + `","outputs":{"rtmp":[` + strings.Repeat(rtmp+",", 5) + rtmp + `]}}`,
				"dvr and lowLatency": `{"sessionId":"` + sid + `","outputs":{"hls":{"dvr":true,"lowLatency":true}}}`,
				"rtmp without key":   `{"sessionId":"` + sid + `","outputs":{"rtmp":[{"serverUrl":"rtmp://x.example/a"}]}}`,
				"bad resolution":     `{"sessionId":"` + sid + `","outputs":{"hls":{}},"resolution":"1x1"}`,
				"bad layout":         `{"sessionId":"` + sid + `","outputs":{"hls":{}},"layout":{"type":"bestFit","screenshareType":"custom"}}`,
				"short maxDuration":  `{"sessionId":"` + sid + `","outputs":{"hls":{}},"maxDuration":10}`,
			} {
				rw.set(body)
				_, err := raw.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: sid, Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{}}})
				if err == nil {
					t.Errorf("%s: started", name)
					continue
				}
				compAPIError(t, err, http.StatusBadRequest, opentok.ErrInvalid)
			}
			rw.set("")

			// Streams and layout.
			compAPIError(t, c.Broadcasts.AddStream(ctx, b.ID, st, true, true), http.StatusMethodNotAllowed, nil)
			if err := c.Broadcasts.AddStream(ctx, manual.ID, st, true, true); err != nil {
				t.Fatal(err)
			}
			compAPIError(t, c.Broadcasts.AddStream(ctx, manual.ID, "no-such-stream", true, true), http.StatusNotFound, opentok.ErrNotFound)
			if err := c.Broadcasts.RemoveStream(ctx, manual.ID, st); err != nil {
				t.Fatal(err)
			}
			if err := c.Broadcasts.SetLayout(ctx, b.ID, opentok.Layout{Type: opentok.LayoutCustom, Stylesheet: "stream {}"}); err != nil {
				t.Fatal(err)
			}
			rw.set(`{"type":"custom"}`)
			compAPIError(t, raw.Broadcasts.SetLayout(ctx, b.ID, opentok.Layout{Type: opentok.LayoutPIP}), http.StatusBadRequest, opentok.ErrInvalid)
			rw.set("")

			// Get and list.
			got, err := c.Broadcasts.Get(ctx, b.ID)
			if err != nil || got.ID != b.ID || got.Status != opentok.BroadcastStarted {
				t.Fatalf("get: %+v %v", got, err)
			}
			_, err = c.Broadcasts.Get(ctx, "7b0bbf0b-0000-4000-8000-000000000000")
			compAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound)
			other := compSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
			elsewhere, err := c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: other, Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{LowLatency: true}}})
			if err != nil {
				t.Fatal(err)
			}
			all, err := c.Broadcasts.List(ctx, opentok.ListOptions{})
			if err != nil || all.Count != 3 || !slices.Equal(compIDs(all.Items), []string{elsewhere.ID, manual.ID, b.ID}) {
				t.Errorf("list: %v %v", all, err)
			}
			pg, err := c.Broadcasts.List(ctx, opentok.ListOptions{SessionID: sid, Offset: 1, Count: 1})
			if err != nil || pg.Count != 2 || !slices.Equal(compIDs(pg.Items), []string{b.ID}) {
				t.Errorf("session page: %v %v", pg, err)
			}
			rw.query = func(q map[string][]string) { q["session_id"] = q["sessionId"]; delete(q, "sessionId") }
			py, err := raw.Broadcasts.List(ctx, opentok.ListOptions{SessionID: other})
			rw.query = nil
			if err != nil || py.Count != 1 || !slices.Equal(compIDs(py.Items), []string{elsewhere.ID}) {
				t.Errorf("session_id filter: %v %v", py, err)
			}

			// Stop, and stop again.
			stopped, err := c.Broadcasts.Stop(ctx, b.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stopped.Status != opentok.BroadcastStopped || stopped.BroadcastURLs.HLSStatus != "ended" || stopped.BroadcastURLs.RTMP[0].Status != "offline" {
				t.Errorf("stop reply: %+v", stopped)
			}
			_, err = c.Broadcasts.Stop(ctx, b.ID)
			if e := compAPIError(t, err, http.StatusConflict, opentok.ErrConflict); !strings.Contains(e.Message, "not found or already stopped") {
				t.Errorf("stop-twice message %q", e.Message)
			}
			compAPIError(t, c.Broadcasts.SetLayout(ctx, b.ID, opentok.Layout{Type: opentok.LayoutPIP}), http.StatusConflict, opentok.ErrConflict)
			// The tag is free again.
			if _, err := c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: sid, MultiBroadcastTag: "main",
				Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{}}}); err != nil {
				t.Errorf("restart under a freed tag: %v", err)
			}

			// Relayed.
			relayed := compSession(t, c, opentok.SessionOptions{MediaMode: opentok.Relayed})
			_, err = c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: relayed, Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{}}})
			compAPIError(t, err, http.StatusConflict, opentok.ErrConflict)
			if want := "broadcast start: the session is relayed — broadcasting needs a routed session"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error reads %q", err)
			}
		})
	}
}

func TestBroadcastLifecycleCallbacks(t *testing.T) {
	for _, kind := range compKinds {
		t.Run(kind.name, func(t *testing.T) {
			sink := newCompSink(t)
			srv := newCompServer(t, WithCallbackURL(GroupBroadcast, sink.url), WithTimeScale(1000))
			c := compClient(t, srv, kind.application)
			ctx := t.Context()
			sid := compSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
			p := compJoin(t, srv, c, sid)
			compPublish(t, p)

			// Stopped by its maxDuration (60 s = 60 ms here).
			short, err := c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: sid, MaxDuration: 60, MultiBroadcastTag: "short",
				Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{}}})
			if err != nil {
				t.Fatal(err)
			}
			evs := sink.waitEvents(t, 2)
			for i, status := range []string{"started", "stopped"} {
				ev := evs[i]
				if ev["event"] != "broadcast" || ev["id"] != short.ID || ev["status"] != status || ev["sessionId"] != sid {
					t.Errorf("callback %d: %v", i, ev)
				}
				owner := "projectId"
				want := srv.APIKey
				if kind.application {
					owner, want = "applicationId", srv.ApplicationID
				}
				if ev[owner] != want {
					t.Errorf("callback %d %s = %#v, want %q", i, owner, ev[owner], want)
				}
				if _, ok := ev["broadcastUrls"].(map[string]any); !ok {
					t.Errorf("callback %d has no broadcastUrls: %v", i, ev)
				}
			}

			// Stopped 60 s after the session empties.
			long, err := c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: sid, Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{}}})
			if err != nil {
				t.Fatal(err)
			}
			left := time.Now()
			if err := p.Leave(); err != nil {
				t.Fatal(err)
			}
			evs = sink.waitEvents(t, 4)
			if waited := time.Since(left); waited < 55*time.Millisecond {
				t.Errorf("stopped %v after the session emptied, want the scaled 60 s", waited)
			}
			if evs[3]["id"] != long.ID || evs[3]["status"] != "stopped" {
				t.Errorf("last callback %v", evs[3])
			}
			if got, err := c.Broadcasts.Get(ctx, long.ID); err != nil || got.Status != opentok.BroadcastStopped {
				t.Errorf("after the session emptied: %+v %v", got, err)
			}
		})
	}
}
