package opentoktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

// monitoringCallback is what a session-monitoring receiver reads.
type monitoringCallback struct {
	SessionID  string `json:"sessionId"`
	Event      string `json:"event"`
	Reason     string `json:"reason"`
	Connection *struct {
		ID   string `json:"id"`
		Data string `json:"data"`
	} `json:"connection"`
	Stream *struct {
		Name       string `json:"name"`
		VideoType  string `json:"videoType"`
		Connection struct {
			Data string `json:"data"`
		} `json:"connection"`
	} `json:"stream"`
}

// summary is the callback without IDs or timestamps, which differ between runs.
func (c monitoringCallback) summary() string {
	s := c.Event + " " + c.Reason
	if c.Connection != nil {
		s += " conn " + c.Connection.Data
	}
	if c.Stream != nil {
		s += fmt.Sprintf(" stream %q %q by %s", c.Stream.Name, c.Stream.VideoType, c.Stream.Connection.Data)
	}
	return s
}

// receiver is a session-monitoring callback URL that records what it gets.
type receiver struct {
	mu     sync.Mutex
	events []monitoringCallback
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var c monitoringCallback
	if err := json.NewDecoder(req.Body).Decode(&c); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.events = append(r.events, c)
	r.mu.Unlock()
}

func (r *receiver) all() []monitoringCallback {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// perSession is each session's callbacks in arrival order (the service keeps
// one session's callbacks in order), as summaries, sorted so that two runs
// whose sessions got different IDs compare equal.
func (r *receiver) perSession() []string {
	bySession := map[string][]string{}
	var order []string
	for _, c := range r.all() {
		if _, ok := bySession[c.SessionID]; !ok {
			order = append(order, c.SessionID)
		}
		bySession[c.SessionID] = append(bySession[c.SessionID], c.summary())
	}
	out := make([]string, 0, len(order))
	for _, id := range order {
		out = append(out, strings.Join(bySession[id], "\n"))
	}
	slices.Sort(out)
	return out
}

// run plays sc on a fresh seeded emulator with a callback receiver and waits
// for every callback to arrive.
func run(t *testing.T, sc opentoktest.Scenario) (*opentoktest.Server, *receiver) {
	t.Helper()
	rec := &receiver{}
	hs := httptest.NewServer(rec)
	t.Cleanup(hs.Close)
	srv, err := opentoktest.NewServer(opentoktest.WithSeed(7), opentoktest.WithCallbackURL(opentoktest.GroupSession, hs.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sc.Run(ctx, srv); err != nil {
		t.Fatalf("%s: Run: %v", sc.Name(), err)
	}
	if err := srv.FlushCallbacks(ctx); err != nil {
		t.Fatalf("flush callbacks: %v", err)
	}
	return srv, rec
}

// appData is the connection data the scenarios give their people.
type appData struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

func parseData(t *testing.T, data string) appData {
	t.Helper()
	var d appData
	if err := json.Unmarshal([]byte(data), &d); err != nil || d.Name == "" || d.Role == "" {
		t.Fatalf("connection data %q: want JSON with a name and a role (err %v)", data, err)
	}
	return d
}

// streamsOf groups a session's streams by connection ID.
func streamsOf(s opentoktest.SessionState) map[string][]opentoktest.StreamState {
	m := map[string][]opentoktest.StreamState{}
	for _, x := range s.Streams {
		m[x.ConnectionID] = append(m[x.ConnectionID], x)
	}
	return m
}

func TestTownHallShape(t *testing.T) {
	const viewers, panelists = 200, 4
	srv, rec := run(t, opentoktest.TownHall{Seed: 3, Viewers: viewers, Panelists: panelists, JoinOver: time.Minute,
		Speed: 4000, Duration: 3 * time.Minute})
	sessions := srv.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions, want 1", len(sessions))
	}
	s := sessions[0]
	if !s.Routed || s.ArchiveMode != "always" || !s.Live {
		t.Errorf("session routed=%v archiveMode=%q live=%v, want a live routed session archived always", s.Routed, s.ArchiveMode, s.Live)
	}
	streams := streamsOf(s)
	count := map[string]int{}
	seen := map[string]bool{}
	for _, c := range s.Connections {
		d := parseData(t, c.Data)
		count[d.Role]++
		if seen[d.Name] {
			t.Errorf("two people called %s", d.Name)
		}
		seen[d.Name] = true
		got := streams[c.ID]
		switch d.Role {
		case "host":
			if c.Role != opentok.RoleModerator {
				t.Errorf("host token role %s, want moderator", c.Role)
			}
			var types []string
			for _, x := range got {
				types = append(types, x.VideoType)
				if x.VideoType == "screen" && (x.HasAudio || x.Name != d.Name+" (screen)") {
					t.Errorf("host screen share %+v: want no audio, named after the host", x)
				}
			}
			slices.Sort(types)
			if !slices.Equal(types, []string{"camera", "screen"}) {
				t.Errorf("host streams %v, want camera and screen", types)
			}
		case "panelist":
			if c.Role != opentok.RolePublisher || len(got) != 1 || got[0].VideoType != "camera" || got[0].Name != d.Name {
				t.Errorf("panelist %s (role %s) streams %+v, want one camera named after them", d.Name, c.Role, got)
			}
		case "viewer":
			if c.Role != opentok.RoleSubscriber || len(got) != 0 {
				t.Errorf("viewer %s: role %s, %d streams; want a subscriber publishing nothing", d.Name, c.Role, len(got))
			}
		default:
			t.Errorf("unexpected role %q in %s", d.Role, c.Data)
		}
	}
	if count["host"] != 1 || count["panelist"] != panelists {
		t.Errorf("%d hosts, %d panelists; want 1 and %d", count["host"], count["panelist"], panelists)
	}
	// Churn keeps a few viewers away at any moment, never most of them.
	if count["viewer"] < viewers*3/4 || count["viewer"] > viewers {
		t.Errorf("%d viewers connected, want most of %d", count["viewer"], viewers)
	}
	left := 0
	for _, c := range rec.all() {
		if c.Event == "connectionDestroyed" {
			left++
			if parseData(t, c.Connection.Data).Role != "viewer" {
				t.Errorf("%s left; only viewers churn", c.Connection.Data)
			}
		}
	}
	if left == 0 {
		t.Error("no viewer left and rejoined: churn did nothing")
	}
}

func TestClassroomShape(t *testing.T) {
	const students = 25
	srv, rec := run(t, opentoktest.Classroom{Seed: 5, Students: students, Speed: 8000, Duration: 20 * time.Minute})
	sessions := srv.Sessions()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions, want 1", len(sessions))
	}
	s := sessions[0]
	if len(s.Connections) != students+1 {
		t.Errorf("%d connections, want %d students and a teacher", len(s.Connections), students)
	}
	streams := streamsOf(s)
	for _, c := range s.Connections {
		d := parseData(t, c.Data)
		if d.Role == "teacher" && c.Role != opentok.RoleModerator {
			t.Errorf("teacher token role %s, want moderator", c.Role)
		}
		hasCamera := false
		for _, x := range streams[c.ID] {
			hasCamera = hasCamera || (x.VideoType == "camera" && x.HasAudio)
		}
		if !hasCamera {
			t.Errorf("%s publishes %+v, want a camera with audio", c.Data, streams[c.ID])
		}
	}
	shares, stopped := 0, 0
	for _, c := range rec.all() {
		if c.Stream == nil || c.Stream.VideoType != "screen" {
			continue
		}
		if parseData(t, c.Stream.Connection.Data).Role != "teacher" {
			t.Errorf("%s shared a screen; only the teacher does", c.Stream.Connection.Data)
		}
		switch {
		case c.Event == "streamCreated":
			shares++
		case c.Event == "streamDestroyed" && c.Reason == "mediaStopped":
			stopped++
		default:
			t.Errorf("screen share %s with reason %q, want streamDestroyed mediaStopped", c.Event, c.Reason)
		}
	}
	if stopped == 0 || shares < stopped || shares > stopped+1 {
		t.Errorf("%d screen shares started, %d stopped (mediaStopped); want several, all but the last stopped", shares, stopped)
	}
}

func TestOneToOneShape(t *testing.T) {
	srv, rec := run(t, opentoktest.OneToOne{Seed: 9, Calls: 5, MeanDuration: time.Minute, Speed: 8000, Duration: 15 * time.Minute})
	sessions := srv.Sessions()
	if len(sessions) <= 5 {
		t.Fatalf("%d sessions, want more than the 5 lines: calls end and new ones start", len(sessions))
	}
	live := 0
	for _, s := range sessions {
		if s.Routed {
			t.Errorf("session %s is routed; one-to-one calls are relayed", s.ID)
		}
		if len(s.Connections) > 2 {
			t.Errorf("session %s has %d connections, want at most 2", s.ID, len(s.Connections))
		}
		if s.Live {
			live++
		}
		for _, c := range s.Connections {
			if r := parseData(t, c.Data).Role; r != "caller" && r != "callee" {
				t.Errorf("role %q, want caller or callee", r)
			}
		}
	}
	if live > 5 {
		t.Errorf("%d calls in progress, want at most 5", live)
	}
	destroyed := 0
	for _, c := range rec.all() {
		if c.Event == "sessionDestroyed" {
			destroyed++
		}
	}
	if destroyed < len(sessions)-5 {
		t.Errorf("%d sessionDestroyed for %d sessions, want every finished call's", destroyed, len(sessions))
	}
}

func TestFlakyNetworkShape(t *testing.T) {
	const n = 5
	srv, rec := run(t, opentoktest.FlakyNetwork{Seed: 11, Participants: n, DropRate: 2, Speed: 8000, Duration: 5 * time.Minute})
	sessions := srv.Sessions()
	if len(sessions) != 1 || len(sessions[0].Connections) > n {
		t.Fatalf("sessions %+v, want one with at most %d connections", sessions, n)
	}
	drops, joins := 0, map[string]int{}
	audioOnly := false
	for _, c := range rec.all() {
		switch c.Event {
		case "connectionCreated":
			joins[c.Connection.Data]++
		case "connectionDestroyed":
			if c.Reason != "networkDisconnected" {
				t.Errorf("connection destroyed with %q, want networkDisconnected", c.Reason)
			}
			drops++
		case "streamCreated":
			audioOnly = audioOnly || c.Stream.VideoType == ""
		}
	}
	if len(joins) != n {
		t.Errorf("%d distinct people joined, want %d", len(joins), n)
	}
	// Two drops a minute each for five minutes: dozens of drops, each
	// followed by a rejoin as a new connection.
	if drops < 10 {
		t.Errorf("%d network drops, want dozens", drops)
	}
	rejoined := 0
	for _, k := range joins {
		rejoined += k - 1
	}
	if rejoined < drops-n {
		t.Errorf("%d rejoins after %d drops", rejoined, drops)
	}
	if !audioOnly {
		t.Error("nobody came back audio-only")
	}
}

func TestMixRunsEveryScenario(t *testing.T) {
	srv, _ := run(t, opentoktest.Mix{Seed: 2, Speed: 8000, Duration: 4 * time.Minute})
	roles := map[string]bool{}
	for _, s := range srv.Sessions() {
		for _, c := range s.Connections {
			roles[parseData(t, c.Data).Role] = true
		}
	}
	for _, r := range []string{"host", "panelist", "viewer", "teacher", "student", "caller", "participant"} {
		if !roles[r] {
			t.Errorf("no %s connected after four minutes of the mix (roles %v)", r, roles)
		}
	}
}

// TestScenariosAreDeterministic: the same seed gives the same callbacks,
// session by session, and the same people and streams; another seed does not.
func TestScenariosAreDeterministic(t *testing.T) {
	for _, mk := range []func(seed uint64) opentoktest.Scenario{
		func(seed uint64) opentoktest.Scenario {
			return opentoktest.TownHall{Seed: seed, Viewers: 60, Panelists: 2, JoinOver: time.Minute, Churn: 0.2, Speed: 8000, Duration: 3 * time.Minute}
		},
		func(seed uint64) opentoktest.Scenario {
			return opentoktest.Classroom{Seed: seed, Students: 10, Speed: 8000, Duration: 10 * time.Minute}
		},
		func(seed uint64) opentoktest.Scenario {
			return opentoktest.OneToOne{Seed: seed, Calls: 4, MeanDuration: time.Minute, Speed: 8000, Duration: 8 * time.Minute}
		},
		func(seed uint64) opentoktest.Scenario {
			return opentoktest.FlakyNetwork{Seed: seed, Participants: 4, DropRate: 1, Speed: 8000, Duration: 5 * time.Minute}
		},
		func(seed uint64) opentoktest.Scenario {
			return opentoktest.Mix{Seed: seed, Speed: 8000, Duration: 3 * time.Minute}
		},
	} {
		t.Run(mk(0).Name(), func(t *testing.T) {
			srvA, recA := run(t, mk(42))
			srvB, recB := run(t, mk(42))
			srvC, recC := run(t, mk(43))
			a, b := recA.perSession(), recB.perSession()
			if len(a) == 0 {
				t.Fatal("no callbacks")
			}
			if !slices.Equal(a, b) {
				t.Errorf("same seed, different callbacks:\n%s\n----\n%s", strings.Join(a, "\n\n"), strings.Join(b, "\n\n"))
			}
			if slices.Equal(a, recC.perSession()) {
				t.Error("seeds 42 and 43 gave the same callbacks")
			}
			if x, y := groundTruth(srvA), groundTruth(srvB); !slices.Equal(x, y) {
				t.Errorf("same seed, different ground truth:\n%v\n%v", x, y)
			}
			if slices.Equal(groundTruth(srvA), groundTruth(srvC)) {
				t.Error("seeds 42 and 43 gave the same people and streams")
			}
		})
	}
}

// groundTruth is every connection's data and every stream's name and type,
// sorted.
func groundTruth(srv *opentoktest.Server) []string {
	var out []string
	for _, s := range srv.Sessions() {
		for _, c := range s.Connections {
			out = append(out, "conn "+c.Data+" "+string(c.Role))
		}
		for _, x := range s.Streams {
			out = append(out, "stream "+x.Name+" "+x.VideoType)
		}
	}
	slices.Sort(out)
	return out
}

func TestScenarioStopsWhenContextIsDone(t *testing.T) {
	srv, err := opentoktest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = opentoktest.TownHall{Seed: 1, Viewers: 100}.Run(ctx, srv) // real time, no end
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want the context's error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run took %v to notice the context", d)
	}
	// It got as far as real time allows: the host, some panelists, a few viewers.
	sessions := srv.Sessions()
	if len(sessions) != 1 || len(sessions[0].Connections) == 0 {
		t.Errorf("ground truth %+v, want the town hall under way", sessions)
	}
}

// TestScenarioToleratesModerators: a moderator who ends streams and
// disconnects people behind the script's back does not stop it.
func TestScenarioToleratesModerators(t *testing.T) {
	srv, err := opentoktest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client(false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- opentoktest.Classroom{Seed: 4, Students: 6, Speed: 300, Duration: 12 * time.Minute}.Run(ctx, srv)
	}()
	// screenShare waits for the teacher's next screen share.
	screenShare := func(skip string) (string, opentoktest.StreamState) {
		for {
			for _, s := range srv.Sessions() {
				for _, x := range s.Streams {
					if x.VideoType == "screen" && x.ID != skip {
						return s.ID, x
					}
				}
			}
			select {
			case err := <-done:
				t.Fatalf("the class ended before the teacher shared a screen: %v", err)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	// A moderator in the class ends the first screen share before the
	// teacher does …
	sessionID, first := screenShare("")
	tok, err := client.Token(sessionID, opentok.TokenOptions{Role: opentok.RoleModerator, Data: `{"name":"Mod","role":"moderator"}`})
	if err != nil {
		t.Fatal(err)
	}
	mod, err := srv.Join(sessionID, tok.Value)
	if err != nil {
		t.Fatal(err)
	}
	if err := mod.ForceUnpublish(first.ID); err != nil {
		t.Fatal(err)
	}
	// … and at the next one, a REST call disconnects the teacher and a student.
	_, second := screenShare(first.ID)
	if err := client.Moderation.ForceDisconnect(ctx, sessionID, second.ConnectionID); err != nil {
		t.Fatal(err)
	}
	s, _ := srv.Session(sessionID)
	for _, c := range s.Connections {
		if strings.Contains(c.Data, `"student"`) {
			if err := client.Moderation.ForceDisconnect(ctx, sessionID, c.ID); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Run after moderation: %v", err)
	}
}

// TestTownHallViewersComeBackAfterRemoval: a viewer a moderator
// disconnects comes back as a new connection, every time, as a
// reconnecting app does; that is what a ban is for.
func TestTownHallViewersComeBackAfterRemoval(t *testing.T) {
	srv, err := opentoktest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client(false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- opentoktest.TownHall{Seed: 5, Viewers: 10, Panelists: 1, JoinOver: 10 * time.Second, Churn: -1, Speed: 100}.Run(ctx, srv)
	}()
	// viewer finds the connection of the viewer whose data is data (any
	// viewer if data is ""), other than not.
	viewer := func(data, not string) (sessionID string, c opentoktest.ConnectionState) {
		for ctx.Err() == nil {
			for _, s := range srv.Sessions() {
				for _, c := range s.Connections {
					if strings.Contains(c.Data, `"viewer"`) && (data == "" || c.Data == data) && c.ID != not {
						return s.ID, c
					}
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("no viewer with data %q other than %s came (back) in time", data, not)
		return "", opentoktest.ConnectionState{}
	}
	sessionID, c := viewer("", "")
	for round := 1; round <= 3; round++ {
		if err := client.Moderation.ForceDisconnect(ctx, sessionID, c.ID); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		_, back := viewer(c.Data, c.ID)
		t.Logf("round %d: %s came back as %s", round, c.Data, back.ID)
		c = back
	}
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}

func TestScenarioRejectsBadParameters(t *testing.T) {
	srv, err := opentoktest.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct {
		sc   opentoktest.Scenario
		want string
	}{
		{opentoktest.TownHall{Viewers: -1}, "viewers -1"},
		{opentoktest.Classroom{Speed: -2}, "speed -2"},
		{opentoktest.OneToOne{MeanDuration: -time.Second}, "mean duration"},
		{opentoktest.FlakyNetwork{DropRate: -1}, "drop rate"},
		{opentoktest.Mix{Duration: -time.Second}, "duration"},
	} {
		err := tc.sc.Run(context.Background(), srv)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), tc.sc.Name()+": ") {
			t.Errorf("%T: err %v, want one naming %s and %q", tc.sc, err, tc.sc.Name(), tc.want)
		}
	}
	if n := len(srv.Sessions()); n != 0 {
		t.Errorf("%d sessions created by refused scenarios", n)
	}
}

func TestScenarioByName(t *testing.T) {
	for _, name := range opentoktest.ScenarioNames() {
		sc, err := opentoktest.ScenarioByName(name, 5)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sc.Name() != name {
			t.Errorf("ScenarioByName(%q).Name() = %q", name, sc.Name())
		}
		fast := opentoktest.ScenarioAtSpeed(sc, 50)
		if fast.Name() != name || fmt.Sprint(fast) == fmt.Sprint(sc) || !strings.Contains(fmt.Sprintf("%+v", fast), "Speed:50") {
			t.Errorf("ScenarioAtSpeed(%+v, 50) = %+v", sc, fast)
		}
	}
	_, err := opentoktest.ScenarioByName("webinar", 1)
	if err == nil || !strings.Contains(err.Error(), "townhall, classroom, onetoone, flaky, mix") {
		t.Errorf("unknown name: %v, want the valid names", err)
	}
}
