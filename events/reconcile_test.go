package events

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

func liveIDs(t *testing.T, s *State, sessionID string) (conns, streams []string) {
	t.Helper()
	v, _ := s.Session(sessionID)
	for _, c := range v.Connections {
		conns = append(conns, c.ID)
	}
	for _, st := range v.Streams {
		streams = append(streams, st.ID)
	}
	slices.Sort(conns)
	slices.Sort(streams)
	return conns, streams
}

func kinds(evs []Event) string {
	var out []string
	for _, ev := range evs {
		id := ""
		if ev.Connection != nil {
			id = ev.Connection.ID
		}
		if ev.Stream != nil {
			id = ev.Stream.ID
		}
		out = append(out, string(ev.Kind)+" "+id)
	}
	return strings.Join(out, ", ")
}

// TestReconcileHealsMissedCallbacks walks the design's reconcile table:
// vanished unseen → destroyed "reconciled"; appeared unseen → created, a
// stream unattributed until its callback names its connection.
func TestReconcileHealsMissedCallbacks(t *testing.T) {
	s := NewState()
	s.Apply(connEv(ConnectionCreated, "c1", 10, ""))
	s.Apply(connEv(ConnectionCreated, "c2", 11, ""))
	s.Apply(streamEv(StreamCreated, "s1", "c1", "camera", 12, ""))
	s.Apply(streamEv(StreamCreated, "s2", "c2", "camera", 13, "")) // c2 left unseen, with s2
	s.Apply(streamEv(StreamCreated, "s3", "c1", "screen", 14, "")) // s3 ended unseen

	const now = 100
	evs := Reconcile(s, sid, []string{"c1", "c3"}, []RESTStream{{ID: "s1", VideoType: "camera"}, {ID: "s4", VideoType: "", Name: "Ada"}}, now)
	if got, want := kinds(evs), "streamDestroyed s3, connectionDestroyed c2, connectionCreated c3, streamCreated s4"; got != want {
		t.Fatalf("events: %s\nwant %s", got, want)
	}
	for _, ev := range evs {
		if ev.Reason != ReasonReconciled || ev.Timestamp != now || ev.SessionID != sid || ev.ProjectID != project {
			t.Fatalf("event %+v", ev)
		}
		if !s.Apply(ev) {
			t.Fatalf("%s changed nothing", ev.Kind)
		}
	}
	conns, streams := liveIDs(t, s, sid)
	if !slices.Equal(conns, []string{"c1", "c3"}) || !slices.Equal(streams, []string{"s1", "s4"}) {
		t.Fatalf("live %v %v", conns, streams)
	}
	v := mustSession(t, s)
	s4 := v.Streams[slices.IndexFunc(v.Streams, func(x StreamState) bool { return x.ID == "s4" })]
	if !s4.Unattributed || s4.ConnectionID != "" || s4.Name != "Ada" || s4.VideoType != "" || s4.CreatedAt != now {
		t.Fatalf("s4 %+v", s4)
	}
	if c := v.Counts; c != (Counts{Connections: 2, Publishers: 1, Viewers: 1, Streams: 2, Camera: 1, AudioOnly: 1}) {
		t.Fatalf("counts %+v", c)
	}
	if again := Reconcile(s, sid, []string{"c1", "c3"}, []RESTStream{{ID: "s1"}, {ID: "s4"}}, now+1); len(again) != 0 {
		t.Fatalf("second reconcile: %s", kinds(again))
	}

	// The streamCreated callback arrives after all, naming c3: the stream is
	// attributed, c3 becomes a publisher and gets the data REST lacked.
	late := Event{Kind: StreamCreated, SessionID: sid, Timestamp: 90,
		Stream: &Stream{ID: "s4", Connection: Connection{ID: "c3", CreatedAt: 80, Data: "ada"}, CreatedAt: 85, Name: "Ada"}}
	if !s.Apply(late) {
		t.Fatal("attribution changed nothing")
	}
	v = mustSession(t, s)
	s4 = v.Streams[slices.IndexFunc(v.Streams, func(x StreamState) bool { return x.ID == "s4" })]
	if s4.Unattributed || s4.ConnectionID != "c3" || s4.CreatedAt != 85 {
		t.Fatalf("s4 after its callback %+v", s4)
	}
	c3 := v.Connections[slices.IndexFunc(v.Connections, func(x ConnectionState) bool { return x.ID == "c3" })]
	if c3.Data != "ada" || c3.CreatedAt != 80 || c3.Streams != 1 {
		t.Fatalf("c3 %+v", c3)
	}
	if c := v.Counts; c.Publishers != 2 || c.Viewers != 0 {
		t.Fatalf("counts %+v", c)
	}
	if s.Apply(late) {
		t.Fatal("duplicate attribution changed the state")
	}
	// Another reconcile's guess about c3 never overrides what a callback said.
	if s.Apply(Event{Kind: ConnectionCreated, SessionID: sid, Reason: ReasonReconciled, Timestamp: 95, Connection: &Connection{ID: "c3", CreatedAt: 95}}) {
		t.Fatal("a reconcile guess overrode the callback's connection")
	}
}

// TestReconcileUnattributedStreamOfADeadConnection: a stream the reconcile
// created whose callback names a connection already destroyed dies with it.
func TestReconcileUnattributedStreamOfADeadConnection(t *testing.T) {
	s := NewState()
	s.Apply(connEv(ConnectionCreated, "c1", 10, ""))
	for _, ev := range Reconcile(s, sid, []string{"c1"}, []RESTStream{{ID: "s1", VideoType: "camera"}}, 50) {
		s.Apply(ev)
	}
	s.Apply(connEv(ConnectionDestroyed, "c1", 60, ReasonClientDisconnected))
	// The unattributed stream outlives the connection: nothing names them
	// together yet, and the session stays live so a reconcile will visit it.
	if v := mustSession(t, s); len(v.Streams) != 1 || !v.Live || v.Counts.Connections != 0 {
		t.Fatalf("view %+v", v)
	}
	s.Apply(streamEv(StreamCreated, "s1", "c1", "camera", 20, ""))
	if v := mustSession(t, s); len(v.Streams) != 0 || v.Live || v.Counts != (Counts{}) {
		t.Fatalf("view %+v", v)
	}
}

// TestReconcileRespectsTombstonesAndNewerNews: REST lists lag the
// callbacks; what a callback says ended stays ended, and what was heard of
// at or after the lists were taken is not destroyed by them.
func TestReconcileRespectsTombstonesAndNewerNews(t *testing.T) {
	s := NewState()
	s.Apply(connEv(ConnectionDestroyed, "gone", 40, ReasonClientDisconnected))
	s.Apply(streamEv(StreamDestroyed, "gone-stream", "gone", "camera", 40, ReasonClientDisconnected))
	s.Apply(connEv(ConnectionCreated, "new", 50, ""))
	s.Apply(streamEv(StreamCreated, "new-stream", "new", "camera", 50, ""))
	evs := Reconcile(s, sid, []string{"gone"}, []RESTStream{{ID: "gone-stream"}}, 50)
	if len(evs) != 0 {
		t.Fatalf("events: %s", kinds(evs))
	}
	evs = Reconcile(s, sid, nil, nil, 51)
	if got, want := kinds(evs), "connectionDestroyed new"; got != want {
		t.Fatalf("events: %s, want %s", got, want)
	}
}

func TestReconcileUnknownSession(t *testing.T) {
	s := NewState()
	if evs := Reconcile(s, "nobody", nil, nil, 1); len(evs) != 0 {
		t.Fatalf("events for an empty session: %s", kinds(evs))
	}
	evs := Reconcile(s, "fresh", []string{"b", "a", "a", ""}, []RESTStream{{ID: "x", VideoType: "custom"}, {ID: ""}}, 7)
	if got, want := kinds(evs), "connectionCreated a, connectionCreated b, streamCreated x"; got != want {
		t.Fatalf("events: %s, want %s", got, want)
	}
	for _, ev := range evs {
		s.Apply(ev)
	}
	if c := s.Counts("fresh"); c != (Counts{Connections: 2, Viewers: 2, Streams: 1, Custom: 1}) {
		t.Fatalf("counts %+v", c)
	}
}

// TestReconcileRawIsACallback: the relay logs Raw verbatim and every
// reducer decodes it like a callback, so Raw must decode (as a session
// callback) to the very event Reconcile returned.
func TestReconcileRawIsACallback(t *testing.T) {
	s := NewState()
	s.Apply(Event{Kind: ConnectionCreated, SessionID: sid, ProjectID: project, Timestamp: 10,
		Connection: &Connection{ID: "c1", CreatedAt: 9, Data: `{"name":"<Ada & Bob>"}`}})
	s.Apply(streamEv(StreamCreated, "s1", "c1", "camera", 12, ""))
	s.Apply(streamEv(StreamCreated, "s2", "c2", "", 12, ""))
	s.Apply(connEv(ConnectionCreated, "c3", 13, ""))
	for _, ev := range Reconcile(s, sid, []string{"c1", "c3"}, []RESTStream{{ID: "s1"}, {ID: "u1"}}, 14) {
		s.Apply(ev)
	}
	// Every shape: a stream and a connection destroyed, a connection and an
	// unattributed stream created, an unattributed stream destroyed.
	evs := Reconcile(s, sid, []string{"c1", "c4"}, []RESTStream{{ID: "s1", VideoType: "camera"}, {ID: "u2", VideoType: "screen", Name: "deck"}}, 20)
	if got, want := kinds(evs), "streamDestroyed u1, connectionDestroyed c3, connectionCreated c4, streamCreated u2"; got != want {
		t.Fatalf("events: %s, want %s", got, want)
	}
	for _, ev := range evs {
		s.Apply(ev)
	}
	evs = append(evs, Reconcile(s, sid, []string{"c1"}, nil, 30)...)
	for _, ev := range evs {
		if ev.Kind == StreamCreated && !strings.Contains(string(ev.Raw), `"stream":{"id":"u2","createdAt":20,"name":"deck","videoType":"screen"}`) {
			t.Errorf("unattributed stream's raw: %s", ev.Raw)
		}
		got, err := Decode(GroupSession, ev.Raw)
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) && strings.HasPrefix(de.Field, "stream.connection") {
				t.Errorf("Decode refuses a reconcile %s without a connection (%v): decode.go must accept a stream "+
					"without stream.connection when reason is %q, leaving Stream.Connection zero\n%s", ev.Kind, err, ReasonReconciled, ev.Raw)
				continue
			}
			t.Fatalf("Decode(%s): %v", ev.Raw, err)
		}
		if !reflect.DeepEqual(got, ev) {
			t.Errorf("Raw decodes to\n%+v\nnot\n%+v", got, ev)
		}
	}
}

// TestReconcileAgainstEmulator meets the real thing: the emulator plays
// scripted sessions and posts their callbacks, losing, duplicating and
// reordering some; the receiver decodes and applies them; then a reconcile
// per session from the emulator's REST lists must leave exactly the
// emulator's ground truth of live connections and streams.
func TestReconcileAgainstEmulator(t *testing.T) {
	if testing.Short() {
		t.Skip("runs emulator scenarios")
	}
	var mu sync.Mutex
	state := NewState()
	var received, refused int
	mux := http.NewServeMux()
	for _, g := range []Group{GroupSession, GroupArchive} {
		mux.HandleFunc("POST /"+string(g), func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			ev, err := Decode(g, body)
			mu.Lock()
			defer mu.Unlock()
			received++
			if err != nil {
				refused++
				t.Errorf("emulator callback refused: %v\n%s", err, body)
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			state.Apply(ev)
		})
	}
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	srv, err := opentoktest.NewServer(opentoktest.WithSeed(11), opentoktest.WithTimeScale(1000),
		opentoktest.WithCallbackURL(opentoktest.GroupSession, hs.URL+"/session"),
		opentoktest.WithCallbackURL(opentoktest.GroupArchive, hs.URL+"/archive"),
		opentoktest.WithFaults(opentoktest.Faults{Drop: 0.05, Duplicate: 0.1, Reorder: 0.2}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, sc := range []opentoktest.Scenario{
		opentoktest.FlakyNetwork{Seed: 2, Participants: 12, DropRate: 2, Speed: 4000, Duration: 10 * time.Minute},
		opentoktest.Classroom{Seed: 3, Students: 12, Speed: 4000, Duration: 10 * time.Minute},
		opentoktest.OneToOne{Seed: 4, Calls: 8, MeanDuration: time.Minute, Speed: 4000, Duration: 5 * time.Minute},
	} {
		if err := sc.Run(ctx, srv); err != nil {
			t.Fatalf("%s: %v", sc.Name(), err)
		}
	}
	if err := srv.FlushCallbacks(ctx); err != nil {
		t.Fatal(err)
	}
	client, err := srv.Client(false)
	if err != nil {
		t.Fatal(err)
	}
	truth := srv.Sessions()
	mu.Lock()
	defer mu.Unlock()
	if received < 100 {
		t.Fatalf("only %d callbacks received", received)
	}
	if st := srv.CallbackStats(); st.Dropped == 0 {
		t.Fatalf("the emulator dropped nothing (%+v): the test proves less than it claims", st)
	}
	differences := 0
	for _, want := range truth {
		conns, streams := restLists(ctx, t, client, want.ID)
		evs := Reconcile(state, want.ID, conns, streams, time.Now().UnixMilli())
		differences += len(evs)
		for _, ev := range evs {
			state.Apply(ev)
		}
		gotConns, gotStreams := liveIDs(t, state, want.ID)
		var wantConns, wantStreams []string
		for _, c := range want.Connections {
			wantConns = append(wantConns, c.ID)
		}
		for _, x := range want.Streams {
			wantStreams = append(wantStreams, x.ID)
		}
		slices.Sort(wantConns)
		slices.Sort(wantStreams)
		if !slices.Equal(gotConns, wantConns) || !slices.Equal(gotStreams, wantStreams) {
			t.Fatalf("session %s after reconcile:\nconnections %v\n       want %v\nstreams %v\n   want %v", want.ID, gotConns, wantConns, gotStreams, wantStreams)
		}
		// Whatever the callbacks did say is exact: each attributed stream
		// has the connection and type the emulator gave it.
		v, _ := state.Session(want.ID)
		for _, x := range v.Streams {
			i := slices.IndexFunc(want.Streams, func(y opentoktest.StreamState) bool { return y.ID == x.ID })
			if y := want.Streams[i]; !x.Unattributed && x.ConnectionID != y.ConnectionID || x.VideoType != y.VideoType || x.Name != y.Name {
				t.Fatalf("stream %+v, emulator has %+v", x, y)
			}
		}
	}
	if differences == 0 {
		t.Fatal("callbacks were dropped but the reconcile found nothing to heal")
	}
	t.Logf("%d sessions, %d callbacks received, %d reconcile events", len(truth), received, differences)
}

func restLists(ctx context.Context, t *testing.T, client *opentok.Client, sessionID string) ([]string, []RESTStream) {
	t.Helper()
	var conns []string
	list, err := client.Connections.List(ctx, sessionID)
	if err != nil && !errors.Is(err, opentok.ErrNotFound) {
		t.Fatalf("list connections: %v", err)
	}
	if list != nil {
		for _, c := range list.Items {
			if c.State != opentok.Disconnected {
				conns = append(conns, c.ID)
			}
		}
	}
	items, err := client.Streams.List(ctx, sessionID)
	if err != nil && !errors.Is(err, opentok.ErrNotFound) {
		t.Fatalf("list streams: %v", err)
	}
	streams := make([]RESTStream, 0, len(items))
	for _, x := range items {
		streams = append(streams, RESTStream{ID: x.ID, VideoType: string(x.VideoType), Name: x.Name})
	}
	return conns, streams
}
