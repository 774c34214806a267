package opentoktest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
	"github.com/golang-jwt/jwt/v5"
)

// receiver is a callback endpoint on loopback that keeps every body.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, b)
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// events decodes the received bodies as generic JSON objects.
func (rc *receiver) events(t *testing.T) []map[string]any {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]map[string]any, 0, len(rc.bodies))
	for _, b := range rc.bodies {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("callback body is not JSON: %v: %s", err, b)
		}
		out = append(out, m)
	}
	return out
}

// emulatorWithSession starts an emulator that sends session callbacks to a
// receiver, creates a routed session and returns a function that joins it.
func emulatorWithSession(t *testing.T, opts ...Option) (*Server, *receiver, string, func(role opentok.Role, data string) *Participant) {
	t.Helper()
	rc := newReceiver(t)
	srv, err := NewServer(append([]Option{WithCallbackURL(GroupSession, rc.srv.URL), WithCallbackWorkers(1), WithTimeScale(1000)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	client, err := srv.Client(false)
	if err != nil {
		t.Fatal(err)
	}
	s, err := client.Sessions.Create(context.Background(), opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	join := func(role opentok.Role, data string) *Participant {
		t.Helper()
		tok, err := client.Token(s.ID, opentok.TokenOptions{Role: role, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		p, err := srv.Join(s.ID, tok.Value)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return srv, rc, s.ID, join
}

func flush(t *testing.T, srv *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.FlushCallbacks(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMonitoringCallbacksAsDocumented checks each session-monitoring body
// key by key against the documented examples (the Session monitoring guide:
// https://developer.vonage.com/en/video/guides/session-monitoring).
func TestMonitoringCallbacksAsDocumented(t *testing.T) {
	srv, rc, sid, join := emulatorWithSession(t)
	before := time.Now().UnixMilli()
	host := join(opentok.RolePublisher, "TOKENDATA")
	cam, err := host.Publish(PublishOptions{Name: "Ana"})
	if err != nil {
		t.Fatal(err)
	}
	mic, err := host.Publish(PublishOptions{VideoType: AudioOnly})
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Unpublish(mic); err != nil {
		t.Fatal(err)
	}
	if err := host.Leave(); err != nil {
		t.Fatal(err)
	}
	flush(t, srv)

	evs := rc.events(t)
	var order []string
	for _, e := range evs {
		order = append(order, e["event"].(string))
	}
	want := []string{"sessionCreated", "connectionCreated", "streamCreated", "streamCreated", "streamDestroyed", "streamDestroyed", "connectionDestroyed", "sessionDestroyed"}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("events %v, want %v", order, want)
	}
	keys := func(m map[string]any) []string {
		var k []string
		for key := range m {
			k = append(k, key)
		}
		sort.Strings(k)
		return k
	}
	conn := evs[1]["connection"].(map[string]any)
	if got := keys(evs[1]); !reflect.DeepEqual(got, []string{"connection", "event", "projectId", "sessionId", "timestamp"}) {
		t.Errorf("connectionCreated keys %v", got)
	}
	if got := keys(conn); !reflect.DeepEqual(got, []string{"createdAt", "data", "id"}) {
		t.Errorf("connection keys %v", got)
	}
	if conn["data"] != "TOKENDATA" || conn["id"] != host.ConnectionID() {
		t.Errorf("connection %v", conn)
	}
	if evs[1]["projectId"] != DefaultAPIKey || evs[1]["sessionId"] != sid {
		t.Errorf("projectId %#v (must be the key as a string), sessionId %v", evs[1]["projectId"], evs[1]["sessionId"])
	}
	ts := evs[1]["timestamp"].(float64)
	if ts < float64(before) || ts > float64(time.Now().UnixMilli()) {
		t.Errorf("timestamp %v is not milliseconds since the epoch, now", ts)
	}
	camEv := evs[2]["stream"].(map[string]any)
	if got := keys(camEv); !reflect.DeepEqual(got, []string{"connection", "createdAt", "id", "name", "videoType"}) {
		t.Errorf("stream keys %v", got)
	}
	if camEv["id"] != cam || camEv["name"] != "Ana" || camEv["videoType"] != "camera" || camEv["connection"].(map[string]any)["id"] != host.ConnectionID() {
		t.Errorf("camera stream %v", camEv)
	}
	micEv := evs[3]["stream"].(map[string]any)
	if _, has := micEv["videoType"]; has {
		t.Errorf("audio-only stream carries videoType: %v", micEv)
	}
	if _, has := evs[2]["reason"]; has {
		t.Errorf("streamCreated carries a reason: %v", evs[2])
	}
	for i, reason := range map[int]string{4: ReasonClientDisconnected, 5: ReasonClientDisconnected, 6: ReasonClientDisconnected} {
		if evs[i]["reason"] != reason {
			t.Errorf("%s reason %v, want %s", evs[i]["event"], evs[i]["reason"], reason)
		}
	}
	if got := keys(evs[0]); !reflect.DeepEqual(got, []string{"event", "projectId", "sessionId", "timestamp"}) {
		t.Errorf("sessionCreated keys %v", got)
	}
}

func TestDestroyReasons(t *testing.T) {
	srv, rc, sid, join := emulatorWithSession(t)
	client, _ := srv.Client(false)
	ctx := context.Background()

	mod := join(opentok.RoleModerator, "mod")
	a := join(opentok.RolePublisher, "a")
	b := join(opentok.RolePublisher, "b")
	c := join(opentok.RolePublisher, "c")
	screen, _ := a.Publish(PublishOptions{VideoType: "screen"})
	camB, _ := b.Publish(PublishOptions{})
	if err := a.StopScreenShare(screen); err != nil {
		t.Fatal(err)
	}
	if err := mod.ForceUnpublish(camB); err != nil {
		t.Fatal(err)
	}
	if err := c.DropNetwork(); err != nil {
		t.Fatal(err)
	}
	if err := client.Moderation.ForceDisconnect(ctx, sid, a.ConnectionID()); err != nil {
		t.Fatal(err)
	}
	if ok, reason := a.Connected(); ok || reason != ReasonForceDisconnected {
		t.Errorf("a: connected %v reason %q", ok, reason)
	}
	if err := a.Leave(); err != ErrNotConnected {
		t.Errorf("leaving twice: %v", err)
	}
	flush(t, srv)
	var got []string
	for _, e := range rc.events(t) {
		if r, ok := e["reason"].(string); ok {
			got = append(got, e["event"].(string)+":"+r)
		}
	}
	want := []string{"streamDestroyed:mediaStopped", "streamDestroyed:forceUnpublished", "connectionDestroyed:networkDisconnected", "connectionDestroyed:forceDisconnected"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reasons %v, want %v", got, want)
	}
	truth, _ := srv.Session(sid)
	if len(truth.Connections) != 2 || len(truth.Streams) != 0 {
		t.Errorf("ground truth %+v", truth)
	}
}

// TestUnpublishSignalIsHonoured: the cooperative force-unpublish of the
// design — a gavel-unpublish signal naming a stream makes its publisher stop it.
func TestUnpublishSignalIsHonoured(t *testing.T) {
	srv, _, sid, join := emulatorWithSession(t)
	client, _ := srv.Client(false)
	p := join(opentok.RolePublisher, "p")
	deaf := join(opentok.RolePublisher, "deaf")
	deaf.IgnoreUnpublishRequests()
	st, _ := p.Publish(PublishOptions{})
	st2, _ := deaf.Publish(PublishOptions{})
	ctx := context.Background()
	for _, x := range []struct{ conn, stream string }{{p.ConnectionID(), st}, {deaf.ConnectionID(), st2}} {
		if err := client.Signals.Send(ctx, sid, x.conn, opentok.Signal{Type: UnpublishSignalType, Data: x.stream}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(p.Streams()) > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if len(p.Streams()) != 0 {
		t.Error("a cooperating participant kept publishing after gavel-unpublish")
	}
	waitTimers(t, srv) // any unpublish the signal scheduled has happened
	if len(deaf.Streams()) != 1 {
		t.Error("a participant that ignores gavel-unpublish stopped publishing")
	}
	if sigs := deaf.Signals(); len(sigs) != 1 || sigs[0].Type != UnpublishSignalType || sigs[0].From != "" {
		t.Errorf("signals received %+v", sigs)
	}
}

func TestMuteAllMutesLaterStreamsExceptExcluded(t *testing.T) {
	srv, _, sid, join := emulatorWithSession(t)
	client, _ := srv.Client(true) // the application may not touch the project's session
	ctx := context.Background()
	if err := client.Moderation.MuteAll(ctx, sid, nil); err == nil {
		t.Fatal("an application muted a session of another project")
	}
	client, _ = srv.Client(false)
	p := join(opentok.RolePublisher, "p")
	keep, _ := p.Publish(PublishOptions{})
	before, _ := p.Publish(PublishOptions{})
	if err := client.Moderation.MuteAll(ctx, sid, []string{keep}); err != nil {
		t.Fatal(err)
	}
	after, _ := p.Publish(PublishOptions{})
	if err := client.Moderation.DisableMuteAll(ctx, sid); err != nil {
		t.Fatal(err)
	}
	later, _ := p.Publish(PublishOptions{})
	truth, _ := srv.Session(sid)
	muted := map[string]bool{}
	for _, x := range truth.Streams {
		muted[x.ID] = x.AudioMuted
	}
	want := map[string]bool{keep: false, before: true, after: true, later: false}
	if !reflect.DeepEqual(muted, want) {
		t.Errorf("muted %v, want %v (kept, muted before, muted after, published after disable)", muted, want)
	}
}

// TestStreamListBeforeAndAfterStreams: 404 until the session's first stream
// (the documented "exists but has not had any streams"), then a list, empty
// once everyone has unpublished.
func TestStreamListBeforeAndAfterStreams(t *testing.T) {
	srv, _, sid, join := emulatorWithSession(t)
	client, _ := srv.Client(false)
	ctx := context.Background()
	if _, err := client.Streams.List(ctx, sid); !errors.Is(err, opentok.ErrNotFound) {
		t.Fatalf("stream list of a session that never had a stream: %v, want ErrNotFound", err)
	}
	p := join(opentok.RolePublisher, "p")
	id, _ := p.Publish(PublishOptions{Name: "cam"})
	list, err := client.Streams.List(ctx, sid)
	if err != nil || len(list) != 1 || list[0].ID != id || list[0].Name != "cam" || list[0].VideoType != "camera" {
		t.Fatalf("stream list %+v, %v", list, err)
	}
	_ = p.Unpublish(id)
	if list, err := client.Streams.List(ctx, sid); err != nil || len(list) != 0 {
		t.Errorf("stream list after the last unpublish: %+v, %v; want an empty list", list, err)
	}
}

// TestSignedCallbacks verifies what a receiver gets from an emulator with a
// signature secret, independently of the emulator's signing code: an HS256
// JWT in Authorization whose payload_hash is the SHA-256 of the raw body.
func TestSignedCallbacks(t *testing.T) {
	const secret = "callback-signature-secret"
	type got struct {
		auth string
		body []byte
	}
	var mu sync.Mutex
	var reqs []got
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, got{r.Header.Get("Authorization"), b})
		mu.Unlock()
	}))
	defer rc.Close()
	srv, err := NewServer(WithCallbackURL(GroupSession, rc.URL), WithSignatureSecret(secret))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, _ := srv.Client(false)
	s, _ := client.Sessions.Create(context.Background(), opentok.SessionOptions{})
	tok, _ := client.Token(s.ID, opentok.TokenOptions{})
	if _, err := srv.Join(s.ID, tok.Value); err != nil {
		t.Fatal(err)
	}
	flush(t, srv)
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != 2 {
		t.Fatalf("%d callbacks, want sessionCreated and connectionCreated", len(reqs))
	}
	for _, r := range reqs {
		raw, ok := strings.CutPrefix(r.auth, "Bearer ")
		if !ok {
			t.Fatalf("Authorization %q, want a Bearer JWT", r.auth)
		}
		claims := jwt.MapClaims{}
		if _, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return []byte(secret), nil },
			jwt.WithValidMethods([]string{"HS256"})); err != nil {
			t.Fatalf("signature does not verify: %v", err)
		}
		sum := sha256.Sum256(r.body)
		if claims["payload_hash"] != hex.EncodeToString(sum[:]) || claims["iss"] != "Vonage" || claims["api_key"] != DefaultAPIKey {
			t.Errorf("claims %v for body %s", claims, r.body)
		}
		if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return []byte("another secret"), nil }); err == nil {
			t.Error("the signature verified with the wrong secret")
		}
	}
}

// waitTimers waits until every service timer scheduled so far has fired
// (Server.after), so a test can assert that something did not happen
// without guessing how long to sleep.
func waitTimers(t *testing.T, s *Server) {
	t.Helper()
	waitTimersDue(t, s, time.Now().Add(10*time.Second))
}

// waitTimersDue waits until every service timer due by the moment by
// (real time) has fired; the emulator's clock is the wall clock, scaled,
// so this is "let the service's time pass up to by".
func waitTimersDue(t *testing.T, s *Server, by time.Time) {
	t.Helper()
	deadline := by.Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := 0
		for _, due := range s.timers {
			if !due.After(by) {
				n++
			}
		}
		s.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d service timers due by %s still pending 10 s later", n, by.Format(time.TimeOnly))
		}
		time.Sleep(time.Millisecond)
	}
}
