package events

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// op is one record of a relay's log as the reducer sees it: a callback
// (or reconcile) event, or an audit entry.
type op struct {
	ev    *Event
	audit *Audit
}

func (o op) apply(s *State) bool {
	if o.audit != nil {
		return s.ApplyAudit(*o.audit)
	}
	return s.Apply(*o.ev)
}

func (o op) String() string {
	if o.audit != nil {
		return fmt.Sprintf("audit %s %s %s", o.audit.Action, o.audit.Session, o.audit.Target)
	}
	return fmt.Sprintf("%s %s", o.ev.Kind, o.ev.Raw)
}

// logOps is a log as a relay may receive it: a history's callbacks
// shuffled and some repeated (so creates of the dead arrive late), with
// reconcile events and moderators' mutes in between, each computed from
// the state of the log so far as the relay would.
func logOps(t *testing.T, seed uint64) []op {
	h := genHistory(t, seed, 120+int(seed%5)*40, 1+int(seed%3))
	rng := rand.New(rand.NewPCG(seed, 1234))
	var evs []Event
	for _, ev := range h.events {
		evs = append(evs, ev)
		if rng.IntN(5) == 0 {
			evs = append(evs, ev)
		}
	}
	evs = shuffled(rng, evs)
	relay := NewState()
	var ops []op
	add := func(o op) {
		o.apply(relay)
		ops = append(ops, o)
	}
	now := h.last + 1
	for _, ev := range evs {
		add(op{ev: &ev})
		v := relay.Sessions()
		if len(v) == 0 {
			continue
		}
		x := v[rng.IntN(len(v))]
		at := time.UnixMilli(ev.Timestamp)
		switch r := rng.IntN(100); {
		case r < 2:
			conns, streams := h.restView(x.ID)
			now++
			for _, rev := range Reconcile(relay, x.ID, conns, streams, now) {
				add(op{ev: &rev})
			}
		case r < 5 && len(x.Streams) > 0:
			add(op{audit: &Audit{At: at, Action: ActionMute, Session: x.ID, Target: x.Streams[rng.IntN(len(x.Streams))].ID, OK: true}})
		case r < 6:
			var except []string
			if len(x.Streams) > 0 {
				except = []string{x.Streams[0].ID}
			}
			add(op{audit: &Audit{At: at, Action: ActionMuteAll, Session: x.ID, OK: true, Except: except}})
		case r < 7:
			add(op{audit: &Audit{At: at, Action: ActionMuteAllOff, Session: x.ID, OK: true}})
		}
	}
	return ops
}

// TestSnapshotRestoresTheRelayState is the promise of one session state:
// a console restored from the relay's snapshot frames, and a relay from
// its state file, hold exactly the relay's state, and stay equal to it as
// the rest of the log is applied to both — late creates of the dead,
// duplicates, reconciles and mutes included — with Apply reporting the
// same changes. Equality is of every field of the reducer's own structs
// (dumpState), so a field the snapshot fails to carry is found the
// moment it matters.
func TestSnapshotRestoresTheRelayState(t *testing.T) {
	seeds := uint64(40)
	if testing.Short() {
		seeds = 20
	}
	for seed := range seeds {
		ops := logOps(t, seed)
		rng := rand.New(rand.NewPCG(seed, 99))
		for range 2 {
			cut := rng.IntN(len(ops) + 1)
			relay := NewState()
			for _, o := range ops[:cut] {
				o.apply(relay)
			}
			console := restoreOverTheWire(t, relay)
			persisted := NewState()
			data, err := json.Marshal(relay)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(data, persisted); err != nil {
				t.Fatalf("seed %d: the state file does not load: %v", seed, err)
			}
			want := dumpState(relay)
			for name, s := range map[string]*State{"console": console, "persisted": persisted} {
				if got := dumpState(s); got != want {
					t.Fatalf("seed %d, cut %d: %s restored differs from the relay:\n%s", seed, cut, name, diffLines(got, want))
				}
			}
			for i, o := range ops[cut:] {
				changed := o.apply(relay)
				want := dumpState(relay)
				for name, s := range map[string]*State{"console": console, "persisted": persisted} {
					if got := o.apply(s); got != changed {
						t.Fatalf("seed %d, cut %d, op %d (%s): %s's Apply reported %v, the relay's %v", seed, cut, cut+i, o, name, got, changed)
					}
					if got := dumpState(s); got != want {
						t.Fatalf("seed %d, cut %d, op %d (%s): %s differs from the relay:\n%s", seed, cut, cut+i, o, name, diffLines(got, want))
					}
				}
			}
		}
	}
}

// restoreOverTheWire sends s's snapshot as a relay does, as JSON snapshot
// frames of a few entries each, a session's tombstones cut into entries of
// three (SplitEnded), and restores a state from the frames as a console
// does.
func restoreOverTheWire(t *testing.T, s *State) *State {
	t.Helper()
	var entries, got []Session
	for _, v := range s.Snapshot() {
		entries = append(entries, SplitEnded(v, 3)...)
	}
	for part := range slices.Chunk(entries, 2) {
		data, err := json.Marshal(SnapshotFrame{Type: FrameSnapshot, Sessions: part})
		if err != nil {
			t.Fatal(err)
		}
		var f SnapshotFrame
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		got = append(got, f.Sessions...)
	}
	r, err := RestoreState(got)
	if err != nil {
		t.Fatalf("a snapshot does not restore: %v", err)
	}
	return r
}

// dumpState writes every field of the reducer's structs, reached by
// reflection so that a field added to them is compared without anyone
// remembering to: pointers between connections and streams are written
// as the IDs they point at, a connection's stream list and the live
// indexes as sorted ID sets (their order is arrival order, which a
// restored state need not share), and a map in key order.
func dumpState(s *State) string {
	var b strings.Builder
	ids := make([]string, 0, len(s.sessions))
	for id := range s.sessions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "session %s\n", id)
		dumpValue(&b, reflect.ValueOf(s.sessions[id]).Elem(), "  ")
	}
	return b.String()
}

var (
	connType   = reflect.TypeFor[conn]()
	streamType = reflect.TypeFor[stream]()
)

func dumpValue(b *strings.Builder, v reflect.Value, indent string) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			switch f.Name {
			case "liveIx", "prev", "next":
				continue // positions in lists that are compared as sets
			case "first":
				var streams []string
				for st := v.Field(i); !st.IsNil(); st = st.Elem().FieldByName("next") {
					streams = append(streams, st.Elem().FieldByName("id").String())
				}
				slices.Sort(streams)
				fmt.Fprintf(b, "%sstreams %v\n", indent, streams)
				continue
			}
			fmt.Fprintf(b, "%s%s:", indent, f.Name)
			dumpValue(b, v.Field(i), indent+"  ")
		}
	case reflect.Pointer:
		switch {
		case v.IsNil():
			b.WriteString(" nil\n")
		case v.Type().Elem() == connType || v.Type().Elem() == streamType:
			fmt.Fprintf(b, " -> %s\n", v.Elem().FieldByName("id").String())
		default:
			b.WriteString("\n")
			dumpValue(b, v.Elem(), indent)
		}
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, c reflect.Value) int { return strings.Compare(a.String(), c.String()) })
		b.WriteString("\n")
		for _, k := range keys {
			fmt.Fprintf(b, "%s[%s]", indent, k.String())
			e := v.MapIndex(k)
			if e.Kind() == reflect.Pointer && !e.IsNil() {
				b.WriteString("\n")
				dumpValue(b, e.Elem(), indent+"  ")
				continue
			}
			dumpValue(b, e, indent+"  ")
		}
	case reflect.Slice:
		if v.Len() > 0 && v.Index(0).Kind() == reflect.Pointer {
			ids := make([]string, v.Len())
			for i := range v.Len() {
				ids[i] = v.Index(i).Elem().FieldByName("id").String()
			}
			slices.Sort(ids)
			fmt.Fprintf(b, " %v\n", ids)
			return
		}
		b.WriteString("\n")
		for i := range v.Len() {
			fmt.Fprintf(b, "%s-", indent)
			dumpValue(b, v.Index(i), indent+"  ")
		}
	case reflect.String:
		fmt.Fprintf(b, " %q\n", v.String())
	case reflect.Int, reflect.Int8, reflect.Int32, reflect.Int64:
		fmt.Fprintf(b, " %d\n", v.Int())
	case reflect.Bool:
		fmt.Fprintf(b, " %v\n", v.Bool())
	default:
		panic(fmt.Sprintf("dumpState: a field of kind %s: teach dumpValue how to compare it", v.Kind()))
	}
}

// TestDumpStateSeesEveryField guards the comparison itself: changing any
// one field of a connection or stream changes the dump.
func TestDumpStateSeesEveryField(t *testing.T) {
	s := NewState()
	applyAll(s, []Event{connEv(ConnectionCreated, "c1", 10, ""), streamEv(StreamCreated, "s1", "c1", "camera", 11, "")})
	base := dumpState(s)
	for _, x := range s.sessions {
		for _, typ := range []reflect.Value{reflect.ValueOf(x.conns["c1"]).Elem(), reflect.ValueOf(x.streams["s1"]).Elem()} {
			for i := range typ.NumField() {
				f := typ.Type().Field(i)
				if f.Name == "liveIx" || f.Name == "prev" || f.Name == "next" || f.Name == "first" || f.Name == "conn" {
					continue
				}
				field := reflect.NewAt(f.Type, typ.Field(i).Addr().UnsafePointer()).Elem()
				old := reflect.New(f.Type).Elem()
				old.Set(field)
				switch field.Kind() {
				case reflect.String:
					field.SetString(field.String() + "x")
				case reflect.Bool:
					field.SetBool(!field.Bool())
				default:
					field.SetInt(field.Int() + 1)
				}
				if dumpState(s) == base {
					t.Errorf("changing %s.%s does not change the dump", typ.Type().Name(), f.Name)
				}
				field.Set(old)
			}
		}
	}
}
