package opentok_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
	"github.com/golang-jwt/jwt/v5"
)

// This file runs the client end to end against the emulator
// (opentoktest.NewServer), for both credential kinds: every endpoint's
// success path and its documented errors, checked through the REST surface
// and through the emulator's ground truth and simulated participants.

// emuAppID and emuAppKey fix the emulator's application, so each test's
// server does not pay for a fresh 2048-bit key.
const emuAppID = "5c1b2f7e-0d7a-4c35-9b8e-6a1f2d3c4b5a"

var emuAppKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// emuKinds are the two credential kinds every emulator test runs with.
var emuKinds = []struct {
	name        string
	application bool
}{{"legacy", false}, {"unified", true}}

// forEachKind runs fn once per credential kind, each with its own emulator
// and a client of that kind.
func forEachKind(t *testing.T, fn func(t *testing.T, srv *opentoktest.Server, c *opentok.Client), opts ...opentoktest.Option) {
	for _, k := range emuKinds {
		t.Run(k.name, func(t *testing.T) {
			srv := newEmulator(t, opts...)
			fn(t, srv, emuClient(t, srv, k.application))
		})
	}
}

func newEmulator(t *testing.T, opts ...opentoktest.Option) *opentoktest.Server {
	t.Helper()
	srv, err := opentoktest.NewServer(append([]opentoktest.Option{opentoktest.WithApplication(emuAppID, emuAppKey())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func emuClient(t *testing.T, srv *opentoktest.Server, application bool, opts ...opentok.Option) *opentok.Client {
	t.Helper()
	c, err := srv.Client(application, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// emuSession creates a session through the REST API.
func emuSession(t *testing.T, c *opentok.Client, opts opentok.SessionOptions) string {
	t.Helper()
	s, err := c.Sessions.Create(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// emuJoin connects a simulated participant with a token from c.
func emuJoin(t *testing.T, srv *opentoktest.Server, c *opentok.Client, sessionID string, role opentok.Role) *opentoktest.Participant {
	t.Helper()
	tok, err := c.Token(sessionID, opentok.TokenOptions{Role: role, Data: "role=" + string(role)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := srv.Join(sessionID, tok.Value)
	if err != nil {
		t.Fatalf("join %s as %s: %v", sessionID, role, err)
	}
	return p
}

func emuPublish(t *testing.T, p *opentoktest.Participant, opts opentoktest.PublishOptions) string {
	t.Helper()
	id, err := p.Publish(opts)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// groundTruth is the emulator's own view of a session.
func groundTruth(t *testing.T, srv *opentoktest.Server, sessionID string) opentoktest.SessionState {
	t.Helper()
	st, ok := srv.Session(sessionID)
	if !ok {
		t.Fatalf("the emulator has no session %s", sessionID)
	}
	return st
}

func mutedStreams(st opentoktest.SessionState) map[string]bool {
	m := map[string]bool{}
	for _, x := range st.Streams {
		m[x.ID] = x.AudioMuted
	}
	return m
}

// wantAPIError requires err to be an *APIError with status, matching
// sentinel (nil for a status no sentinel names), whose sentence contains phrase.
func wantAPIError(t *testing.T, err error, status int, sentinel error, phrase string) {
	t.Helper()
	var apiErr *opentok.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("got %v, want an *opentok.APIError with HTTP %d", err, status)
	}
	if apiErr.Status != status {
		t.Errorf("HTTP %d, want %d (%v)", apiErr.Status, status, err)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Errorf("errors.Is(%v, %v) is false", err, sentinel)
	}
	if !strings.Contains(err.Error(), phrase) {
		t.Errorf("error %q does not say %q", err, phrase)
	}
}

func TestEmulatorSessionCreate(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		project := c.Credentials().ProjectID()
		cases := []struct {
			name   string
			opts   opentok.SessionOptions
			routed bool
			mode   string
		}{
			{"defaults", opentok.SessionOptions{}, false, "manual"},
			{"routed", opentok.SessionOptions{MediaMode: opentok.Routed}, true, "manual"},
			{"archive always", opentok.SessionOptions{MediaMode: opentok.Routed, ArchiveMode: opentok.ArchiveAlways,
				ArchiveName: "daily", ArchiveResolution: "1280x720"}, true, "always"},
			{"location", opentok.SessionOptions{MediaMode: opentok.Routed, Location: "10.1.2.3"}, true, "manual"},
			{"e2ee", opentok.SessionOptions{MediaMode: opentok.Routed, E2EE: true}, true, "manual"},
		}
		for _, tc := range cases {
			s, err := c.Sessions.Create(ctx, tc.opts)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			owner := s.ProjectID
			if c.Credentials().IsApplication() {
				owner = s.ApplicationID
			}
			if owner != project {
				t.Errorf("%s: reply names project %q (project_id %q, application_id %q), want %q", tc.name, owner, s.ProjectID, s.ApplicationID, project)
			}
			st := groundTruth(t, srv, s.ID)
			if st.Routed != tc.routed || st.ArchiveMode != tc.mode || st.ProjectID != project || st.Live {
				t.Errorf("%s: ground truth %+v, want routed=%v archiveMode=%s project %s, not live", tc.name, st, tc.routed, tc.mode, project)
			}
			info, err := opentok.DecodeSessionID(s.ID)
			if err != nil {
				t.Fatalf("%s: the session ID does not decode: %v", tc.name, err)
			}
			if info.ProjectID != project || info.Location != tc.opts.Location {
				t.Errorf("%s: decoded %+v, want project %s location %q", tc.name, info, project, tc.opts.Location)
			}
		}
	})
}

func TestEmulatorTokensJoin(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		sid := emuSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
		tok, err := c.Token(sid, opentok.TokenOptions{Role: opentok.RoleModerator, Data: "name=Ada"})
		if err != nil {
			t.Fatal(err)
		}
		p, err := srv.Join(sid, tok.Value)
		if err != nil {
			t.Fatal(err)
		}
		if p.Role() != opentok.RoleModerator || p.SessionID() != sid {
			t.Errorf("participant role %s session %s", p.Role(), p.SessionID())
		}
		st := groundTruth(t, srv, sid)
		if !st.Live || len(st.Connections) != 1 || st.Connections[0].ID != p.ConnectionID() || st.Connections[0].Data != "name=Ada" {
			t.Errorf("ground truth after join: %+v", st)
		}
	})
}

func TestEmulatorSignals(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		sid := emuSession(t, c, opentok.SessionOptions{})

		err := c.Signals.Send(ctx, sid, "", opentok.Signal{Type: "chat", Data: "anyone?"})
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "signal: no clients are connected to the session")

		a := emuJoin(t, srv, c, sid, opentok.RolePublisher)
		b := emuJoin(t, srv, c, sid, opentok.RoleSubscriber)
		if err := c.Signals.Send(ctx, sid, "", opentok.Signal{Type: "chat", Data: "to all"}); err != nil {
			t.Fatal(err)
		}
		if err := c.Signals.Send(ctx, sid, b.ConnectionID(), opentok.Signal{Type: "dm", Data: "to b"}); err != nil {
			t.Fatal(err)
		}
		all := opentoktest.Signal{Type: "chat", Data: "to all", From: ""}
		one := opentoktest.Signal{Type: "dm", Data: "to b", From: ""}
		if got := a.Signals(); !slices.Equal(got, []opentoktest.Signal{all}) {
			t.Errorf("a received %+v, want only the signal to all", got)
		}
		if got := b.Signals(); !slices.Equal(got, []opentoktest.Signal{all, one}) {
			t.Errorf("b received %+v, want the signal to all then the one to b", got)
		}

		err = c.Signals.Send(ctx, sid, "00000000-0000-4000-8000-000000000000", opentok.Signal{Type: "dm", Data: "x"})
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "that connection is not connected to the session")

		// An empty signal type is allowed; data may be empty too.
		if err := c.Signals.Send(ctx, sid, "", opentok.Signal{}); err != nil {
			t.Errorf("empty signal: %v", err)
		}
		_ = b.Leave()
		_ = a.Leave()
		err = c.Signals.Send(ctx, sid, "", opentok.Signal{Type: "chat", Data: "gone"})
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "no clients are connected")
	})
}

func TestEmulatorForceDisconnect(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		sid := emuSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
		stay := emuJoin(t, srv, c, sid, opentok.RolePublisher)
		kick := emuJoin(t, srv, c, sid, opentok.RolePublisher)
		emuPublish(t, kick, opentoktest.PublishOptions{Name: "kicked"})

		if err := c.Moderation.ForceDisconnect(ctx, sid, kick.ConnectionID()); err != nil {
			t.Fatal(err)
		}
		if ok, reason := kick.Connected(); ok || reason != opentoktest.ReasonForceDisconnected {
			t.Errorf("kicked participant: connected=%v reason=%q, want forceDisconnected", ok, reason)
		}
		if ok, _ := stay.Connected(); !ok {
			t.Error("the other participant was disconnected too")
		}
		st := groundTruth(t, srv, sid)
		if len(st.Connections) != 1 || st.Connections[0].ID != stay.ConnectionID() || len(st.Streams) != 0 {
			t.Errorf("ground truth after force disconnect: %+v", st)
		}

		err := c.Moderation.ForceDisconnect(ctx, sid, kick.ConnectionID())
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "force disconnect: that connection is not connected to the session")
	})
}

func TestEmulatorMute(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		sid := emuSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
		p1 := emuJoin(t, srv, c, sid, opentok.RolePublisher)
		p2 := emuJoin(t, srv, c, sid, opentok.RolePublisher)
		s1 := emuPublish(t, p1, opentoktest.PublishOptions{Name: "one"})
		s2 := emuPublish(t, p2, opentoktest.PublishOptions{Name: "two"})
		s3 := emuPublish(t, p2, opentoktest.PublishOptions{Name: "share", VideoType: "screen"})

		if err := c.Moderation.MuteStream(ctx, sid, s1); err != nil {
			t.Fatal(err)
		}
		if got, want := mutedStreams(groundTruth(t, srv, sid)), map[string]bool{s1: true, s2: false, s3: false}; !mapsEqual(got, want) {
			t.Errorf("after mute stream: muted %v, want %v", got, want)
		}
		err := c.Moderation.MuteStream(ctx, sid, "00000000-0000-4000-8000-000000000000")
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "mute stream: no such stream in the session")

		// Mute all but s2: existing streams are muted now, later ones on publish.
		if err := c.Moderation.MuteAll(ctx, sid, []string{s2}); err != nil {
			t.Fatal(err)
		}
		st := groundTruth(t, srv, sid)
		if !st.MuteAll {
			t.Error("ground truth: mute-all is off after MuteAll")
		}
		if got, want := mutedStreams(st), map[string]bool{s1: true, s2: false, s3: true}; !mapsEqual(got, want) {
			t.Errorf("after mute all: muted %v, want %v", got, want)
		}
		s4 := emuPublish(t, p1, opentoktest.PublishOptions{Name: "late"})
		if got := mutedStreams(groundTruth(t, srv, sid)); !got[s4] || got[s2] {
			t.Errorf("stream published during mute-all: muted %v, want %s muted and %s still not", got, s4, s2)
		}

		// Disabling leaves muted streams muted; new streams keep their audio.
		if err := c.Moderation.DisableMuteAll(ctx, sid); err != nil {
			t.Fatal(err)
		}
		s5 := emuPublish(t, p2, opentoktest.PublishOptions{Name: "after"})
		st = groundTruth(t, srv, sid)
		if st.MuteAll {
			t.Error("ground truth: mute-all still on after DisableMuteAll")
		}
		if got, want := mutedStreams(st), map[string]bool{s1: true, s2: false, s3: true, s4: true, s5: false}; !mapsEqual(got, want) {
			t.Errorf("after disable mute all: muted %v, want %v", got, want)
		}

		// Mute-all with no exclusions mutes everything, including s2.
		if err := c.Moderation.MuteAll(ctx, sid, nil); err != nil {
			t.Fatal(err)
		}
		for id, muted := range mutedStreams(groundTruth(t, srv, sid)) {
			if !muted {
				t.Errorf("stream %s not muted by mute-all without exclusions", id)
			}
		}

		missing := emuMissingSession(t, c)
		wantAPIError(t, c.Moderation.MuteAll(ctx, missing, nil), http.StatusNotFound, opentok.ErrNotFound, "mute all: the session does not exist")
		wantAPIError(t, c.Moderation.DisableMuteAll(ctx, missing), http.StatusNotFound, opentok.ErrNotFound, "disable mute all: the session does not exist")
	})
}

// emuMissingSession is a well-formed session ID of the client's project
// that the emulator never created.
func emuMissingSession(t *testing.T, c *opentok.Client) string {
	t.Helper()
	// Another seed: with the same one, the other emulator's first session
	// can get the very ID of a session the test created (IDs derive from
	// the seed and the millisecond), and then it is not missing at all.
	other, err := opentoktest.NewServer(opentoktest.WithApplication(emuAppID, emuAppKey()), opentoktest.WithSeed(0x5eed0f07e5))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oc := emuClient(t, other, c.Credentials().IsApplication())
	return emuSession(t, oc, opentok.SessionOptions{})
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestEmulatorStreams(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		sid := emuSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
		p := emuJoin(t, srv, c, sid, opentok.RolePublisher)
		cam := emuPublish(t, p, opentoktest.PublishOptions{Name: "Ada"})
		screen := emuPublish(t, p, opentoktest.PublishOptions{VideoType: "screen"})

		list, err := c.Streams.List(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]opentok.Stream{}
		for _, s := range list {
			got[s.ID] = s
		}
		if len(list) != 2 || got[cam].VideoType != opentok.VideoCamera || got[cam].Name != "Ada" ||
			got[screen].VideoType != opentok.VideoScreen || got[screen].Name != "" {
			t.Errorf("stream list %+v, want camera %s named Ada and screen %s", list, cam, screen)
		}
		for _, s := range list {
			if s.LayoutClassList == nil || len(s.LayoutClassList) != 0 {
				t.Errorf("stream %s layoutClassList %#v, want []", s.ID, s.LayoutClassList)
			}
		}

		one, err := c.Streams.Get(ctx, sid, cam)
		if err != nil {
			t.Fatal(err)
		}
		if one.ID != cam || one.Name != "Ada" || one.VideoType != opentok.VideoCamera {
			t.Errorf("stream get: %+v", one)
		}
		_, err = c.Streams.Get(ctx, sid, "00000000-0000-4000-8000-000000000000")
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "stream get: no such stream in the session")

		if err := c.Streams.SetLayoutClasses(ctx, sid, []opentok.StreamClasses{
			{ID: cam, LayoutClassList: []string{"focus", "full"}}, {ID: screen, LayoutClassList: []string{"share"}},
		}); err != nil {
			t.Fatal(err)
		}
		if one, err = c.Streams.Get(ctx, sid, cam); err != nil || !slices.Equal(one.LayoutClassList, []string{"focus", "full"}) {
			t.Errorf("after set layout classes: %+v, %v", one, err)
		}
		if one, err = c.Streams.Get(ctx, sid, screen); err != nil || !slices.Equal(one.LayoutClassList, []string{"share"}) {
			t.Errorf("after set layout classes: %+v, %v", one, err)
		}
		// Setting no classes clears them.
		if err := c.Streams.SetLayoutClasses(ctx, sid, []opentok.StreamClasses{{ID: cam}}); err != nil {
			t.Fatal(err)
		}
		if one, err = c.Streams.Get(ctx, sid, cam); err != nil || len(one.LayoutClassList) != 0 {
			t.Errorf("after clearing layout classes: %+v, %v", one, err)
		}
		err = c.Streams.SetLayoutClasses(ctx, sid, []opentok.StreamClasses{{ID: "00000000-0000-4000-8000-000000000000", LayoutClassList: []string{"x"}}})
		wantAPIError(t, err, http.StatusBadRequest, opentok.ErrInvalid, "stream layout classes: the service refused the stream IDs or layout classes")

		_, err = c.Streams.List(ctx, emuMissingSession(t, c))
		if !errors.Is(err, opentok.ErrNotFound) {
			t.Errorf("stream list of a session that does not exist: %v, want ErrNotFound", err)
		}

		// A stream that ends leaves the list.
		if err := p.Unpublish(screen); err != nil {
			t.Fatal(err)
		}
		if list, err = c.Streams.List(ctx, sid); err != nil || len(list) != 1 || list[0].ID != cam {
			t.Errorf("after unpublish: %+v, %v", list, err)
		}
	})
}

func TestEmulatorConnections(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		sid := emuSession(t, c, opentok.SessionOptions{})
		before := time.Now().UnixMilli()
		a := emuJoin(t, srv, c, sid, opentok.RolePublisher)
		b := emuJoin(t, srv, c, sid, opentok.RoleModerator)

		list, err := c.Connections.List(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		if list.Count != 2 || list.SessionID != sid || list.ProjectID != c.Credentials().ProjectID() || len(list.Items) != 2 {
			t.Fatalf("connection list %+v", list)
		}
		ids := []string{}
		for _, it := range list.Items {
			ids = append(ids, it.ID)
			if it.State != opentok.Connected || it.CreatedAt < before || it.CreatedAt > time.Now().UnixMilli() {
				t.Errorf("connection %+v: want Connected, created since %d", it, before)
			}
		}
		slices.Sort(ids)
		want := []string{a.ConnectionID(), b.ConnectionID()}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("connection IDs %v, want %v", ids, want)
		}

		_ = a.Leave()
		if list, err = c.Connections.List(ctx, sid); err != nil || list.Count != 1 || list.Items[0].ID != b.ConnectionID() {
			t.Errorf("after a leaves: %+v, %v", list, err)
		}

		_, err = c.Connections.List(ctx, emuMissingSession(t, c))
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "connection list: the session does not exist")
	})
}

func TestEmulatorPlayDTMF(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		sid := emuSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
		p := emuJoin(t, srv, c, sid, opentok.RolePublisher)
		if err := c.Moderation.PlayDTMF(ctx, sid, "", "1p2#*"); err != nil {
			t.Errorf("to all: %v", err)
		}
		if err := c.Moderation.PlayDTMF(ctx, sid, p.ConnectionID(), "0987"); err != nil {
			t.Errorf("to one: %v", err)
		}
		err := c.Moderation.PlayDTMF(ctx, sid, "00000000-0000-4000-8000-000000000000", "1")
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "play DTMF: that connection is not connected to the session")
		err = c.Moderation.PlayDTMF(ctx, emuMissingSession(t, c), "", "1")
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "play DTMF: the session does not exist")
	})
}

// TestEmulatorSessionOfAnotherProject: each credential kind sees only its
// own project's sessions, even with a well-formed ID of the other's.
func TestEmulatorSessionOfAnotherProject(t *testing.T) {
	srv := newEmulator(t)
	legacy, unified := emuClient(t, srv, false), emuClient(t, srv, true)
	appSession := emuSession(t, unified, opentok.SessionOptions{})
	projSession := emuSession(t, legacy, opentok.SessionOptions{})
	emuJoin(t, srv, unified, appSession, opentok.RolePublisher)
	emuJoin(t, srv, legacy, projSession, opentok.RolePublisher)

	err := legacy.Signals.Send(t.Context(), appSession, "", opentok.Signal{Type: "x", Data: "y"})
	wantAPIError(t, err, http.StatusForbidden, opentok.ErrAuth, "signal:")
	_, err = unified.Connections.List(t.Context(), projSession)
	wantAPIError(t, err, http.StatusForbidden, opentok.ErrAuth, "connection list:")
}

// rewriteTransport lets a test send what no well-behaved client sends: it
// edits each request before it leaves.
type rewriteTransport func(*http.Request)

func (f rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	f(r)
	return http.DefaultTransport.RoundTrip(r)
}

// signLegacy is a legacy REST JWT with the given claims, signed HS256.
func signLegacy(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestEmulatorRESTAuth(t *testing.T) {
	srv := newEmulator(t)
	legacy := emuClient(t, srv, false)
	sid := emuSession(t, legacy, opentok.SessionOptions{})
	appSid := emuSession(t, emuClient(t, srv, true), opentok.SessionOptions{})
	listWith := func(c *opentok.Client, session string) error {
		_, err := c.Connections.List(context.Background(), session)
		return err
	}
	withToken := func(header, value string) *opentok.Client {
		return emuClient(t, srv, false, opentok.WithHTTPClient(&http.Client{Transport: rewriteTransport(func(r *http.Request) {
			r.Header.Del("X-OPENTOK-AUTH")
			r.Header.Del("Authorization")
			r.Header.Set(header, value)
		})}), opentok.WithRetryPolicy(opentok.RetryPolicy{MaxAttempts: 1}))
	}
	now := time.Now().Unix()

	t.Run("legacy 5 minute JWT accepted", func(t *testing.T) {
		tok := signLegacy(t, srv.APISecret, jwt.MapClaims{"iss": srv.APIKey, "ist": "project", "iat": now, "exp": now + 300})
		if err := listWith(withToken("X-OPENTOK-AUTH", tok), sid); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("legacy JWT living 10 minutes refused", func(t *testing.T) {
		tok := signLegacy(t, srv.APISecret, jwt.MapClaims{"iss": srv.APIKey, "ist": "project", "iat": now, "exp": now + 600})
		wantAPIError(t, listWith(withToken("X-OPENTOK-AUTH", tok), sid), http.StatusForbidden, opentok.ErrAuth, "refused the credentials")
	})
	t.Run("legacy JWT without exp refused", func(t *testing.T) {
		tok := signLegacy(t, srv.APISecret, jwt.MapClaims{"iss": srv.APIKey, "ist": "project", "iat": now})
		wantAPIError(t, listWith(withToken("X-OPENTOK-AUTH", tok), sid), http.StatusForbidden, opentok.ErrAuth, "refused the credentials")
	})
	t.Run("legacy JWT of another key refused", func(t *testing.T) {
		tok := signLegacy(t, srv.APISecret, jwt.MapClaims{"iss": "12345", "ist": "project", "iat": now, "exp": now + 60})
		wantAPIError(t, listWith(withToken("X-OPENTOK-AUTH", tok), sid), http.StatusForbidden, opentok.ErrAuth, "refused the credentials")
	})
	t.Run("Ruby's ist in the header accepted", func(t *testing.T) {
		tk := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": srv.APIKey, "iat": now, "exp": now + 300})
		tk.Header["ist"] = "project"
		tok, err := tk.SignedString([]byte(srv.APISecret))
		if err != nil {
			t.Fatal(err)
		}
		if err := listWith(withToken("X-OPENTOK-AUTH", tok), sid); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("no auth header refused", func(t *testing.T) {
		wantAPIError(t, listWith(withToken("X-Nothing", "x"), sid), http.StatusForbidden, opentok.ErrAuth, "refused the credentials")
	})
	t.Run("unified 15 minute JWT accepted", func(t *testing.T) {
		// The Vonage SDKs sign 900 s tokens; the 5-minute cap is legacy only.
		tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"application_id": srv.ApplicationID, "iat": now, "exp": now + 900, "jti": "x",
		}).SignedString(srv.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		c := emuClient(t, srv, true, opentok.WithHTTPClient(&http.Client{Transport: rewriteTransport(func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+tok)
		})}))
		if err := listWith(c, appSid); err != nil {
			t.Fatal(err)
		}
	})

	for _, k := range emuKinds {
		t.Run("expired "+k.name+" JWT refused", func(t *testing.T) {
			stale := emuClient(t, srv, k.application, opentok.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
			session := sid
			status := http.StatusForbidden
			if k.application {
				session, status = appSid, http.StatusUnauthorized
			}
			wantAPIError(t, listWith(stale, session), status, opentok.ErrAuth, "refused the credentials")
		})
	}

	t.Run("wrong secret refused", func(t *testing.T) {
		creds, err := opentok.ProjectCredentials(srv.APIKey, "not-the-secret")
		if err != nil {
			t.Fatal(err)
		}
		c, err := opentok.New(creds, opentok.WithBaseURL(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		wantAPIError(t, listWith(c, sid), http.StatusForbidden, opentok.ErrAuth, "refused the credentials")
		_, err = c.Sessions.Create(t.Context(), opentok.SessionOptions{})
		wantAPIError(t, err, http.StatusForbidden, opentok.ErrAuth, "session create: the Video API refused the credentials")
	})
	t.Run("application JWT signed by another key refused", func(t *testing.T) {
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		creds, err := opentok.ApplicationCredentials(srv.ApplicationID, other)
		if err != nil {
			t.Fatal(err)
		}
		c, err := opentok.New(creds, opentok.WithBaseURL(srv.URL))
		if err != nil {
			t.Fatal(err)
		}
		wantAPIError(t, listWith(c, appSid), http.StatusUnauthorized, opentok.ErrAuth, "refused the credentials")
	})
	t.Run("legacy client on the application's project path refused", func(t *testing.T) {
		c := emuClient(t, srv, false, opentok.WithHTTPClient(&http.Client{Transport: rewriteTransport(func(r *http.Request) {
			r.URL.Path = strings.Replace(r.URL.Path, "/v2/project/"+srv.APIKey+"/", "/v2/project/"+srv.ApplicationID+"/", 1)
			r.URL.RawPath = ""
		})}))
		wantAPIError(t, listWith(c, appSid), http.StatusForbidden, opentok.ErrAuth, "refused the credentials")
	})
	t.Run("unified client on the legacy project path refused", func(t *testing.T) {
		c := emuClient(t, srv, true, opentok.WithHTTPClient(&http.Client{Transport: rewriteTransport(func(r *http.Request) {
			r.URL.Path = strings.Replace(r.URL.Path, "/v2/project/"+srv.ApplicationID+"/", "/v2/project/"+srv.APIKey+"/", 1)
			r.URL.RawPath = ""
		})}))
		wantAPIError(t, listWith(c, sid), http.StatusForbidden, opentok.ErrAuth, "refused the credentials")
	})
}

// fastService runs the service's own timers (archive upload, render load,
// SIP answer) a thousand times faster, so lifecycles finish within a test.
var fastService = opentoktest.WithTimeScale(1000)

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// owner is the project an archive or broadcast names: projectId for a
// legacy project, applicationId for an application.
func owner(projectID opentok.OwnerID, applicationID string) string {
	if applicationID != "" {
		return applicationID
	}
	return string(projectID)
}

// emuRoutedWithPublisher is a routed session with one publishing
// participant, and a relayed session, of c's project.
func emuRoutedWithPublisher(t *testing.T, srv *opentoktest.Server, c *opentok.Client) (routed, relayed, streamID string, p *opentoktest.Participant) {
	t.Helper()
	routed = emuSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
	relayed = emuSession(t, c, opentok.SessionOptions{MediaMode: opentok.Relayed})
	p = emuJoin(t, srv, c, routed, opentok.RolePublisher)
	streamID = emuPublish(t, p, opentoktest.PublishOptions{Name: "cam"})
	emuJoin(t, srv, c, relayed, opentok.RolePublisher)
	return routed, relayed, streamID, p
}

func TestEmulatorArchives(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		project := c.Credentials().ProjectID()
		sid, relayed, streamID, _ := emuRoutedWithPublisher(t, srv, c)

		a, err := c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sid, Name: "weekly", Resolution: "1280x720",
			Layout: &opentok.Layout{Type: opentok.LayoutBestFit, ScreenshareType: opentok.LayoutPIP}})
		if err != nil {
			t.Fatal(err)
		}
		if a.ID == "" || a.Status != opentok.ArchiveStarted || a.SessionID != sid || a.Name != "weekly" || a.Resolution != "1280x720" ||
			!a.HasAudio || !a.HasVideo || owner(a.ProjectID, a.ApplicationID) != project {
			t.Errorf("archive start: %+v", a)
		}

		_, err = c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sid})
		wantAPIError(t, err, http.StatusConflict, opentok.ErrConflict, "archive start: the session is already being recorded")
		tagged, err := c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: sid, MultiArchiveTag: "second", StreamMode: opentok.StreamModeManual})
		if err != nil {
			t.Fatalf("a second archive with its own tag: %v", err)
		}

		got, err := c.Archives.Get(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != opentok.ArchiveStarted || len(got.Streams) != 1 || got.Streams[0].StreamID != streamID {
			t.Errorf("archive get while recording: %+v", got)
		}
		if err := c.Archives.SetLayout(ctx, a.ID, opentok.Layout{Type: opentok.LayoutCustom, Stylesheet: "stream.focus { width: 100%; }"}); err != nil {
			t.Errorf("archive layout: %v", err)
		}

		// Stream changes need streamMode manual.
		err = c.Archives.AddStream(ctx, a.ID, streamID, true, true)
		wantAPIError(t, err, http.StatusMethodNotAllowed, nil, "uses streamMode=auto")
		if err := c.Archives.AddStream(ctx, tagged.ID, streamID, true, false); err != nil {
			t.Fatalf("archive add stream: %v", err)
		}
		if got, err := c.Archives.Get(ctx, tagged.ID); err != nil || len(got.Streams) != 1 || got.Streams[0].HasVideo {
			t.Errorf("manual archive after add stream (audio only): %+v, %v", got, err)
		}
		if err := c.Archives.RemoveStream(ctx, tagged.ID, streamID); err != nil {
			t.Errorf("archive remove stream: %v", err)
		}
		err = c.Archives.AddStream(ctx, tagged.ID, "00000000-0000-4000-8000-000000000000", true, true)
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "archive add stream: the archive or the stream does not exist")

		list, err := c.Archives.List(ctx, opentok.ListOptions{SessionID: sid})
		if err != nil {
			t.Fatal(err)
		}
		if list.Count != 2 || len(list.Items) != 2 || list.Items[0].ID != tagged.ID || list.Items[1].ID != a.ID {
			t.Errorf("archive list (newest first): %+v", list)
		}
		if page, err := c.Archives.List(ctx, opentok.ListOptions{Offset: 1, Count: 1}); err != nil || len(page.Items) != 1 || page.Items[0].ID != a.ID {
			t.Errorf("archive list offset 1 count 1: %+v, %v", page, err)
		}

		err = c.Archives.Delete(ctx, a.ID)
		wantAPIError(t, err, http.StatusConflict, opentok.ErrConflict, "archive delete: only an archive that is available or uploaded can be deleted")

		stopped, err := c.Archives.Stop(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stopped.Status != opentok.ArchiveStopped {
			t.Errorf("archive stop: status %s", stopped.Status)
		}
		_, err = c.Archives.Stop(ctx, a.ID)
		wantAPIError(t, err, http.StatusConflict, opentok.ErrConflict, "archive stop: the archive is not recording")

		var done *opentok.Archive
		eventually(t, "the archive to become available", func() bool {
			done, err = c.Archives.Get(ctx, a.ID)
			return err == nil && done.Status == opentok.ArchiveAvailable
		})
		if done.URL == "" || done.Size <= 0 || done.Reason != "user initiated" {
			t.Errorf("available archive: %+v", done)
		}
		if err := c.Archives.Delete(ctx, a.ID); err != nil {
			t.Fatalf("archive delete: %v", err)
		}
		if got, err := c.Archives.Get(ctx, a.ID); err != nil || got.Status != opentok.ArchiveDeleted {
			t.Errorf("after delete: %+v, %v", got, err)
		}

		_, err = c.Archives.Get(ctx, "00000000-0000-4000-8000-000000000000")
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "archive get: the archive does not exist")
		_, err = c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: relayed})
		wantAPIError(t, err, http.StatusConflict, opentok.ErrConflict, "archive start: the session is relayed")
		empty := emuSession(t, c, opentok.SessionOptions{MediaMode: opentok.Routed})
		_, err = c.Archives.Start(ctx, opentok.ArchiveOptions{SessionID: empty})
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "archive start: the session does not exist or has no connected clients")
	}, fastService)
}

func TestEmulatorBroadcasts(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		project := c.Credentials().ProjectID()
		sid, relayed, streamID, _ := emuRoutedWithPublisher(t, srv, c)
		outputs := opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{LowLatency: true},
			RTMP: []opentok.RTMPOutput{{ID: "yt", ServerURL: "rtmp://a.rtmp.youtube.com/live2", StreamName: "key"}}}

		b, err := c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: sid, Outputs: outputs, Resolution: "1280x720"})
		if err != nil {
			t.Fatal(err)
		}
		if b.ID == "" || b.Status != opentok.BroadcastStarted || b.SessionID != sid || owner(b.ProjectID, b.ApplicationID) != project ||
			b.BroadcastURLs.HLS == "" || len(b.BroadcastURLs.RTMP) != 1 || b.BroadcastURLs.RTMP[0].ID != "yt" ||
			b.Settings.HLS == nil || !b.Settings.HLS.LowLatency {
			t.Errorf("broadcast start: %+v", b)
		}
		_, err = c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: sid, Outputs: outputs})
		wantAPIError(t, err, http.StatusConflict, opentok.ErrConflict, "broadcast start: the session is already being broadcast")
		manual, err := c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: sid, MultiBroadcastTag: "second",
			StreamMode: opentok.StreamModeManual, Outputs: opentok.BroadcastOutputs{HLS: &opentok.HLSOutput{DVR: true}}})
		if err != nil {
			t.Fatalf("a second broadcast with its own tag: %v", err)
		}

		if got, err := c.Broadcasts.Get(ctx, b.ID); err != nil || got.ID != b.ID || got.Status != opentok.BroadcastStarted {
			t.Errorf("broadcast get: %+v, %v", got, err)
		}
		list, err := c.Broadcasts.List(ctx, opentok.ListOptions{SessionID: sid})
		if err != nil {
			t.Fatal(err)
		}
		if list.Count != 2 || len(list.Items) != 2 || list.Items[0].ID != manual.ID || list.Items[1].ID != b.ID {
			t.Errorf("broadcast list (newest first): %+v", list)
		}
		if err := c.Broadcasts.SetLayout(ctx, b.ID, opentok.Layout{Type: opentok.LayoutVerticalPresentation}); err != nil {
			t.Errorf("broadcast layout: %v", err)
		}
		err = c.Broadcasts.AddStream(ctx, b.ID, streamID, true, true)
		wantAPIError(t, err, http.StatusMethodNotAllowed, nil, "uses streamMode=auto")
		if err := c.Broadcasts.AddStream(ctx, manual.ID, streamID, true, true); err != nil {
			t.Errorf("broadcast add stream: %v", err)
		}
		if err := c.Broadcasts.RemoveStream(ctx, manual.ID, streamID); err != nil {
			t.Errorf("broadcast remove stream: %v", err)
		}

		stopped, err := c.Broadcasts.Stop(ctx, b.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stopped.Status != opentok.BroadcastStopped {
			t.Errorf("broadcast stop: %+v", stopped)
		}
		_, err = c.Broadcasts.Stop(ctx, b.ID)
		wantAPIError(t, err, http.StatusConflict, opentok.ErrConflict, "broadcast stop: the broadcast is not running")
		if _, err := c.Broadcasts.Stop(ctx, manual.ID); err != nil {
			t.Error(err)
		}

		_, err = c.Broadcasts.Get(ctx, "00000000-0000-4000-8000-000000000000")
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "broadcast get: the broadcast does not exist")
		_, err = c.Broadcasts.Start(ctx, opentok.BroadcastOptions{SessionID: relayed, Outputs: outputs})
		wantAPIError(t, err, http.StatusConflict, opentok.ErrConflict, "broadcast start: the session is relayed")
	}, fastService)
}

func TestEmulatorSIP(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		sid, relayed, _, _ := emuRoutedWithPublisher(t, srv, c)
		tok, err := c.Token(sid, opentok.TokenOptions{Data: "sip=desk"})
		if err != nil {
			t.Fatal(err)
		}
		call, err := c.SIP.Dial(ctx, opentok.DialOptions{SessionID: sid, Token: tok.Value, SIP: opentok.SIPOptions{
			URI: "sip:+15551234567@sip.example.com;transport=tls", From: "gavel@example.com",
			Headers: map[string]string{"X-Room": "1"}, Auth: &opentok.SIPAuth{Username: "u", Password: "p"}, Secure: true,
		}})
		if err != nil {
			t.Fatal(err)
		}
		if call.ID == "" || call.ConnectionID == "" || call.StreamID == "" {
			t.Fatalf("sip dial: %+v", call)
		}
		st := groundTruth(t, srv, sid)
		if !slices.ContainsFunc(st.Connections, func(c opentoktest.ConnectionState) bool { return c.ID == call.ConnectionID && c.Data == "sip=desk" }) ||
			!slices.ContainsFunc(st.Streams, func(x opentoktest.StreamState) bool {
				return x.ID == call.StreamID && x.ConnectionID == call.ConnectionID
			}) {
			t.Errorf("the SIP call is not in the session: %+v", st)
		}
		if err := c.Moderation.PlayDTMF(ctx, sid, call.ConnectionID, "1234#"); err != nil {
			t.Errorf("DTMF to the SIP call: %v", err)
		}
		// Hanging up from the session side is a force disconnect.
		if err := c.Moderation.ForceDisconnect(ctx, sid, call.ConnectionID); err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(groundTruth(t, srv, sid).Connections, func(c opentoktest.ConnectionState) bool { return c.ID == call.ConnectionID }) {
			t.Error("the SIP connection is still there after force disconnect")
		}

		relayedTok, err := c.Token(relayed, opentok.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SIP.Dial(ctx, opentok.DialOptions{SessionID: relayed, Token: relayedTok.Value, SIP: opentok.SIPOptions{URI: "sip:a@b.example"}})
		wantAPIError(t, err, http.StatusConflict, opentok.ErrConflict, "sip dial: the session is relayed")
		_, err = c.SIP.Dial(ctx, opentok.DialOptions{SessionID: sid, Token: relayedTok.Value, SIP: opentok.SIPOptions{URI: "sip:a@b.example"}})
		wantAPIError(t, err, http.StatusBadRequest, opentok.ErrInvalid, "sip dial: the service refused the dial request")
		if strings.Contains(err.Error(), relayedTok.Value) {
			t.Error("the error quotes the token")
		}
		missing := emuMissingSession(t, c)
		missingTok, err := c.Token(missing, opentok.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SIP.Dial(ctx, opentok.DialOptions{SessionID: missing, Token: missingTok.Value, SIP: opentok.SIPOptions{URI: "sip:a@b.example"}})
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "sip dial: the session does not exist")
	}, fastService)
}

func TestEmulatorRenders(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		sid, _, _, _ := emuRoutedWithPublisher(t, srv, c)
		tok, err := c.Token(sid, opentok.TokenOptions{Role: opentok.RolePublisher, Data: "composer"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Renders.Start(ctx, opentok.RenderOptions{SessionID: sid, Token: tok.Value, URL: "https://app.example.com/room",
			MaxDuration: 1800, Resolution: "1280x720", Properties: &opentok.RenderProperties{Name: "Composer"}})
		if err != nil {
			t.Fatal(err)
		}
		if r.ID == "" || r.SessionID != sid || (r.Status != opentok.RenderStarting && r.Status != opentok.RenderStarted) || r.URL != "https://app.example.com/room" {
			t.Errorf("render start: %+v", r)
		}
		var got *opentok.Render
		eventually(t, "the render to start", func() bool {
			got, err = c.Renders.Get(ctx, r.ID)
			return err == nil && got.Status == opentok.RenderStarted
		})
		st := groundTruth(t, srv, sid)
		if got.StreamID == "" || !slices.ContainsFunc(st.Streams, func(x opentoktest.StreamState) bool { return x.ID == got.StreamID && x.Name == "Composer" }) {
			t.Errorf("the render's stream %q is not in the session: %+v", got.StreamID, st.Streams)
		}
		list, err := c.Renders.List(ctx, opentok.ListOptions{})
		if err != nil || list.Count != 1 || len(list.Items) != 1 || list.Items[0].ID != r.ID {
			t.Errorf("render list: %+v, %v", list, err)
		}
		renderStream := got.StreamID
		if err := c.Renders.Stop(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if got, err = c.Renders.Get(ctx, r.ID); err != nil || got.Status != opentok.RenderStopped {
			t.Errorf("after render stop: %+v, %v", got, err)
		}
		if slices.ContainsFunc(groundTruth(t, srv, sid).Streams, func(x opentoktest.StreamState) bool { return x.ID == renderStream }) {
			t.Error("the render's stream outlived the render")
		}
		// Stopping a stopped render is harmless.
		if err := c.Renders.Stop(ctx, r.ID); err != nil {
			t.Errorf("second render stop: %v", err)
		}

		_, err = c.Renders.Get(ctx, "00000000-0000-4000-8000-000000000000")
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "render get: no render with that ID exists in this project")
		err = c.Renders.Stop(ctx, "00000000-0000-4000-8000-000000000000")
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "render stop: no render with that ID exists in this project")
		subTok, err := c.Token(sid, opentok.TokenOptions{Role: opentok.RoleSubscriber})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Renders.Start(ctx, opentok.RenderOptions{SessionID: sid, Token: subTok.Value, URL: "https://app.example.com/room"})
		wantAPIError(t, err, http.StatusBadRequest, opentok.ErrInvalid, "render start: the service refused the render options")
	}, fastService)
}

func TestEmulatorAudioConnector(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		sid, relayed, streamID, _ := emuRoutedWithPublisher(t, srv, c)
		tok, err := c.Token(sid, opentok.TokenOptions{Data: "transcriber"})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := c.AudioConnector.Connect(ctx, opentok.AudioConnectOptions{SessionID: sid, Token: tok.Value, WebSocket: opentok.WebSocketOptions{
			URI: "wss://ws.example.com/audio", Streams: []string{streamID}, Headers: map[string]string{"X-Key": "v"}, AudioRate: 16000, Bidirectional: true,
		}})
		if err != nil {
			t.Fatal(err)
		}
		if conn.ID == "" || conn.ConnectionID == "" {
			t.Fatalf("audio connect: %+v", conn)
		}
		inSession := func() bool {
			return slices.ContainsFunc(groundTruth(t, srv, sid).Connections, func(c opentoktest.ConnectionState) bool { return c.ID == conn.ConnectionID })
		}
		if !inSession() {
			t.Error("the Audio Connector's connection is not in the session")
		}
		if err := c.AudioConnector.Stop(ctx, conn.ID); err != nil {
			t.Fatal(err)
		}
		if inSession() {
			t.Error("the Audio Connector's connection outlived its stop")
		}
		err = c.AudioConnector.Stop(ctx, conn.ID)
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "audio connector stop: no Audio Connector with that ID is running")

		relayedTok, err := c.Token(relayed, opentok.TokenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.AudioConnector.Connect(ctx, opentok.AudioConnectOptions{SessionID: relayed, Token: relayedTok.Value, WebSocket: opentok.WebSocketOptions{URI: "wss://ws.example.com/a"}})
		wantAPIError(t, err, http.StatusConflict, opentok.ErrConflict, "audio connect: the session is relayed")
	}, fastService)
}

func TestEmulatorCaptions(t *testing.T) {
	forEachKind(t, func(t *testing.T, srv *opentoktest.Server, c *opentok.Client) {
		ctx := t.Context()
		sid, relayed, _, _ := emuRoutedWithPublisher(t, srv, c)
		mod, err := c.Token(sid, opentok.TokenOptions{Role: opentok.RoleModerator})
		if err != nil {
			t.Fatal(err)
		}
		id, err := c.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: sid, Token: mod.Value, LanguageCode: "en-US", MaxDuration: 600})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Captions.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != id || got.SessionID != sid || got.Status != opentok.CaptionsStarted || got.LanguageCode != "en-US" ||
			owner(opentok.OwnerID(got.ProjectID), got.ApplicationID) != c.Credentials().ProjectID() {
			t.Errorf("captions get: %+v", got)
		}
		_, err = c.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: sid, Token: mod.Value, LanguageCode: "en-US"})
		wantAPIError(t, err, http.StatusConflict, opentok.ErrConflict, "captions start: captions are already running in this session")
		if err := c.Captions.Stop(ctx, id); err != nil {
			t.Fatal(err)
		}
		if got, err = c.Captions.Get(ctx, id); err != nil || got.Status != opentok.CaptionsStopped {
			t.Errorf("after captions stop: %+v, %v", got, err)
		}
		// Stopped captions can be started again.
		if _, err := c.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: sid, Token: mod.Value, LanguageCode: "en-GB"}); err != nil {
			t.Errorf("captions restart: %v", err)
		}

		pub, err := c.Token(sid, opentok.TokenOptions{Role: opentok.RolePublisher})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: sid, Token: pub.Value, LanguageCode: "en-US"})
		wantAPIError(t, err, http.StatusBadRequest, opentok.ErrInvalid, "the token has the moderator role")
		relayedMod, err := c.Token(relayed, opentok.TokenOptions{Role: opentok.RoleModerator})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Captions.Start(ctx, opentok.CaptionsOptions{SessionID: relayed, Token: relayedMod.Value, LanguageCode: "en-US"})
		wantAPIError(t, err, http.StatusConflict, opentok.ErrConflict, "captions start: the session is relayed")
		_, err = c.Captions.Get(ctx, "00000000-0000-4000-8000-000000000000")
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "captions get: no live captions with that ID exist in this project")
		err = c.Captions.Stop(ctx, "00000000-0000-4000-8000-000000000000")
		wantAPIError(t, err, http.StatusNotFound, opentok.ErrNotFound, "captions stop: no live captions with that ID exist in this project")
	}, fastService)
}
