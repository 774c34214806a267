package opentoktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
	"github.com/golang-jwt/jwt/v5"
)

// integCallbacks is one loopback receiver for every callback group; each
// group is registered under its own path so a test can tell them apart.
type integCallbacks struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []integCallback
}

type integCallback struct {
	path string
	body []byte
}

func newIntegCallbacks(t *testing.T) *integCallbacks {
	rc := &integCallbacks{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, integCallback{path: r.URL.Path, body: b})
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *integCallbacks) url(path string) string { return rc.srv.URL + path }

// events decodes the bodies received on path, in arrival order.
func (rc *integCallbacks) events(t *testing.T, path string) []map[string]any {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []map[string]any
	for _, cb := range rc.got {
		if cb.path != path {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(cb.body, &m); err != nil {
			t.Fatalf("callback on %s is not a JSON object: %v: %s", path, err, cb.body)
		}
		out = append(out, m)
	}
	return out
}

// integEnv is an emulator whose SIP, render, captions and session callbacks
// go to one receiver, with a routed and a relayed session.
type integEnv struct {
	srv             *Server
	client          *opentok.Client
	cb              *integCallbacks
	routed, relayed string
	owner           string // API key or application ID
	application     bool
}

// newIntegEnv starts an emulator at time scale 1000; opts may override it.
func newIntegEnv(t *testing.T, application bool, opts ...Option) *integEnv {
	t.Helper()
	cb := newIntegCallbacks(t)
	srv, err := NewServer(append([]Option{
		WithCallbackURL(GroupSIP, cb.url("/sip")),
		WithCallbackURL(GroupRender, cb.url("/render")),
		WithCallbackURL(GroupCaptions, cb.url("/captions")),
		WithCallbackURL(GroupSession, cb.url("/session")),
		WithCallbackWorkers(1), WithTimeScale(1000)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client, err := srv.Client(application)
	if err != nil {
		t.Fatal(err)
	}
	env := &integEnv{srv: srv, client: client, cb: cb, owner: srv.APIKey, application: application}
	if application {
		env.owner = srv.ApplicationID
	}
	ctx := context.Background()
	routed, err := client.Sessions.Create(ctx, opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	relayed, err := client.Sessions.Create(ctx, opentok.SessionOptions{MediaMode: opentok.Relayed})
	if err != nil {
		t.Fatal(err)
	}
	env.routed, env.relayed = routed.ID, relayed.ID
	return env
}

func (e *integEnv) token(t *testing.T, sessionID string, role opentok.Role, data string) string {
	t.Helper()
	tok, err := e.client.Token(sessionID, opentok.TokenOptions{Role: role, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

func (e *integEnv) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.FlushCallbacks(ctx); err != nil {
		t.Fatal(err)
	}
}

func (e *integEnv) session(t *testing.T, id string) SessionState {
	t.Helper()
	st, ok := e.srv.Session(id)
	if !ok {
		t.Fatalf("session %s missing from the ground truth", id)
	}
	return st
}

// ownerKey is the key REST objects name the project with.
func (e *integEnv) ownerKey() string {
	if e.application {
		return "applicationId"
	}
	return "projectId"
}

// integEventually polls cond for up to 5 s; service timers run 1000× fast.
func integEventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func integKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func integWantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	sort.Strings(want)
	if got := integKeys(m); !reflect.DeepEqual(got, want) {
		t.Errorf("%s keys = %v, want %v (body %v)", what, got, want, m)
	}
}

func integField(t *testing.T, what string, m map[string]any, key string, want any) {
	t.Helper()
	if got := m[key]; !reflect.DeepEqual(got, want) {
		t.Errorf("%s[%q] = %#v, want %#v", what, key, got, want)
	}
}

// integMillis checks a millisecond timestamp falls in [lo, hi].
func integMillis(t *testing.T, what string, m map[string]any, key string, lo, hi int64) {
	t.Helper()
	v, ok := m[key].(float64)
	if !ok || int64(v) < lo || int64(v) > hi {
		t.Errorf("%s[%q] = %v, want a ms timestamp in [%d, %d]", what, key, m[key], lo, hi)
	}
}

func integBoth(t *testing.T, f func(t *testing.T, application bool)) {
	t.Run("legacy", func(t *testing.T) { f(t, false) })
	t.Run("unified", func(t *testing.T) { f(t, true) })
}

func (st SessionState) integConn(id string) (ConnectionState, bool) {
	for _, c := range st.Connections {
		if c.ID == id {
			return c, true
		}
	}
	return ConnectionState{}, false
}

func (st SessionState) integStream(id string) (StreamState, bool) {
	for _, x := range st.Streams {
		if x.ID == id {
			return x, true
		}
	}
	return StreamState{}, false
}

func integSessionEvents(t *testing.T, e *integEnv, event, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range e.cb.events(t, "/session") {
		if ev["event"] != event {
			continue
		}
		obj, _ := ev["connection"].(map[string]any)
		if s, ok := ev["stream"].(map[string]any); ok {
			obj = s
		}
		if obj["id"] == id {
			out = append(out, ev)
		}
	}
	return out
}

// ---- SIP ----

func TestSIPDialJoinsAndForceDisconnectEndsCall(t *testing.T) {
	integBoth(t, func(t *testing.T, application bool) {
		e := newIntegEnv(t, application)
		ctx := context.Background()
		before := time.Now().UnixMilli()
		call, err := e.client.SIP.Dial(ctx, opentok.DialOptions{
			SessionID: e.routed,
			Token:     e.token(t, e.routed, opentok.RolePublisher, "phone=+14155550101"),
			SIP: opentok.SIPOptions{URI: "sip:user@sip.example.com;transport=tls", From: "14155550100@example.com",
				Headers: map[string]string{"X-Room": "7"}, Auth: &opentok.SIPAuth{Username: "u", Password: "p"}, Secure: true},
		})
		if err != nil {
			t.Fatal(err)
		}
		if call.ID == "" || call.ConnectionID == "" || call.StreamID == "" {
			t.Fatalf("dial reply %+v lacks an ID", call)
		}

		// Ground truth: a real connection with the token's data, and an
		// audio-only stream on it.
		st := e.session(t, e.routed)
		c, ok := st.integConn(call.ConnectionID)
		if !ok || c.Data != "phone=+14155550101" || c.Role != opentok.RolePublisher {
			t.Fatalf("SIP connection in ground truth = %+v, %v; want data and role from the token", c, ok)
		}
		x, ok := st.integStream(call.StreamID)
		if !ok || x.ConnectionID != call.ConnectionID || x.VideoType != "" || !x.HasAudio || x.HasVideo {
			t.Fatalf("SIP stream in ground truth = %+v, %v; want audio-only on the SIP connection", x, ok)
		}
		if !st.Live {
			t.Error("session with a SIP participant is not live")
		}
		list, err := e.client.Connections.List(ctx, e.routed)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(list.Items, func(ci opentok.ConnectionInfo) bool { return ci.ID == call.ConnectionID }) {
			t.Errorf("GET connection %+v lacks the SIP connection %s", list.Items, call.ConnectionID)
		}
		// A server signal reaches the SIP participant's connection too.
		if err := e.client.Signals.Send(ctx, e.routed, "", opentok.Signal{Type: "chat", Data: "hi"}); err != nil {
			t.Fatalf("signal to a session with a SIP participant: %v", err)
		}

		integEventually(t, "callUpdated ACTIVE", func() bool {
			e.flush(t)
			return len(e.cb.events(t, "/sip")) >= 2
		})
		if err := e.client.Moderation.ForceDisconnect(ctx, e.routed, call.ConnectionID); err != nil {
			t.Fatal(err)
		}
		e.flush(t)
		after := time.Now().UnixMilli()

		evs := e.cb.events(t, "/sip")
		var got []string
		for _, ev := range evs {
			got = append(got, ev["event"].(string)+"/"+func() string { s, _ := ev["state"].(string); return s }())
		}
		if want := []string{"callCreated/", "callUpdated/ACTIVE", "callUpdated/HANGUP", "callDestroyed/"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("SIP callbacks = %v, want %v", got, want)
		}
		var createdAt float64
		for i, ev := range evs {
			what := "SIP " + got[i]
			switch ev["event"] {
			case "callUpdated":
				integWantKeys(t, what, ev, "sessionId", "projectId", "event", "state", "timestamp", "call")
			case "callDestroyed":
				integWantKeys(t, what, ev, "sessionId", "projectId", "event", "reason_code", "reason_message", "timestamp", "call")
				integField(t, what, ev, "reason_code", "700")
				integField(t, what, ev, "reason_message", "Normal Clearing")
			default:
				integWantKeys(t, what, ev, "sessionId", "projectId", "event", "timestamp", "call")
			}
			integField(t, what, ev, "sessionId", e.routed)
			integField(t, what, ev, "projectId", e.owner)
			integMillis(t, what, ev, "timestamp", before, after)
			cl, _ := ev["call"].(map[string]any)
			integWantKeys(t, what+" call", cl, "id", "connectionId", "createdAt")
			integField(t, what+" call", cl, "id", call.ID)
			integField(t, what+" call", cl, "connectionId", call.ConnectionID)
			integMillis(t, what+" call", cl, "createdAt", before, after)
			if i == 0 {
				createdAt, _ = cl["createdAt"].(float64)
			} else if cl["createdAt"] != createdAt {
				t.Errorf("%s call.createdAt %v differs from callCreated's %v", what, cl["createdAt"], createdAt)
			}
		}

		// Session monitoring saw the SIP client come and be thrown out.
		created := integSessionEvents(t, e, "connectionCreated", call.ConnectionID)
		if len(created) != 1 || created[0]["connection"].(map[string]any)["data"] != "phone=+14155550101" {
			t.Errorf("connectionCreated for the SIP connection = %v", created)
		}
		destroyed := integSessionEvents(t, e, "connectionDestroyed", call.ConnectionID)
		if len(destroyed) != 1 || destroyed[0]["reason"] != ReasonForceDisconnected {
			t.Errorf("connectionDestroyed for the SIP connection = %v", destroyed)
		}
		sc := integSessionEvents(t, e, "streamCreated", call.StreamID)
		if len(sc) != 1 {
			t.Fatalf("streamCreated for the SIP stream = %v", sc)
		}
		if _, has := sc[0]["stream"].(map[string]any)["videoType"]; has {
			t.Errorf("audio-only SIP stream has a videoType: %v", sc[0])
		}
		st = e.session(t, e.routed)
		if _, ok := st.integConn(call.ConnectionID); ok {
			t.Error("force-disconnected SIP connection still in the ground truth")
		}
		if _, ok := st.integStream(call.StreamID); ok {
			t.Error("SIP stream outlived its connection")
		}
		if err := e.srv.HangUpSIP(call.ID); err == nil {
			t.Error("HangUpSIP on an ended call succeeded")
		}
	})
}

func TestSIPVideoAndFarEndHangUp(t *testing.T) {
	// The far end answers after 1 s of service time: at scale 10 that is
	// 100 ms, room enough for the hang-up below to come first on a busy machine.
	e := newIntegEnv(t, false, WithTimeScale(10))
	ctx := context.Background()
	call, err := e.client.SIP.Dial(ctx, opentok.DialOptions{SessionID: e.routed, Token: e.token(t, e.routed, opentok.RolePublisher, ""),
		SIP: opentok.SIPOptions{URI: "sips:room@example.com", Video: true}})
	if err != nil {
		t.Fatal(err)
	}
	x, ok := e.session(t, e.routed).integStream(call.StreamID)
	if !ok || x.VideoType != "camera" || !x.HasVideo || !x.HasAudio {
		t.Fatalf("video SIP stream = %+v, %v; want camera with audio and video", x, ok)
	}
	// Hang up before the far end answers: no ACTIVE may follow.
	if err := e.srv.HangUpSIP(call.ID); err != nil {
		t.Fatal(err)
	}
	waitTimers(t, e.srv) // the far end's answer has come (and been ignored)
	e.flush(t)
	var got []string
	for _, ev := range e.cb.events(t, "/sip") {
		got = append(got, ev["event"].(string))
	}
	if want := []string{"callCreated", "callUpdated", "callDestroyed"}; !reflect.DeepEqual(got, want) {
		t.Errorf("SIP callbacks after a hang-up = %v, want %v", got, want)
	}
	destroyed := integSessionEvents(t, e, "connectionDestroyed", call.ConnectionID)
	if len(destroyed) != 1 || destroyed[0]["reason"] != ReasonClientDisconnected {
		t.Errorf("connectionDestroyed after the far end hung up = %v", destroyed)
	}
	if e.session(t, e.routed).Live {
		t.Error("session still live after its only (SIP) connection left")
	}
}

func TestSIPDialErrors(t *testing.T) {
	integBoth(t, func(t *testing.T, application bool) {
		e := newIntegEnv(t, application)
		ctx := context.Background()
		dial := func(sessionID, token string) error {
			_, err := e.client.SIP.Dial(ctx, opentok.DialOptions{SessionID: sessionID, Token: token, SIP: opentok.SIPOptions{URI: "sip:a@example.com"}})
			return err
		}
		if err := dial(e.relayed, e.token(t, e.relayed, opentok.RolePublisher, "")); !errors.Is(err, opentok.ErrConflict) {
			t.Errorf("dial into a relayed session: %v, want ErrConflict", err)
		}
		if err := dial("no-such-session", e.token(t, "no-such-session", opentok.RolePublisher, "")); !errors.Is(err, opentok.ErrNotFound) {
			t.Errorf("dial into an unknown session: %v, want ErrNotFound", err)
		}
		if err := dial(e.routed, e.token(t, e.relayed, opentok.RolePublisher, "")); !errors.Is(err, opentok.ErrInvalid) {
			t.Errorf("dial with another session's token: %v, want ErrInvalid", err)
		}
		if err := dial(e.routed, "aaa.bbb.ccc"); !errors.Is(err, opentok.ErrInvalid) {
			t.Errorf("dial with a forged token: %v, want ErrInvalid", err)
		}
		if st := e.session(t, e.routed); len(st.Connections) != 0 || len(st.Streams) != 0 {
			t.Errorf("failed dials left %+v in the session", st)
		}
		e.flush(t)
		if evs := e.cb.events(t, "/sip"); len(evs) != 0 {
			t.Errorf("failed dials sent SIP callbacks: %v", evs)
		}
	})
}

// ---- Experience Composer ----

func TestRenderLifecycle(t *testing.T) {
	integBoth(t, func(t *testing.T, application bool) {
		e := newIntegEnv(t, application)
		ctx := context.Background()
		before := time.Now().UnixMilli()
		r, err := e.client.Renders.Start(ctx, opentok.RenderOptions{
			SessionID: e.routed, Token: e.token(t, e.routed, opentok.RolePublisher, "composer"),
			URL: "https://app.example.com/stage", Properties: &opentok.RenderProperties{Name: "Stage"},
			StatusCallbackURL: e.cb.url("/render-status"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.ID == "" || r.SessionID != e.routed || r.URL != "https://app.example.com/stage" || r.Resolution != "1280x720" {
			t.Errorf("render start reply = %+v", r)
		}
		if r.Status != opentok.RenderStarting && r.Status != opentok.RenderStarted {
			t.Errorf("render start status %q, want starting or started", r.Status)
		}
		if application && (r.ApplicationID != e.owner || r.ProjectID != "") || !application && (r.ProjectID != e.owner || r.ApplicationID != "") {
			t.Errorf("render owner fields project=%q application=%q, want %s %q", r.ProjectID, r.ApplicationID, e.ownerKey(), e.owner)
		}

		var got *opentok.Render
		integEventually(t, "render started", func() bool {
			got, err = e.client.Renders.Get(ctx, r.ID)
			return err == nil && got.Status == opentok.RenderStarted
		})
		st := e.session(t, e.routed)
		x, ok := st.integStream(got.StreamID)
		if !ok || x.Name != "Stage" || x.VideoType != "camera" || !x.HasAudio || !x.HasVideo {
			t.Fatalf("render stream in ground truth = %+v, %v", x, ok)
		}
		c, ok := st.integConn(x.ConnectionID)
		if !ok || c.Data != "composer" {
			t.Fatalf("render connection in ground truth = %+v, %v; want the token's data", c, ok)
		}

		if err := e.client.Renders.Stop(ctx, r.ID); err != nil {
			t.Fatalf("Renders.Stop: %v", err)
		}
		stopped, err := e.client.Renders.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stopped.Status != opentok.RenderStopped || stopped.Reason != "Stop Requested" || stopped.UpdatedAt < stopped.CreatedAt {
			t.Errorf("stopped render = %+v", stopped)
		}
		st = e.session(t, e.routed)
		if _, ok := st.integStream(got.StreamID); ok {
			t.Error("render stream still in the session after stop")
		}
		if _, ok := st.integConn(x.ConnectionID); ok {
			t.Error("render connection still in the session after stop")
		}
		// Stopping again changes nothing and still succeeds.
		if err := e.client.Renders.Stop(ctx, r.ID); err != nil {
			t.Errorf("second Renders.Stop: %v", err)
		}

		e.flush(t)
		after := time.Now().UnixMilli()
		if other := e.cb.events(t, "/render"); len(other) != 0 {
			t.Errorf("project render URL got %v although the render had its own statusCallbackUrl", other)
		}
		evs := e.cb.events(t, "/render-status")
		if len(evs) != 2 {
			t.Fatalf("render status callbacks = %v, want started and stopped", evs)
		}
		integWantKeys(t, "render started", evs[0], "id", "sessionId", "streamId", "status")
		integWantKeys(t, "render stopped", evs[1], "id", "sessionId", "streamId", "status", "reason")
		for i, status := range []string{"started", "stopped"} {
			integField(t, "render "+status, evs[i], "id", r.ID)
			integField(t, "render "+status, evs[i], "sessionId", e.routed)
			integField(t, "render "+status, evs[i], "streamId", got.StreamID)
			integField(t, "render "+status, evs[i], "status", status)
		}
		integField(t, "render stopped", evs[1], "reason", "Stop Requested")
		if dc := integSessionEvents(t, e, "connectionDestroyed", x.ConnectionID); len(dc) != 1 || dc[0]["reason"] != ReasonClientDisconnected {
			t.Errorf("connectionDestroyed of the render = %v", dc)
		}
		if got.CreatedAt < before || got.CreatedAt > after {
			t.Errorf("render createdAt %d not in [%d, %d]", got.CreatedAt, before, after)
		}
	})
}

func TestRenderListNewestFirst(t *testing.T) {
	integBoth(t, func(t *testing.T, application bool) {
		e := newIntegEnv(t, application)
		ctx := context.Background()
		var ids []string
		for range 3 {
			r, err := e.client.Renders.Start(ctx, opentok.RenderOptions{SessionID: e.routed,
				Token: e.token(t, e.routed, opentok.RoleModerator, ""), URL: "http://example.com/x", Resolution: "640x480"})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		all, err := e.client.Renders.List(ctx, opentok.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range all.Items {
			got = append(got, it.ID)
			if it.Resolution != "640x480" {
				t.Errorf("listed render resolution %q", it.Resolution)
			}
		}
		if want := []string{ids[2], ids[1], ids[0]}; all.Count != 3 || !reflect.DeepEqual(got, want) {
			t.Errorf("render list count=%d ids=%v, want 3 %v", all.Count, got, want)
		}
		page, err := e.client.Renders.List(ctx, opentok.ListOptions{Offset: 1, Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		if page.Count != 3 || len(page.Items) != 1 || page.Items[0].ID != ids[1] {
			t.Errorf("render page offset 1 count 1 = %+v, want count 3 and %s", page, ids[1])
		}
		empty, err := e.client.Renders.List(ctx, opentok.ListOptions{Offset: 10})
		if err != nil {
			t.Fatal(err)
		}
		if empty.Count != 3 || len(empty.Items) != 0 {
			t.Errorf("render page past the end = %+v", empty)
		}
	})
}

func TestRenderMaxDurationAndErrors(t *testing.T) {
	integBoth(t, func(t *testing.T, application bool) {
		e := newIntegEnv(t, application)
		ctx := context.Background()
		r, err := e.client.Renders.Start(ctx, opentok.RenderOptions{SessionID: e.routed,
			Token: e.token(t, e.routed, opentok.RolePublisher, ""), URL: "https://example.com/", MaxDuration: 60})
		if err != nil {
			t.Fatal(err)
		}
		// 60 s of service time is 60 ms at 1000×.
		integEventually(t, "render stopped at maxDuration", func() bool {
			got, err := e.client.Renders.Get(ctx, r.ID)
			return err == nil && got.Status == opentok.RenderStopped
		})
		got, _ := e.client.Renders.Get(ctx, r.ID)
		if got.Reason != "Max Duration Exceeded" {
			t.Errorf("render stopped with reason %q, want Max Duration Exceeded", got.Reason)
		}
		if st := e.session(t, e.routed); len(st.Streams) != 0 || len(st.Connections) != 0 {
			t.Errorf("expired render left %+v in the session", st)
		}
		e.flush(t)
		evs := e.cb.events(t, "/render") // no statusCallbackUrl: the project's URL
		if len(evs) != 2 || evs[0]["status"] != "started" || evs[1]["status"] != "stopped" || evs[1]["reason"] != "Max Duration Exceeded" {
			t.Errorf("render callbacks on the project URL = %v", evs)
		}

		if _, err := e.client.Renders.Get(ctx, "no-such-render"); !errors.Is(err, opentok.ErrNotFound) {
			t.Errorf("get unknown render: %v, want ErrNotFound", err)
		}
		if err := e.client.Renders.Stop(ctx, "no-such-render"); !errors.Is(err, opentok.ErrNotFound) {
			t.Errorf("stop unknown render: %v, want ErrNotFound", err)
		}
		start := func(sessionID, token string) error {
			_, err := e.client.Renders.Start(ctx, opentok.RenderOptions{SessionID: sessionID, Token: token, URL: "https://example.com/"})
			return err
		}
		if err := start(e.routed, e.token(t, e.routed, opentok.RoleSubscriber, "")); !errors.Is(err, opentok.ErrInvalid) {
			t.Errorf("render with a subscriber token: %v, want ErrInvalid", err)
		}
		if err := start("no-such-session", e.token(t, "no-such-session", opentok.RolePublisher, "")); !errors.Is(err, opentok.ErrInvalid) {
			t.Errorf("render into an unknown session: %v, want ErrInvalid", err)
		}
		if err := start(e.routed, e.token(t, e.relayed, opentok.RolePublisher, "")); !errors.Is(err, opentok.ErrInvalid) {
			t.Errorf("render with another session's token: %v, want ErrInvalid", err)
		}
	})
}

func TestRenderEndsWhenForceDisconnected(t *testing.T) {
	e := newIntegEnv(t, false)
	ctx := context.Background()
	r, err := e.client.Renders.Start(ctx, opentok.RenderOptions{SessionID: e.routed,
		Token: e.token(t, e.routed, opentok.RolePublisher, ""), URL: "https://example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	var streamID string
	integEventually(t, "render started", func() bool {
		got, err := e.client.Renders.Get(ctx, r.ID)
		if err != nil {
			return false
		}
		streamID = got.StreamID
		return got.Status == opentok.RenderStarted
	})
	x, _ := e.session(t, e.routed).integStream(streamID)
	if err := e.client.Moderation.ForceDisconnect(ctx, e.routed, x.ConnectionID); err != nil {
		t.Fatal(err)
	}
	got, err := e.client.Renders.Get(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != opentok.RenderStopped {
		t.Errorf("render whose connection was force-disconnected is %q", got.Status)
	}
	e.flush(t)
	if sd := integSessionEvents(t, e, "streamDestroyed", streamID); len(sd) != 1 || sd[0]["reason"] != ReasonForceDisconnected {
		t.Errorf("streamDestroyed of the render = %v, want one, forceDisconnected", sd)
	}
	evs := e.cb.events(t, "/render")
	if len(evs) != 2 || evs[1]["status"] != "stopped" || evs[1]["streamId"] != streamID {
		t.Errorf("render callbacks = %v, want started then stopped", evs)
	}
}

// ---- Audio Connector ----

func TestAudioConnector(t *testing.T) {
	integBoth(t, func(t *testing.T, application bool) {
		e := newIntegEnv(t, application)
		ctx := context.Background()
		ac, err := e.client.AudioConnector.Connect(ctx, opentok.AudioConnectOptions{
			SessionID: e.routed, Token: e.token(t, e.routed, opentok.RoleSubscriber, "transcriber"),
			WebSocket: opentok.WebSocketOptions{URI: "wss://ws.example.com/audio", AudioRate: 16000, Headers: map[string]string{"Authorization": "x"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if ac.ID == "" || ac.ConnectionID == "" {
			t.Fatalf("connect reply %+v", ac)
		}
		c, ok := e.session(t, e.routed).integConn(ac.ConnectionID)
		if !ok || c.Data != "transcriber" || c.Role != opentok.RoleSubscriber {
			t.Fatalf("connector connection in ground truth = %+v, %v", c, ok)
		}
		list, err := e.client.Connections.List(ctx, e.routed)
		if err != nil {
			t.Fatal(err)
		}
		if list.Count != 1 || list.Items[0].ID != ac.ConnectionID {
			t.Errorf("GET connection = %+v, want the connector's connection", list)
		}
		if err := e.client.AudioConnector.Stop(ctx, ac.ID); err != nil {
			t.Fatalf("AudioConnector.Stop: %v", err)
		}
		if _, ok := e.session(t, e.routed).integConn(ac.ConnectionID); ok {
			t.Error("stopped connector's connection is still in the session")
		}
		if err := e.client.AudioConnector.Stop(ctx, ac.ID); !errors.Is(err, opentok.ErrNotFound) {
			t.Errorf("second stop: %v, want ErrNotFound", err)
		}
		e.flush(t)
		if dc := integSessionEvents(t, e, "connectionDestroyed", ac.ConnectionID); len(dc) != 1 || dc[0]["reason"] != ReasonClientDisconnected {
			t.Errorf("connectionDestroyed of the connector = %v", dc)
		}

		connect := func(sessionID, token string) error {
			_, err := e.client.AudioConnector.Connect(ctx, opentok.AudioConnectOptions{SessionID: sessionID, Token: token,
				WebSocket: opentok.WebSocketOptions{URI: "ws://ws.example.com/"}})
			return err
		}
		if err := connect(e.relayed, e.token(t, e.relayed, opentok.RolePublisher, "")); !errors.Is(err, opentok.ErrConflict) {
			t.Errorf("connect a relayed session: %v, want ErrConflict", err)
		}
		if err := connect(e.routed, e.token(t, e.relayed, opentok.RolePublisher, "")); !errors.Is(err, opentok.ErrInvalid) {
			t.Errorf("connect with another session's token: %v, want ErrInvalid", err)
		}

		// A force-disconnected connector is gone too.
		ac2, err := e.client.AudioConnector.Connect(ctx, opentok.AudioConnectOptions{SessionID: e.routed,
			Token: e.token(t, e.routed, opentok.RolePublisher, ""), WebSocket: opentok.WebSocketOptions{URI: "ws://ws.example.com/"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.client.Moderation.ForceDisconnect(ctx, e.routed, ac2.ConnectionID); err != nil {
			t.Fatal(err)
		}
		if err := e.client.AudioConnector.Stop(ctx, ac2.ID); !errors.Is(err, opentok.ErrNotFound) {
			t.Errorf("stop a force-disconnected connector: %v, want ErrNotFound", err)
		}
	})
}

// ---- Live captions ----

func TestCaptions(t *testing.T) {
	integBoth(t, func(t *testing.T, application bool) {
		e := newIntegEnv(t, application)
		ctx := context.Background()
		mod := e.token(t, e.routed, opentok.RoleModerator, "")
		before := time.Now().UnixMilli()
		id, err := e.client.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: e.routed, Token: mod, LanguageCode: "en-US",
			MaxDuration: 1800, StatusCallbackURL: e.cb.url("/captions-status")})
		if err != nil {
			t.Fatal(err)
		}
		if id == "" {
			t.Fatal("captions start returned no ID")
		}
		_, err = e.client.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: e.routed, Token: mod, LanguageCode: "en-US"})
		if !errors.Is(err, opentok.ErrConflict) || !strings.Contains(err.Error(), "already running") {
			t.Errorf("second captions start: %v, want ErrConflict meaning already running", err)
		}
		got, err := e.client.Captions.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != id || got.SessionID != e.routed || got.Status != opentok.CaptionsStarted || got.Duration != 1800 ||
			got.LanguageCode != "en-US" || got.Provider != "aws-transcribe" || got.Reason != "" {
			t.Errorf("captions get = %+v", got)
		}
		if application && got.ApplicationID != e.owner || !application && got.ProjectID != e.owner {
			t.Errorf("captions owner project=%q application=%q, want %s %q", got.ProjectID, got.ApplicationID, e.ownerKey(), e.owner)
		}
		if err := e.client.Captions.Stop(ctx, id); err != nil {
			t.Fatalf("Captions.Stop: %v", err)
		}
		if got, _ = e.client.Captions.Get(ctx, id); got.Status != opentok.CaptionsStopped {
			t.Errorf("captions after stop: %+v", got)
		}
		// Stopped captions free the session for another run.
		id2, err := e.client.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: e.routed, Token: mod, LanguageCode: "en-US"})
		if err != nil {
			t.Fatalf("captions restart after stop: %v", err)
		}
		if got2, _ := e.client.Captions.Get(ctx, id2); got2.Duration != 14400 {
			t.Errorf("default captions duration %d, want 14400", got2.Duration)
		}

		e.flush(t)
		after := time.Now().UnixMilli()
		evs := e.cb.events(t, "/captions-status")
		if len(evs) != 2 {
			t.Fatalf("captions status callbacks = %v, want started and stopped", evs)
		}
		for i, status := range []string{"started", "stopped"} {
			what := "captions " + status
			integWantKeys(t, what, evs[i], "captionId", e.ownerKey(), "sessionId", "status", "createdAt", "updatedAt",
				"duration", "languageCode", "reason", "provider")
			integField(t, what, evs[i], "captionId", id)
			integField(t, what, evs[i], e.ownerKey(), e.owner)
			integField(t, what, evs[i], "sessionId", e.routed)
			integField(t, what, evs[i], "status", status)
			integField(t, what, evs[i], "duration", float64(1800))
			integField(t, what, evs[i], "languageCode", "en-US")
			integField(t, what, evs[i], "provider", "aws-transcribe")
			integMillis(t, what, evs[i], "createdAt", before, after)
			integMillis(t, what, evs[i], "updatedAt", before, after)
		}
		// The second run had no statusCallbackUrl: the project's URL.
		if proj := e.cb.events(t, "/captions"); len(proj) != 1 || proj[0]["captionId"] != id2 || proj[0]["status"] != "started" {
			t.Errorf("project captions URL got %v", proj)
		}

		_, err = e.client.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: e.relayed,
			Token: e.token(t, e.relayed, opentok.RoleModerator, ""), LanguageCode: "en-US"})
		if !errors.Is(err, opentok.ErrConflict) || !strings.Contains(err.Error(), "relayed") {
			t.Errorf("captions on a relayed session: %v, want ErrConflict meaning relayed", err)
		}
		_, err = e.client.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: e.routed,
			Token: e.token(t, e.routed, opentok.RolePublisher, ""), LanguageCode: "en-US"})
		if !errors.Is(err, opentok.ErrInvalid) {
			t.Errorf("captions with a publisher token: %v, want ErrInvalid", err)
		}
		if _, err := e.client.Captions.Get(ctx, "no-such-captions"); !errors.Is(err, opentok.ErrNotFound) {
			t.Errorf("get unknown captions: %v, want ErrNotFound", err)
		}
		if err := e.client.Captions.Stop(ctx, "no-such-captions"); !errors.Is(err, opentok.ErrNotFound) {
			t.Errorf("stop unknown captions: %v, want ErrNotFound", err)
		}
	})
}

func TestCaptionsMaxDuration(t *testing.T) {
	e := newIntegEnv(t, false)
	ctx := context.Background()
	id, err := e.client.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: e.routed,
		Token: e.token(t, e.routed, opentok.RoleModerator, ""), LanguageCode: "en-US", MaxDuration: 300})
	if err != nil {
		t.Fatal(err)
	}
	integEventually(t, "captions stopped at maxDuration", func() bool {
		got, err := e.client.Captions.Get(ctx, id)
		return err == nil && got.Status == opentok.CaptionsStopped
	})
}

// ---- the wire, as SDKs other than gavel's send it ----

// integRaw sends a legacy-authenticated request with an exact body.
func integRaw(t *testing.T, srv *Server, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss": srv.APIKey, "ist": "project", "iat": now.Unix(), "exp": now.Add(3 * time.Minute).Unix(),
	}).SignedString([]byte(srv.APISecret))
	if err != nil {
		t.Fatal(err)
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+"/v2/project/"+srv.APIKey+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-OPENTOK-AUTH", tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func TestIntegrationsWire(t *testing.T) {
	e := newIntegEnv(t, false)
	tok := e.token(t, e.routed, opentok.RoleModerator, "")
	enc := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	isErrorBody := func(what string, b []byte) {
		t.Helper()
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || m["code"] == nil || m["message"] == nil {
			t.Errorf("%s: error body %s is not {code, message}", what, b)
		}
	}

	// OpenTok Python's render start: every option present, unset ones null.
	status, hdr, body := integRaw(t, e.srv, "POST", "/render", enc(map[string]any{
		"sessionId": e.routed, "token": tok, "url": "https://example.com/page", "maxDuration": 7200,
		"resolution": "1280x720", "properties": nil, "statusCallbackUrl": nil}))
	if status != http.StatusAccepted || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("render start: %d %q %s", status, hdr.Get("Content-Type"), body)
	}
	var rn map[string]any
	if err := json.Unmarshal(body, &rn); err != nil {
		t.Fatal(err)
	}
	integField(t, "render reply", rn, "projectId", e.srv.APIKey)
	if _, has := rn["reason"]; has {
		t.Errorf("a starting render carries a reason: %v", rn)
	}
	// Render stop: 200 and nothing else, as OpenTok Python requires.
	status, _, body = integRaw(t, e.srv, "DELETE", "/render/"+rn["id"].(string), "")
	if status != http.StatusOK || len(bytes.TrimSpace(body)) != 0 {
		t.Errorf("render stop: %d %q, want 200 with no body", status, body)
	}
	// Trailing slash and vonage-python's count on the list.
	status, _, body = integRaw(t, e.srv, "GET", "/render/?offset=0&count=100", "")
	if status != http.StatusOK || !strings.Contains(string(body), `"count":1`) {
		t.Errorf("render list with a trailing slash: %d %s", status, body)
	}
	if status, _, body = integRaw(t, e.srv, "GET", "/render?count=0", ""); status != http.StatusBadRequest {
		t.Errorf("render list count=0: %d %s, want 400", status, body)
	}
	for _, bad := range []map[string]any{
		{"sessionId": e.routed, "token": tok, "url": "ftp://example.com/"},
		{"sessionId": e.routed, "token": tok, "url": "https://example.com/", "maxDuration": 59},
		{"sessionId": e.routed, "token": tok, "url": "https://example.com/", "resolution": "800x600"},
		{"token": tok, "url": "https://example.com/"},
		{"sessionId": e.routed, "url": "https://example.com/"},
	} {
		status, _, body := integRaw(t, e.srv, "POST", "/render", enc(bad))
		if status != http.StatusBadRequest {
			t.Errorf("render start %v: %d %s, want 400", bad, status, body)
		}
		isErrorBody("render start", body)
	}

	// SIP: a bad URI or no sip object is 400 from the service itself.
	for _, bad := range []map[string]any{
		{"sessionId": e.routed, "token": tok, "sip": map[string]any{"uri": "tel:+14155550101"}},
		{"sessionId": e.routed, "token": tok},
		{"sessionId": e.routed, "token": tok, "sip": nil},
	} {
		status, _, body := integRaw(t, e.srv, "POST", "/dial", enc(bad))
		if status != http.StatusBadRequest {
			t.Errorf("dial %v: %d %s, want 400", bad, status, body)
		}
		isErrorBody("dial", body)
	}
	status, hdr, body = integRaw(t, e.srv, "POST", "/dial", enc(map[string]any{"sessionId": e.routed, "token": tok,
		"sip": map[string]any{"uri": "sip:a@example.com", "headers": map[string]string{"headerKey": "v"}, "video": nil}}))
	if status != http.StatusOK || hdr.Get("Content-Type") != "application/json" {
		t.Errorf("dial with a plain header name: %d %q %s", status, hdr.Get("Content-Type"), body)
	}

	// Audio Connector: websocket checks, and stop answers 204.
	for _, bad := range []map[string]any{
		{"sessionId": e.routed, "token": tok, "websocket": map[string]any{"uri": "https://example.com/"}},
		{"sessionId": e.routed, "token": tok, "websocket": map[string]any{"uri": "wss://example.com/", "audioRate": 44100}},
		{"sessionId": e.routed, "token": tok},
	} {
		status, _, body := integRaw(t, e.srv, "POST", "/connect", enc(bad))
		if status != http.StatusBadRequest {
			t.Errorf("connect %v: %d %s, want 400", bad, status, body)
		}
	}
	status, _, body = integRaw(t, e.srv, "POST", "/connect", enc(map[string]any{"sessionId": e.routed, "token": tok,
		"websocket": map[string]any{"uri": "wss://example.com/", "bidirectional": true}}))
	var ac map[string]string
	if status != http.StatusOK || json.Unmarshal(body, &ac) != nil || ac["id"] == "" || ac["connectionId"] == "" {
		t.Fatalf("connect: %d %s", status, body)
	}
	if status, _, body = integRaw(t, e.srv, "POST", "/connect/"+ac["id"]+"/stop", ""); status != http.StatusNoContent {
		t.Errorf("connector stop: %d %s, want 204", status, body)
	}

	// Captions: OpenTok Python's body with a null callback URL; 202 both ways.
	status, _, body = integRaw(t, e.srv, "POST", "/captions", enc(map[string]any{"sessionId": e.routed, "token": tok,
		"languageCode": "en-US", "maxDuration": 14400, "partialCaptions": true, "statusCallbackUrl": nil}))
	var cp map[string]any
	if status != http.StatusAccepted || json.Unmarshal(body, &cp) != nil || cp["captionsId"] == "" {
		t.Fatalf("captions start: %d %s", status, body)
	}
	integWantKeys(t, "captions start reply", cp, "captionsId")
	status, _, body = integRaw(t, e.srv, "POST", "/captions", enc(map[string]any{"sessionId": e.routed, "token": tok}))
	if status != http.StatusConflict {
		t.Errorf("captions start while running: %d %s, want 409", status, body)
	}
	isErrorBody("captions conflict", body)
	if status, _, body = integRaw(t, e.srv, "POST", "/captions/"+cp["captionsId"].(string)+"/stop", ""); status != http.StatusAccepted {
		t.Errorf("captions stop: %d %s, want 202", status, body)
	}
	for _, bad := range []map[string]any{
		{"sessionId": e.routed, "token": tok, "languageCode": "english"},
		{"sessionId": e.routed, "token": tok, "maxDuration": 100},
		{"sessionId": e.routed, "token": tok, "statusCallbackUrl": "not a url"},
	} {
		if status, _, body := integRaw(t, e.srv, "POST", "/captions", enc(bad)); status != http.StatusBadRequest {
			t.Errorf("captions start %v: %d %s, want 400", bad, status, body)
		}
	}
}

// TestIntegrationsOtherProject checks a project cannot see or stop another's
// renders, connectors and captions.
func TestIntegrationsOtherProject(t *testing.T) {
	e := newIntegEnv(t, false)
	ctx := context.Background()
	tok := e.token(t, e.routed, opentok.RoleModerator, "")
	r, err := e.client.Renders.Start(ctx, opentok.RenderOptions{SessionID: e.routed, Token: tok, URL: "https://example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	capID, err := e.client.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: e.routed, Token: tok, LanguageCode: "en-US"})
	if err != nil {
		t.Fatal(err)
	}
	ac, err := e.client.AudioConnector.Connect(ctx, opentok.AudioConnectOptions{SessionID: e.routed, Token: tok,
		WebSocket: opentok.WebSocketOptions{URI: "wss://example.com/"}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.srv.Client(true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Renders.Get(ctx, r.ID); !errors.Is(err, opentok.ErrNotFound) {
		t.Errorf("other project gets the render: %v", err)
	}
	if list, err := other.Renders.List(ctx, opentok.ListOptions{}); err != nil || list.Count != 0 {
		t.Errorf("other project lists renders: %+v, %v", list, err)
	}
	if err := other.Captions.Stop(ctx, capID); !errors.Is(err, opentok.ErrNotFound) {
		t.Errorf("other project stops the captions: %v", err)
	}
	if err := other.AudioConnector.Stop(ctx, ac.ID); !errors.Is(err, opentok.ErrNotFound) {
		t.Errorf("other project stops the connector: %v", err)
	}
	_, err = other.SIP.Dial(ctx, opentok.DialOptions{SessionID: e.routed, Token: tok, SIP: opentok.SIPOptions{URI: "sip:a@example.com"}})
	if !errors.Is(err, opentok.ErrAuth) {
		t.Errorf("other project dials into the session: %v, want ErrAuth (403)", err)
	}
}
