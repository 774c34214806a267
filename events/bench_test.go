package events

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkApply measures the reducer's throughput over a generated mixed
// history (joins, leaves in every way, streams of every type, screen
// shares ending, archives, broadcasts, SIP and other callbacks it ignores)
// across 20 sessions. The goal is at least a million events a second: the
// relay applies every callback, and a restart replays the log's tail.
func BenchmarkApply(b *testing.B) {
	h := genHistory(b, 1, 100_000, 20)
	rng := rand.New(rand.NewPCG(1, 2))
	var dup []Event
	for _, ev := range h.events {
		for range 1 + rng.IntN(3) {
			dup = append(dup, ev)
		}
	}
	for _, bc := range []struct {
		name   string
		events []Event
	}{
		{"in-order", h.events},
		{"shuffled-duplicated", shuffled(rng, dup)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				s := NewState()
				for _, ev := range bc.events {
					s.Apply(ev)
				}
				n += len(bc.events)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
		})
	}
}

// BenchmarkMemoryPerConnection measures what a live connection costs the
// state: 10,000 connections in one session, each with ~60 bytes of
// connection data, built from fresh strings as decoded callbacks are, so
// the strings the state keeps are counted. It also reports what each one
// costs once destroyed (its tombstone, kept until Prune), which sizes the
// retention horizon.
func BenchmarkMemoryPerConnection(b *testing.B) {
	const n = 10_000
	const session = "2_MX40NjAwMDAwMH5-MTcwMDAwMDAwMDAwMH5bench"
	var perConn, perTomb float64
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	for b.Loop() {
		before := heap()
		s := NewState()
		for i := range n {
			s.Apply(Event{Kind: ConnectionCreated, SessionID: session, ProjectID: "46000000", Timestamp: 1_700_000_000_000 + int64(i),
				Connection: &Connection{ID: fmt.Sprintf("%08x-c681-41d5-8ec2-%012x", i, i*7919), CreatedAt: 1_700_000_000_000 + int64(i),
					Data: fmt.Sprintf(`{"name":"Participant %05d","role":"viewer","org":"acme-co"}`, i)}})
		}
		live := heap()
		if got := s.Counts(session).Connections; got != n {
			b.Fatalf("%d connections", got)
		}
		perConn = float64(live-before) / n
		for _, c := range s.sessions[session].conns {
			s.Apply(Event{Kind: ConnectionDestroyed, SessionID: session, Timestamp: 1_800_000_000_000, Reason: ReasonClientDisconnected,
				Connection: &Connection{ID: c.id}})
		}
		perTomb = float64(heap()-before) / n
		runtime.KeepAlive(s)
	}
	b.ReportMetric(perConn, "bytes/connection")
	b.ReportMetric(perTomb, "bytes/tombstone")
}

// BenchmarkSnapshotTownHall measures what a console's snapshot costs the
// relay, which takes it under the lock every callback waits for: a town
// hall that 150,000 people have passed through, 15,000 still there,
// against the live view a console renders (Sessions).
func BenchmarkSnapshotTownHall(b *testing.B) {
	st := NewState()
	const people = 150_000
	for i := range people {
		id := fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		st.Apply(Event{Kind: ConnectionCreated, SessionID: "2_townhall", Timestamp: int64(i + 1), Connection: &Connection{ID: id, CreatedAt: int64(i + 1)}})
		if i%10 != 0 {
			st.Apply(Event{Kind: ConnectionDestroyed, SessionID: "2_townhall", Timestamp: int64(people + i), Connection: &Connection{ID: id}})
		}
	}
	b.Run("snapshot", func(b *testing.B) {
		for b.Loop() {
			st.Snapshot()
		}
	})
	b.Run("sessions", func(b *testing.B) {
		for b.Loop() {
			st.Sessions()
		}
	})
}
