package relay

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
)

// BenchmarkHubApplyRules is what the rules add to the hub's apply of a
// callback: the town-hall-sized workload of joins and leaves, applied
// without rules, and with a cap (not reached) and 100 bans in force (none
// matching) evaluated on every join. The rules run on the hub's goroutine,
// after the receiver has answered: they cost the fan-out, not the ingest
// (BenchmarkIngest never reaches them).
//
//	go test ./events/relay -run '^$' -bench HubApplyRules -benchtime 50000x -count 5
//
// (a fixed count: the state grows with the run, and so does a record's cost)
func BenchmarkHubApplyRules(b *testing.B) {
	l := hubLog(b, b.TempDir(), LogConfig{})
	for _, withRules := range []bool{false, true} {
		name := "none"
		if withRules {
			name = "cap+100bans"
		}
		b.Run(name, func(b *testing.B) {
			h := NewHub(HubConfig{Log: l})
			h.ready.Store(true)
			if withRules {
				r := newRules(RulesConfig{MaxConnections: 1_000_000, EnforceCap: true}, AlertsConfig{}, l, nil, slog.New(slog.DiscardHandler))
				h.cfg.OnLive = r.observe
				now := time.Now()
				for i := range 100 {
					h.state.ApplyAudit(events.Audit{OK: true, Action: events.ActionBan, Ban: &events.Ban{ID: fmt.Sprint("ban-", i),
						Identity: fmt.Sprint("banned-", i), Expires: now.Add(time.Hour)}})
				}
			}
			// Fresh records each time (a repeat would be a late retry, not
			// applied); making them is the same cost in both runs.
			w := newHubWorkload(7)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				_ = h.apply(uint64(i+1), w.next())
			}
		})
	}
}
