package events

import (
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// ---- A generator of histories with their ground truth ----
//
// gen plays a service: sessions fill and empty, participants join, publish
// cameras, screens, custom and audio-only streams, stop sharing, leave in
// every way the service reports, archives and broadcasts go through their
// lifecycles, and unrelated callbacks (SIP, renders, captions, types gavel
// does not know) pass by. Every callback is written as the JSON the service
// sends and read back with Decode, so the reducer sees what the relay will.
// The truth is the generator's own model of who is live, kept without the
// reducer's help.

type tConn struct {
	id, data  string
	createdAt int64
	streams   idSet
}

type tStream struct {
	id, conn, name, videoType string
	createdAt                 int64
}

type tSession struct {
	conns      map[string]*tConn
	connIDs    idSet
	streams    map[string]*tStream
	streamIDs  idSet
	archives   map[string]string // id → latest status
	active     []string          // archives not yet in a final status
	broadcasts map[string]string
	live       []string // broadcasts started
}

// idSet is a set with O(1) add, remove and random pick.
type idSet struct {
	ids []string
	at  map[string]int
}

func (s *idSet) add(id string) {
	if s.at == nil {
		s.at = map[string]int{}
	}
	s.at[id] = len(s.ids)
	s.ids = append(s.ids, id)
}

func (s *idSet) remove(id string) {
	i, ok := s.at[id]
	if !ok {
		return
	}
	last := s.ids[len(s.ids)-1]
	s.ids[i], s.at[last] = last, i
	s.ids = s.ids[:len(s.ids)-1]
	delete(s.at, id)
}

func (s *idSet) pick(rng *rand.Rand) string { return s.ids[rng.IntN(len(s.ids))] }

type history struct {
	events []Event
	truth  map[string]*tSession
	last   int64 // the latest timestamp
}

type gen struct {
	tb      testing.TB
	rng     *rand.Rand
	now     int64
	ids     []string // session IDs
	truth   map[string]*tSession
	events  []Event
	created map[string]int64 // archive id → its createdAt
}

const project = "123456"

func genHistory(tb testing.TB, seed uint64, steps, sessions int) history {
	g := &gen{tb: tb, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: 1_700_000_000_000, truth: map[string]*tSession{}, created: map[string]int64{}}
	for i := range sessions {
		id := fmt.Sprintf("2_MX4xMjM0NTZ-fjE3MDAwMDAwMDAwMDB-s%03d-%d", i, seed)
		g.ids = append(g.ids, id)
		g.truth[id] = &tSession{conns: map[string]*tConn{}, streams: map[string]*tStream{}, archives: map[string]string{}, broadcasts: map[string]string{}}
	}
	for range steps {
		g.step()
	}
	return history{events: g.events, truth: g.truth, last: g.now}
}

func (g *gen) uuid() string {
	r := g.rng
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, 0x8000|r.Uint32()&0x3fff, r.Uint64()&0xffffffffffff)
}

// tick advances the clock: timestamps are strictly increasing, so the
// truth is the last status of everything.
func (g *gen) tick() int64 {
	g.now += 1 + g.rng.Int64N(1500)
	return g.now
}

func (g *gen) emit(group Group, body any) {
	raw, err := json.Marshal(body)
	if err != nil {
		g.tb.Fatal(err)
	}
	ev, err := Decode(group, raw)
	if err != nil {
		g.tb.Fatalf("generated callback does not decode: %v\n%s", err, raw)
	}
	g.events = append(g.events, ev)
}

type jConn struct {
	ID        string `json:"id"`
	CreatedAt int64  `json:"createdAt"`
	Data      string `json:"data"`
}

type jStream struct {
	ID         string `json:"id"`
	Connection jConn  `json:"connection"`
	CreatedAt  int64  `json:"createdAt"`
	Name       string `json:"name"`
	VideoType  string `json:"videoType,omitempty"`
}

type jMonitoring struct {
	SessionID  string   `json:"sessionId"`
	ProjectID  string   `json:"projectId"`
	Event      string   `json:"event"`
	Reason     string   `json:"reason,omitempty"`
	Timestamp  int64    `json:"timestamp"`
	Connection *jConn   `json:"connection,omitempty"`
	Stream     *jStream `json:"stream,omitempty"`
}

func (g *gen) step() {
	sid := g.ids[g.rng.IntN(len(g.ids))]
	ts := g.truth[sid]
	switch w := g.rng.IntN(100); {
	case w < 30:
		g.join(sid)
	case w < 52:
		if len(ts.connIDs.ids) > 0 {
			g.publish(sid, ts.connIDs.pick(g.rng))
		}
	case w < 65:
		if len(ts.streamIDs.ids) > 0 {
			g.unpublish(sid, ts.streamIDs.pick(g.rng))
		}
	case w < 85:
		if len(ts.connIDs.ids) > 0 {
			g.leave(sid, ts.connIDs.pick(g.rng))
		}
	case w < 87:
		// Everyone leaves: the session empties, and may come back later.
		for len(ts.connIDs.ids) > 0 {
			g.leave(sid, ts.connIDs.ids[0])
		}
	case w < 94:
		g.archive(sid)
	case w < 97:
		g.broadcast(sid)
	default:
		g.noise(sid)
	}
}

var roles = []string{"viewer", "host", "panelist", "moderator"}

func (g *gen) join(sid string) {
	ts := g.truth[sid]
	if len(ts.connIDs.ids) == 0 {
		g.emit(GroupSession, jMonitoring{SessionID: sid, ProjectID: project, Event: "sessionCreated", Timestamp: g.tick()})
	}
	now := g.tick()
	c := &tConn{id: g.uuid(), createdAt: now - g.rng.Int64N(300),
		data: fmt.Sprintf(`{"name":"Participant %05d","role":"%s","org":"acme"}`, g.rng.IntN(100000), roles[g.rng.IntN(len(roles))])}
	ts.conns[c.id] = c
	ts.connIDs.add(c.id)
	g.emit(GroupSession, jMonitoring{SessionID: sid, ProjectID: project, Event: "connectionCreated", Timestamp: now,
		Connection: &jConn{ID: c.id, CreatedAt: c.createdAt, Data: c.data}})
}

func (g *gen) publish(sid, cid string) {
	ts := g.truth[sid]
	c := ts.conns[cid]
	now := g.tick()
	st := &tStream{id: g.uuid(), conn: cid, createdAt: now - g.rng.Int64N(50)}
	switch w := g.rng.IntN(10); {
	case w < 5:
		st.videoType, st.name = "camera", "cam"
	case w < 7:
		st.videoType = "screen"
	case w < 8:
		st.videoType, st.name = "custom", "canvas"
	default: // audio-only: no videoType
	}
	ts.streams[st.id] = st
	ts.streamIDs.add(st.id)
	c.streams.add(st.id)
	// The stream callback's copy of the connection sometimes leaves the
	// data out, as the documented example does.
	data := c.data
	if g.rng.IntN(3) == 0 {
		data = ""
	}
	g.emit(GroupSession, jMonitoring{SessionID: sid, ProjectID: project, Event: "streamCreated", Timestamp: now,
		Stream: &jStream{ID: st.id, Connection: jConn{ID: cid, CreatedAt: c.createdAt, Data: data}, CreatedAt: st.createdAt, Name: st.name, VideoType: st.videoType}})
}

func (g *gen) streamGone(sid, id, reason string) {
	ts := g.truth[sid]
	st := ts.streams[id]
	c := ts.conns[st.conn]
	delete(ts.streams, id)
	ts.streamIDs.remove(id)
	c.streams.remove(id)
	g.emit(GroupSession, jMonitoring{SessionID: sid, ProjectID: project, Event: "streamDestroyed", Reason: reason, Timestamp: g.tick(),
		Stream: &jStream{ID: id, Connection: jConn{ID: c.id, CreatedAt: c.createdAt}, CreatedAt: st.createdAt, Name: st.name, VideoType: st.videoType}})
}

func (g *gen) unpublish(sid, id string) {
	reasons := []string{ReasonClientDisconnected, ReasonForceUnpublished}
	if g.truth[sid].streams[id].videoType == "screen" {
		reasons = append(reasons, ReasonMediaStopped, ReasonMediaStopped) // the share ended
	}
	g.streamGone(sid, id, reasons[g.rng.IntN(len(reasons))])
}

func (g *gen) leave(sid, cid string) {
	ts := g.truth[sid]
	c := ts.conns[cid]
	reason := []string{ReasonClientDisconnected, ReasonNetworkDisconnected, ReasonForceDisconnected}[g.rng.IntN(3)]
	// Usually each stream's end is reported too; sometimes (a force
	// disconnect, a crash) only the connection's, which takes its streams.
	reportStreams := g.rng.IntN(10) < 7
	for len(c.streams.ids) > 0 {
		id := c.streams.ids[0]
		if reportStreams {
			g.streamGone(sid, id, reason)
			continue
		}
		delete(ts.streams, id)
		ts.streamIDs.remove(id)
		c.streams.remove(id)
	}
	delete(ts.conns, cid)
	ts.connIDs.remove(cid)
	g.emit(GroupSession, jMonitoring{SessionID: sid, ProjectID: project, Event: "connectionDestroyed", Reason: reason, Timestamp: g.tick(),
		Connection: &jConn{ID: cid, CreatedAt: c.createdAt}})
	if len(ts.connIDs.ids) == 0 {
		g.emit(GroupSession, jMonitoring{SessionID: sid, ProjectID: project, Event: "sessionDestroyed", Timestamp: g.tick()})
	}
}

// archive starts an archive in a live session or moves one along:
// started → paused ⇄ started → stopped → uploaded|available → expired|deleted,
// or failed on the way.
func (g *gen) archive(sid string) {
	ts := g.truth[sid]
	if len(ts.active) == 0 || len(ts.active) < 2 && len(ts.connIDs.ids) > 0 && g.rng.IntN(4) == 0 {
		if len(ts.connIDs.ids) == 0 {
			return
		}
		id := g.uuid()
		ts.active = append(ts.active, id)
		g.archiveStatus(sid, id, "started", "")
		return
	}
	i := g.rng.IntN(len(ts.active))
	id := ts.active[i]
	next, reason := "", ""
	switch ts.archives[id] {
	case "started":
		next = []string{"paused", "stopped", "stopped", "stopped", "failed"}[g.rng.IntN(5)]
		if next == "stopped" {
			reason = "user initiated"
		}
	case "paused":
		next = []string{"started", "started", "stopped"}[g.rng.IntN(3)]
	case "stopped":
		next = []string{"uploaded", "available", "available"}[g.rng.IntN(3)]
	case "available":
		next = []string{"expired", "deleted"}[g.rng.IntN(2)]
	}
	g.archiveStatus(sid, id, next, reason)
	if next == "uploaded" || next == "expired" || next == "deleted" || next == "failed" {
		ts.active = slices.Delete(ts.active, i, i+1)
	}
}

func (g *gen) archiveStatus(sid, id, status, reason string) {
	now := g.tick()
	ts := g.truth[sid]
	ts.archives[id] = status
	body := map[string]any{
		"id": id, "event": "archive", "status": status, "name": "Weekly " + id[:4], "reason": reason,
		"sessionId": sid, "projectId": 123456, "createdAt": g.archiveCreatedAt(id, now), "updatedAt": now,
		"size": 0, "duration": 0, "outputMode": "composed", "hasAudio": true, "hasVideo": true,
	}
	if status == "available" {
		body["url"] = "https://example.invalid/" + id + "/archive.mp4"
	}
	g.emit(GroupArchive, body)
}

// archiveCreatedAt is an archive's createdAt, the same in each of its
// callbacks: when it was started, rounded to the second as the callback does.
func (g *gen) archiveCreatedAt(id string, now int64) int64 {
	if t, ok := g.created[id]; ok {
		return t
	}
	g.created[id] = now / 1000 * 1000
	return g.created[id]
}

func (g *gen) broadcast(sid string) {
	ts := g.truth[sid]
	if len(ts.live) > 0 {
		id := ts.live[0]
		ts.live = ts.live[1:]
		ts.broadcasts[id] = []string{"stopped", "stopped", "failed"}[g.rng.IntN(3)]
		now := g.tick()
		g.emit(GroupBroadcast, map[string]any{"id": id, "event": "broadcast", "status": ts.broadcasts[id], "sessionId": sid, "projectId": 123456, "createdAt": now - 1000, "updatedAt": now})
		return
	}
	if len(ts.connIDs.ids) == 0 {
		return
	}
	id := g.uuid()
	ts.live = append(ts.live, id)
	ts.broadcasts[id] = "started"
	now := g.tick()
	g.emit(GroupBroadcast, map[string]any{"id": id, "event": "broadcast", "status": "started", "sessionId": sid, "projectId": 123456, "createdAt": now, "updatedAt": now,
		"broadcastUrls": map[string]any{"hls": "https://example.invalid/" + id + ".m3u8"}})
}

// noise is a callback that says nothing about connections, streams,
// archives or broadcasts.
func (g *gen) noise(sid string) {
	now := g.tick()
	switch g.rng.IntN(6) {
	case 0:
		g.emit(GroupSIP, map[string]any{"sessionId": sid, "projectId": project, "event": "callCreated", "timestamp": now,
			"call": map[string]any{"id": g.uuid(), "connectionId": g.uuid(), "createdAt": now}})
	case 1:
		g.emit(GroupSIP, map[string]any{"sessionId": sid, "projectId": project, "event": "callUpdated", "timestamp": now, "state": "RINGING",
			"call": map[string]any{"id": g.uuid(), "connectionId": g.uuid(), "createdAt": now}})
	case 2:
		g.emit(GroupSIP, map[string]any{"sessionId": sid, "projectId": project, "event": "callDestroyed", "timestamp": now, "reason_code": 700,
			"reason_message": "Normal Clearing", "call": map[string]any{"id": g.uuid(), "connectionId": g.uuid(), "createdAt": now}})
	case 3:
		g.emit(GroupRender, map[string]any{"id": g.uuid(), "sessionId": sid, "streamId": g.uuid(), "status": "started"})
	case 4:
		g.emit(GroupCaptions, map[string]any{"captionId": g.uuid(), "sessionId": sid, "status": "started", "updatedAt": now})
	default:
		g.emit(GroupSession, map[string]any{"sessionId": sid, "projectId": project, "event": "streamPropertyChanged", "timestamp": now,
			"stream": map[string]any{"id": g.uuid()}})
	}
}

// ---- Comparing a state with the truth ----

type checkMode int

const (
	exact      checkMode = iota // every field the callbacks gave, attribution included
	idsOnly                     // after drops and a reconcile: live IDs and stream counts
	noArchives                  // with idsOnly: archive callbacks may have been dropped
)

func (h history) restView(sid string) ([]string, []RESTStream) {
	ts := h.truth[sid]
	conns := slices.Collect(maps.Keys(ts.conns))
	var streams []RESTStream
	for _, st := range ts.streams {
		streams = append(streams, RESTStream{ID: st.id, VideoType: st.videoType, Name: st.name})
	}
	return conns, streams
}

func sessionIDs(h history, s *State) []string {
	ids := slices.Collect(maps.Keys(h.truth))
	for _, v := range s.Sessions() {
		if _, ok := h.truth[v.ID]; !ok {
			ids = append(ids, v.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

func checkTruth(t *testing.T, label string, s *State, h history, mode checkMode) {
	t.Helper()
	if err := s.checkLiveIndex(); err != nil {
		t.Fatalf("%s: %v", label, err)
	}
	for _, sid := range sessionIDs(h, s) {
		ts := h.truth[sid]
		if ts == nil {
			t.Fatalf("%s: state has session %s that no event named", label, sid)
		}
		v, _ := s.Session(sid)
		if got := s.Counts(sid); got != v.Counts {
			t.Fatalf("%s: %s: Counts() = %+v, view's = %+v", label, sid, got, v.Counts)
		}
		var gotConns, gotStreams []string
		for _, c := range v.Connections {
			gotConns = append(gotConns, c.ID)
		}
		for _, st := range v.Streams {
			gotStreams = append(gotStreams, st.ID)
		}
		slices.Sort(gotConns)
		slices.Sort(gotStreams)
		wantConns := slices.Sorted(maps.Keys(ts.conns))
		wantStreams := slices.Sorted(maps.Keys(ts.streams))
		if !slices.Equal(gotConns, wantConns) {
			t.Fatalf("%s: %s: live connections\n got %v\nwant %v", label, sid, gotConns, wantConns)
		}
		if !slices.Equal(gotStreams, wantStreams) {
			t.Fatalf("%s: %s: live streams\n got %v\nwant %v", label, sid, gotStreams, wantStreams)
		}
		if v.Live != (len(wantConns) > 0) {
			t.Fatalf("%s: %s: Live = %v with %d connections", label, sid, v.Live, len(wantConns))
		}
		want := Counts{Connections: len(ts.conns), Streams: len(ts.streams)}
		for _, c := range ts.conns {
			if len(c.streams.ids) > 0 {
				want.Publishers++
			}
		}
		want.Viewers = want.Connections - want.Publishers
		for _, st := range ts.streams {
			switch st.videoType {
			case "camera":
				want.Camera++
			case "screen":
				want.Screen++
			case "custom":
				want.Custom++
			default:
				want.AudioOnly++
			}
		}
		for _, status := range ts.archives {
			want.Recording = want.Recording || status == "started" || status == "paused"
		}
		for _, status := range ts.broadcasts {
			want.Broadcasting = want.Broadcasting || status == "started"
		}
		got := v.Counts
		if mode != exact {
			// A stream known only from REST has no publisher yet.
			got.Publishers, got.Viewers, want.Publishers, want.Viewers = 0, 0, 0, 0
		}
		if mode == noArchives {
			got.Recording, got.Broadcasting, want.Recording, want.Broadcasting = false, false, false, false
		}
		if got != want {
			t.Fatalf("%s: %s: counts\n got %+v\nwant %+v", label, sid, got, want)
		}
		if mode != exact {
			continue
		}
		for _, c := range v.Connections {
			tc := ts.conns[c.ID]
			if c.Data != tc.data || c.CreatedAt != tc.createdAt || c.Streams != len(tc.streams.ids) {
				t.Fatalf("%s: %s: connection %+v, want data %q createdAt %d streams %d", label, sid, c, tc.data, tc.createdAt, len(tc.streams.ids))
			}
		}
		for _, st := range v.Streams {
			tst := ts.streams[st.ID]
			if st.ConnectionID != tst.conn || st.Unattributed || st.VideoType != tst.videoType || st.Name != tst.name || st.CreatedAt != tst.createdAt {
				t.Fatalf("%s: %s: stream %+v, want %+v", label, sid, st, *tst)
			}
		}
		if len(v.Archives) != len(ts.archives) {
			t.Fatalf("%s: %s: %d archives, want %d", label, sid, len(v.Archives), len(ts.archives))
		}
		for _, a := range v.Archives {
			if a.Status != ts.archives[a.ID] {
				t.Fatalf("%s: %s: archive %s is %s, want %s", label, sid, a.ID, a.Status, ts.archives[a.ID])
			}
		}
		for _, b := range v.Broadcasts {
			if b.Status != ts.broadcasts[b.ID] {
				t.Fatalf("%s: %s: broadcast %s is %s, want %s", label, sid, b.ID, b.Status, ts.broadcasts[b.ID])
			}
		}
	}
}

func applyAll(s *State, evs []Event) *State {
	for _, ev := range evs {
		s.Apply(ev)
	}
	return s
}

func shuffled(rng *rand.Rand, evs []Event) []Event {
	out := slices.Clone(evs)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

const propertySeeds = 300

// TestStateConvergesToTruth is the reducer's contract: whatever the order
// and however often each callback arrives, the state is the history's
// final live set; with some callbacks lost, a reconcile against the REST
// lists restores it.
func TestStateConvergesToTruth(t *testing.T) {
	seeds := uint64(propertySeeds)
	if testing.Short() {
		seeds = 30
	}
	for seed := range seeds {
		h := genHistory(t, seed, 150+int(seed%7)*60, 1+int(seed%4))
		rng := rand.New(rand.NewPCG(seed, 42))

		inOrder := applyAll(NewState(), h.events)
		checkTruth(t, fmt.Sprintf("seed %d in order", seed), inOrder, h, exact)
		want := inOrder.Sessions()

		perm := applyAll(NewState(), shuffled(rng, h.events))
		checkTruth(t, fmt.Sprintf("seed %d permuted", seed), perm, h, exact)
		if got := perm.Sessions(); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: permuted state differs from in-order state:\n%s", seed, diffSessions(got, want))
		}

		var dup []Event
		for _, ev := range h.events {
			for range 1 + rng.IntN(3) {
				dup = append(dup, ev)
			}
		}
		dupState := applyAll(NewState(), shuffled(rng, dup))
		checkTruth(t, fmt.Sprintf("seed %d duplicated", seed), dupState, h, exact)
		if got := dupState.Sessions(); !reflect.DeepEqual(got, want) {
			t.Fatalf("seed %d: duplicated state differs from in-order state:\n%s", seed, diffSessions(got, want))
		}

		// Lose 1% (at least one), deliver the rest in any order, reconcile.
		kept := shuffled(rng, h.events)
		drop := max(1, len(kept)/100)
		kept = kept[drop:]
		lossy := applyAll(NewState(), kept)
		now := h.last + 1
		for _, sid := range sessionIDs(h, lossy) {
			conns, streams := h.restView(sid)
			for _, ev := range Reconcile(lossy, sid, conns, streams, now) {
				if ev.Reason != ReasonReconciled || ev.Timestamp != now || len(ev.Raw) == 0 {
					t.Fatalf("seed %d: reconcile event %+v", seed, ev)
				}
				lossy.Apply(ev)
			}
			if again := Reconcile(lossy, sid, conns, streams, now+1); len(again) != 0 {
				t.Fatalf("seed %d: %s: a second reconcile still finds %d differences: %+v", seed, sid, len(again), again[0])
			}
		}
		checkTruth(t, fmt.Sprintf("seed %d dropped %d, reconciled", seed, drop), lossy, h, noArchives)
	}
}

// TestStateMarshalMidHistory proves that persistence keeps everything
// Apply needs, tombstones included: a state saved and restored part way,
// then given the rest, ends exactly as one that never stopped.
func TestStateMarshalMidHistory(t *testing.T) {
	for seed := range uint64(100) {
		h := genHistory(t, seed, 400, 1+int(seed%3))
		rng := rand.New(rand.NewPCG(seed, 7))
		evs := h.events
		if seed%2 == 1 {
			evs = shuffled(rng, evs)
		}
		direct := applyAll(NewState(), evs)

		cut := rng.IntN(len(evs) + 1)
		first := applyAll(NewState(), evs[:cut])
		saved, err := json.Marshal(first)
		if err != nil {
			t.Fatal(err)
		}
		restored := NewState()
		if err := json.Unmarshal(saved, restored); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if !reflect.DeepEqual(restored.Sessions(), first.Sessions()) {
			t.Fatalf("seed %d: restored state differs:\n%s", seed, diffSessions(restored.Sessions(), first.Sessions()))
		}
		// The restored state re-applies what it has seen as duplicates.
		for _, ev := range evs[:cut] {
			if restored.Apply(ev) {
				t.Fatalf("seed %d: a restored state changed on a duplicate %s", seed, ev.Raw)
			}
		}
		applyAll(restored, evs[cut:])
		if !reflect.DeepEqual(restored.Sessions(), direct.Sessions()) {
			t.Fatalf("seed %d: cut at %d: final state differs:\n%s", seed, cut, diffSessions(restored.Sessions(), direct.Sessions()))
		}
		a, _ := json.Marshal(restored)
		b, _ := json.Marshal(direct)
		if string(a) != string(b) {
			t.Fatalf("seed %d: persisted forms differ after the same history:\n%s", seed, diffLines(string(a), string(b)))
		}
		checkTruth(t, fmt.Sprintf("seed %d restored", seed), restored, h, exact)
	}
}

// TestApplyReportsVisibleChange checks Apply's result against the views:
// true exactly when some Session view changed.
func TestApplyReportsVisibleChange(t *testing.T) {
	for seed := range uint64(20) {
		h := genHistory(t, seed, 120, 2)
		rng := rand.New(rand.NewPCG(seed, 9))
		var evs []Event
		for _, ev := range h.events {
			evs = append(evs, ev, ev)
		}
		s := NewState()
		before := s.Sessions()
		for _, ev := range shuffled(rng, evs) {
			changed := s.Apply(ev)
			after := s.Sessions()
			if visible := !reflect.DeepEqual(before, after); changed != visible {
				t.Fatalf("seed %d: Apply(%s) = %v, but the views changed: %v\n%s", seed, ev.Raw, changed, visible, diffSessions(after, before))
			}
			before = after
		}
	}
}

func diffSessions(got, want []Session) string {
	g, _ := json.MarshalIndent(got, "", " ")
	w, _ := json.MarshalIndent(want, "", " ")
	return diffLines(string(g), string(w))
}

func diffLines(g, w string) string {
	g, w = strings.ReplaceAll(g, "},{", "},\n{"), strings.ReplaceAll(w, "},{", "},\n{")
	gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
	for i := range min(len(gl), len(wl)) {
		if gl[i] != wl[i] {
			lo := max(0, i-6)
			return fmt.Sprintf("first difference at line %d:\n got: %s\nwant: %s", i, strings.Join(gl[lo:min(len(gl), i+3)], "\n"), strings.Join(wl[lo:min(len(wl), i+3)], "\n"))
		}
	}
	return fmt.Sprintf("lengths %d and %d lines", len(gl), len(wl))
}

// ---- The contract, clause by clause ----

const sid = "2_MX4xMjM0NTZ-contract"

func connEv(kind Kind, id string, ts int64, reason string) Event {
	return Event{Kind: kind, SessionID: sid, ProjectID: project, Timestamp: ts, Reason: reason,
		Connection: &Connection{ID: id, CreatedAt: ts, Data: "data-" + id}}
}

func streamEv(kind Kind, id, conn, videoType string, ts int64, reason string) Event {
	return Event{Kind: kind, SessionID: sid, ProjectID: project, Timestamp: ts, Reason: reason,
		Stream: &Stream{ID: id, Connection: Connection{ID: conn, CreatedAt: 1}, CreatedAt: ts, VideoType: videoType}}
}

func archiveEv(id, status string, updated int64) Event {
	return Event{Kind: ArchiveStatus, SessionID: sid, Timestamp: updated,
		Archive: &Archive{ID: id, Status: status, SessionID: sid, CreatedAt: 1000, UpdatedAt: updated}}
}

func mustSession(t *testing.T, s *State) Session {
	t.Helper()
	v, ok := s.Session(sid)
	if !ok {
		t.Fatalf("session %s unknown", sid)
	}
	return v
}

func TestContractDuplicatesAreNoOps(t *testing.T) {
	s := NewState()
	for _, ev := range []Event{connEv(ConnectionCreated, "c1", 10, ""), streamEv(StreamCreated, "s1", "c1", "camera", 11, ""),
		archiveEv("a1", "started", 12), streamEv(StreamDestroyed, "s1", "c1", "camera", 13, ReasonForceUnpublished)} {
		if !s.Apply(ev) {
			t.Fatalf("first %s reported no change", ev.Kind)
		}
		if s.Apply(ev) {
			t.Fatalf("duplicate %s reported a change", ev.Kind)
		}
	}
}

func TestContractStreamCreatesItsConnection(t *testing.T) {
	s := NewState()
	s.Apply(streamEv(StreamCreated, "s1", "c1", "screen", 20, ""))
	v := mustSession(t, s)
	if len(v.Connections) != 1 || v.Connections[0].ID != "c1" || v.Connections[0].Streams != 1 || v.Streams[0].ConnectionID != "c1" {
		t.Fatalf("view %+v", v)
	}
	if c := v.Counts; c.Publishers != 1 || c.Viewers != 0 || c.Screen != 1 {
		t.Fatalf("counts %+v", c)
	}
	// The connection's own callback, arriving later, fills in its data.
	s.Apply(connEv(ConnectionCreated, "c1", 5, ""))
	if v := mustSession(t, s); v.Connections[0].Data != "data-c1" || v.Connections[0].CreatedAt != 5 {
		t.Fatalf("connection %+v", v.Connections[0])
	}
}

func TestContractDestroyedConnectionTakesItsStreams(t *testing.T) {
	s := NewState()
	s.Apply(connEv(ConnectionCreated, "c1", 10, ""))
	s.Apply(connEv(ConnectionCreated, "c2", 10, ""))
	s.Apply(streamEv(StreamCreated, "s1", "c1", "camera", 11, ""))
	s.Apply(streamEv(StreamCreated, "s2", "c1", "screen", 12, ""))
	s.Apply(streamEv(StreamCreated, "s3", "c1", "", 12, ""))
	if c := s.Counts(sid); c != (Counts{Connections: 2, Publishers: 1, Viewers: 1, Streams: 3, Camera: 1, Screen: 1, AudioOnly: 1}) {
		t.Fatalf("counts %+v", c)
	}
	s.Apply(connEv(ConnectionDestroyed, "c1", 20, ReasonForceDisconnected))
	if c := s.Counts(sid); c != (Counts{Connections: 1, Viewers: 1}) {
		t.Fatalf("counts %+v", c)
	}
	if v := mustSession(t, s); len(v.Streams) != 0 || !v.Live {
		t.Fatalf("view %+v", v)
	}
	// Late stream events about the dead change nothing.
	for _, ev := range []Event{streamEv(StreamCreated, "s1", "c1", "camera", 11, ""), streamEv(StreamCreated, "s4", "c1", "camera", 19, ""),
		streamEv(StreamDestroyed, "s2", "c1", "screen", 20, ReasonForceDisconnected)} {
		if s.Apply(ev) {
			t.Fatalf("%s of %s changed the state", ev.Kind, ev.Stream.ID)
		}
	}
}

func TestContractTombstonesDoNotResurrect(t *testing.T) {
	s := NewState()
	s.Apply(connEv(ConnectionDestroyed, "c1", 30, ReasonNetworkDisconnected))
	s.Apply(streamEv(StreamDestroyed, "s9", "c2", "camera", 30, ReasonClientDisconnected))
	for _, ev := range []Event{connEv(ConnectionCreated, "c1", 10, ""), streamEv(StreamCreated, "s1", "c1", "camera", 15, ""),
		connEv(ConnectionCreated, "c1", 40, ""), streamEv(StreamCreated, "s9", "c2", "camera", 10, "")} {
		s.Apply(ev)
	}
	v := mustSession(t, s)
	// c2 was named by a streamCreated and never destroyed: it is live, s9 not.
	if len(v.Connections) != 1 || v.Connections[0].ID != "c2" || len(v.Streams) != 0 {
		t.Fatalf("view %+v", v)
	}
}

func TestContractSessionsLiveAgain(t *testing.T) {
	s := NewState()
	s.Apply(Event{Kind: SessionCreated, SessionID: sid, Timestamp: 1})
	s.Apply(connEv(ConnectionCreated, "c1", 2, ""))
	s.Apply(connEv(ConnectionDestroyed, "c1", 3, ReasonClientDisconnected))
	s.Apply(Event{Kind: SessionDestroyed, SessionID: sid, Timestamp: 4})
	if mustSession(t, s).Live {
		t.Fatal("empty session is live")
	}
	// The same session ID comes back; its sessionCreated is late, and the
	// first sessionDestroyed arrives again after it.
	s.Apply(connEv(ConnectionCreated, "c2", 10, ""))
	s.Apply(Event{Kind: SessionCreated, SessionID: sid, Timestamp: 9})
	s.Apply(Event{Kind: SessionDestroyed, SessionID: sid, Timestamp: 4})
	if v := mustSession(t, s); !v.Live || v.LastEventAt != 10 || len(v.Connections) != 1 {
		t.Fatalf("view %+v", v)
	}
}

func TestContractArchiveLifecycle(t *testing.T) {
	cases := []struct {
		name   string
		events []Event
		want   string
		rec    bool
	}{
		{"late started after stopped", []Event{archiveEv("a", "started", 10), archiveEv("a", "stopped", 20), archiveEv("a", "started", 10)}, "stopped", false},
		{"started with the stop's timestamp", []Event{archiveEv("a", "stopped", 20), archiveEv("a", "started", 20)}, "stopped", false},
		{"resume after pause", []Event{archiveEv("a", "started", 10), archiveEv("a", "paused", 20), archiveEv("a", "started", 30)}, "started", true},
		{"resume before its pause arrives", []Event{archiveEv("a", "started", 30), archiveEv("a", "paused", 20), archiveEv("a", "started", 10)}, "started", true},
		{"paused records", []Event{archiveEv("a", "paused", 20)}, "paused", true},
		{"uploaded before stopped", []Event{archiveEv("a", "uploaded", 30), archiveEv("a", "stopped", 30)}, "uploaded", false},
		{"failed", []Event{archiveEv("a", "started", 10), archiveEv("a", "failed", 10)}, "failed", false},
		{"available then deleted", []Event{archiveEv("a", "deleted", 50), archiveEv("a", "available", 40)}, "deleted", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := applyAll(NewState(), tc.events)
			v := mustSession(t, s)
			if len(v.Archives) != 1 || v.Archives[0].Status != tc.want || v.Counts.Recording != tc.rec {
				t.Fatalf("archives %+v, counts %+v", v.Archives, v.Counts)
			}
		})
	}
	s := NewState()
	s.Apply(Event{Kind: BroadcastStatus, SessionID: sid, Timestamp: 5, Broadcast: &Broadcast{ID: "b", Status: "started", SessionID: sid}})
	if !s.Counts(sid).Broadcasting {
		t.Fatal("started broadcast not counted")
	}
	s.Apply(Event{Kind: BroadcastStatus, SessionID: sid, Timestamp: 6, Broadcast: &Broadcast{ID: "b", Status: "stopped", SessionID: sid}})
	if s.Counts(sid).Broadcasting {
		t.Fatal("stopped broadcast still counted")
	}
}

func TestContractIgnoresWhatItDoesNotModel(t *testing.T) {
	s := NewState()
	bodies := []struct {
		group Group
		body  string
	}{
		{GroupSIP, `{"sessionId":"x","projectId":"1","event":"callCreated","timestamp":1,"call":{"id":"k","connectionId":"c","createdAt":1}}`},
		{GroupSIP, `{"sessionId":"x","projectId":"1","event":"callDestroyed","timestamp":2,"reason_code":"700","call":{"id":"k","connectionId":"c","createdAt":1}}`},
		{GroupSIP, `{"sessionId":"x","projectId":"1","event":"muteForced","timestamp":2,"call":{"id":"k","connectionId":"c","createdAt":1}}`},
		{GroupRender, `{"id":"r","sessionId":"x","streamId":"s","status":"started"}`},
		{GroupCaptions, `{"captionId":"cap","sessionId":"x","status":"failed","reason":"quota"}`},
		{GroupSession, `{"sessionId":"x","event":"somethingNew","timestamp":3}`},
	}
	for _, b := range bodies {
		ev, err := Decode(b.group, []byte(b.body))
		if err != nil {
			t.Fatal(err)
		}
		if s.Apply(ev) {
			t.Fatalf("%s changed the state", ev.Kind)
		}
	}
	// Events built by hand without their objects are ignored, not a panic.
	for _, k := range []Kind{ConnectionCreated, ConnectionDestroyed, StreamCreated, StreamDestroyed, ArchiveStatus, BroadcastStatus, SessionCreated} {
		if s.Apply(Event{Kind: k}) {
			t.Fatalf("empty %s changed the state", k)
		}
	}
	if s.Len() != 0 {
		t.Fatalf("%d sessions", s.Len())
	}
}

func TestReconciledDestroyIsOrdinary(t *testing.T) {
	s := NewState()
	s.Apply(connEv(ConnectionCreated, "c1", 1, ""))
	s.Apply(streamEv(StreamCreated, "s1", "c1", "camera", 2, ""))
	if !s.Apply(connEv(ConnectionDestroyed, "c1", 3, ReasonReconciled)) {
		t.Fatal("reconciled destroy changed nothing")
	}
	if c := s.Counts(sid); c != (Counts{}) {
		t.Fatalf("counts %+v", c)
	}
	if s.Apply(connEv(ConnectionCreated, "c1", 1, "")) {
		t.Fatal("a late create revived a reconciled connection")
	}
}

func TestPrune(t *testing.T) {
	s := NewState()
	s.Apply(connEv(ConnectionCreated, "c1", 10, ""))
	s.Apply(connEv(ConnectionCreated, "c2", 10, ""))
	s.Apply(streamEv(StreamCreated, "s1", "c1", "camera", 11, ""))
	s.Apply(connEv(ConnectionDestroyed, "c1", 20, ReasonClientDisconnected)) // tombstones c1 and s1 at 20
	s.Apply(Event{Kind: ConnectionDestroyed, SessionID: "ended", Timestamp: 15, Connection: &Connection{ID: "x"}})
	s.Apply(Event{Kind: SessionCreated, SessionID: "recent", Timestamp: 100})

	if n := s.Prune(20); n != 1 { // only the ended session's last event is before 20
		t.Fatalf("Prune(20) = %d", n)
	}
	if _, ok := s.Session("ended"); ok {
		t.Fatal("ended session kept")
	}
	if n := s.Prune(21); n != 2 { // c1 and s1
		t.Fatalf("Prune(21) = %d", n)
	}
	if v := mustSession(t, s); len(v.Connections) != 1 || v.Counts.Connections != 1 {
		t.Fatalf("live connection pruned: %+v", v)
	}
	if err := s.checkLiveIndex(); err != nil {
		t.Fatalf("after Prune: %v", err)
	}
	for _, v := range s.Snapshot() {
		if len(v.EndedConnections)+len(v.EndedStreams) != 0 {
			t.Fatalf("pruned tombstones still in the snapshot: %+v", v)
		}
	}
	if _, ok := s.Session("recent"); !ok {
		t.Fatal("recent session pruned")
	}
	if n := s.Prune(1 << 62); n != 1 { // "recent"; the live session stays
		t.Fatalf("Prune(max) = %d", n)
	}
	if s.Len() != 1 {
		t.Fatalf("%d sessions left", s.Len())
	}
}

func TestViewJSON(t *testing.T) {
	s := NewState()
	s.Apply(connEv(ConnectionCreated, "c1", 10, ""))
	s.Apply(streamEv(StreamCreated, "s1", "c1", "", 11, ""))
	s.Apply(archiveEv("a1", "started", 12))
	raw, err := json.Marshal(s.Sessions())
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"id":`, `"project_id":"123456"`, `"live":true`, `"last_event_at":12`, `"connections":[`, `"created_at":10`,
		`"connection_id":"c1"`, `"archives":[`, `"status":"started"`, `"counts":{`, `"audio_only":1`, `"publishers":1`, `"recording":true`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("view JSON lacks %s: %s", key, raw)
		}
	}
	var back []Session
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back, s.Sessions()) {
		t.Fatalf("view does not round-trip: %v", err)
	}
	// An empty session lists [] rather than null, for the console's sake.
	s.Apply(Event{Kind: SessionCreated, SessionID: "empty", Timestamp: 1})
	v, _ := s.Session("empty")
	raw, _ = json.Marshal(v)
	if !strings.Contains(string(raw), `"connections":[]`) || !strings.Contains(string(raw), `"streams":[]`) {
		t.Fatalf("empty session JSON: %s", raw)
	}
}

func TestUnmarshalRefusesDamage(t *testing.T) {
	for name, doc := range map[string]string{
		"not JSON":         `{`,
		"other version":    `{"version":99,"sessions":[]}`,
		"version 1":        `{"version":1,"sessions":[]}`,
		"orphan stream":    `{"version":2,"sessions":[{"id":"s","last_event_at":1,"streams":[{"id":"x","connection_id":"nope"}]}]}`,
		"stream of a dead": `{"version":2,"sessions":[{"id":"s","last_event_at":1,"ended_connections":[{"id":"c","died_at":1}],"streams":[{"id":"x","connection_id":"c"}]}]}`,
		"live and ended":   `{"version":2,"sessions":[{"id":"s","connections":[{"id":"c"}],"ended_connections":[{"id":"c","died_at":1}]}]}`,
		"stream twice":     `{"version":2,"sessions":[{"id":"s","streams":[{"id":"x"}],"ended_streams":[{"id":"x","died_at":1}]}]}`,
		"unknown source":   `{"version":2,"sessions":[{"id":"s","connections":[{"id":"c","reported_by":"rumour"}]}]}`,
		"session twice":    `{"version":2,"sessions":[{"id":"s"},{"id":"s","connections":[{"id":"c"}]}]}`,
		"no session id":    `{"version":2,"sessions":[{"id":""}]}`,
	} {
		s := NewState()
		s.Apply(connEv(ConnectionCreated, "c1", 1, ""))
		if err := json.Unmarshal([]byte(doc), s); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if s.Len() != 1 {
			t.Errorf("%s: a refused document changed the state", name)
		}
	}
}

// TestApplyAuditMutes: the service reports no audio changes, so what a
// console shows as muted comes from successful mute audits — and must
// survive the relay's snapshot file.
func TestApplyAuditMutes(t *testing.T) {
	s := NewState()
	sid := mustSession(t, applyAll(s, []Event{connEv(ConnectionCreated, "c1", 10, ""),
		streamEv(StreamCreated, "s1", "c1", "camera", 11, ""), streamEv(StreamCreated, "s2", "c1", "screen", 12, "")})).ID
	muted := func(st *State) map[string]bool {
		v, _ := st.Session(sid)
		out := map[string]bool{}
		for _, x := range v.Streams {
			out[x.ID] = x.Muted
		}
		return out
	}
	if s.ApplyAudit(Audit{Action: ActionMute, Session: sid, Target: "s1", OK: false, Error: "404"}) {
		t.Fatal("a failed mute changed the state")
	}
	if !s.ApplyAudit(Audit{Action: ActionMute, Session: sid, Target: "s1", OK: true}) {
		t.Fatal("a mute reported no change")
	}
	if s.ApplyAudit(Audit{Action: ActionMute, Session: sid, Target: "s1", OK: true}) {
		t.Fatal("muting a muted stream reported a change")
	}
	if got := muted(s); !got["s1"] || got["s2"] {
		t.Fatalf("after mute s1: %v", got)
	}
	// Mute-all spares the excepted stream and mutes later ones…
	s.ApplyAudit(Audit{Action: ActionMuteAll, Session: sid, Target: sid, OK: true, Except: []string{"s2"}})
	s.Apply(streamEv(StreamCreated, "s3", "c1", "camera", 13, ""))
	s.Apply(streamEv(StreamCreated, "s2x", "c1", "camera", 14, ""))
	if got := muted(s); !got["s1"] || got["s2"] || !got["s3"] || !got["s2x"] {
		t.Fatalf("under mute-all except s2: %v", got)
	}
	// …until it is turned off, which unmutes nothing.
	if !s.ApplyAudit(Audit{Action: ActionMuteAllOff, Session: sid, Target: sid, OK: true}) {
		t.Fatal("mute_all_off reported no change")
	}
	s.Apply(streamEv(StreamCreated, "s4", "c1", "camera", 15, ""))
	want := map[string]bool{"s1": true, "s2": false, "s3": true, "s2x": true, "s4": false}
	if got := muted(s); !maps.Equal(got, want) {
		t.Fatalf("after mute_all_off: %v, want %v", got, want)
	}
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	r := NewState()
	if err := json.Unmarshal(data, r); err != nil {
		t.Fatal(err)
	}
	if got := muted(r); !maps.Equal(got, want) {
		t.Fatalf("restored: %v, want %v", got, want)
	}
}

// A streamCreated callback can arrive after the mute-all that muted its
// stream has ended (callbacks lag the REST calls): the stream's creation
// time decides, so the late arrival shows what the service did.
func TestMuteAllJudgesLateCallbacksByCreationTime(t *testing.T) {
	s := NewState()
	s.Apply(connEv(ConnectionCreated, "c1", 10, ""))
	id := mustSession(t, s).ID
	s.ApplyAudit(Audit{Action: ActionMuteAll, Session: id, OK: true, At: time.UnixMilli(100), Except: []string{"spared"}})
	s.ApplyAudit(Audit{Action: ActionMuteAllOff, Session: id, OK: true, At: time.UnixMilli(200)})
	want := map[string]bool{
		"before": true, // live when the mute-all came
		"during": true, // published under it
		"spared": false,
		"after":  false,
	}
	created := map[string]int64{"before": 50, "during": 150, "spared": 150, "after": 250}
	for sid, c := range created {
		ev := streamEv(StreamCreated, sid, "c1", "camera", 300, "")
		ev.Stream.CreatedAt = c
		s.Apply(ev)
	}
	got := map[string]bool{}
	for _, x := range mustSession(t, s).Streams {
		got[x.ID] = x.Muted
	}
	if !maps.Equal(got, want) {
		t.Fatalf("muted %v, want %v", got, want)
	}
	if v := mustSession(t, s); v.MuteAll || len(v.MuteWindows) != 1 || !reflect.DeepEqual(v.MuteWindows[0], MuteWindow{From: 100, To: 200, Except: []string{"spared"}}) {
		t.Fatalf("view %+v", v)
	}
}

// checkLiveIndex checks the live index views are built from: exactly the
// live connections and streams, each at the index it records.
func (s *State) checkLiveIndex() error {
	for id, x := range s.sessions {
		live := 0
		for _, c := range x.conns {
			if !c.dead {
				live++
				if c.liveIx >= len(x.liveConns) || x.liveConns[c.liveIx] != c {
					return fmt.Errorf("session %s: live connection %s not at its index %d", id, c.id, c.liveIx)
				}
			}
		}
		if live != len(x.liveConns) || int32(live) != x.n.conns {
			return fmt.Errorf("session %s: %d live connections, index %d, count %d", id, live, len(x.liveConns), x.n.conns)
		}
		live = 0
		for _, st := range x.streams {
			if !st.dead {
				live++
				if st.liveIx >= len(x.liveStreams) || x.liveStreams[st.liveIx] != st {
					return fmt.Errorf("session %s: live stream %s not at its index %d", id, st.id, st.liveIx)
				}
			}
		}
		if live != len(x.liveStreams) || int32(live) != x.n.streams {
			return fmt.Errorf("session %s: %d live streams, index %d, count %d", id, live, len(x.liveStreams), x.n.streams)
		}
		// The tombstone index: every dead one, once, and only those.
		if err := sameDead(x.conns, x.deadConns, func(c *conn) (string, bool) { return c.id, c.dead }); err != nil {
			return fmt.Errorf("session %s: connections: %w", id, err)
		}
		if err := sameDead(x.streams, x.deadStreams, func(st *stream) (string, bool) { return st.id, st.dead }); err != nil {
			return fmt.Errorf("session %s: streams: %w", id, err)
		}
	}
	return nil
}

// sameDead checks that index lists exactly the dead ones of all, once each.
func sameDead[T comparable](all map[string]T, index []T, idOf func(T) (string, bool)) error {
	seen := map[string]bool{}
	for _, x := range index {
		id, dead := idOf(x)
		if !dead || seen[id] || all[id] != x {
			return fmt.Errorf("tombstone index holds %s (dead %v, twice %v, in the map %v)", id, dead, seen[id], all[id] == x)
		}
		seen[id] = true
	}
	for id, x := range all {
		if _, dead := idOf(x); dead && !seen[id] {
			return fmt.Errorf("tombstone %s missing from the index", id)
		}
	}
	return nil
}
