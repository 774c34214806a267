package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/tui/demo"
)

// TestTimelineOfTheDemosTownHall: `gavel timeline` over the demo's relay
// tells the town hall's story in every format — joins, leaves with their
// reasons, and a moderator's disconnect followed by its effect, in order.
func TestTimelineOfTheDemosTownHall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := demo.Start(ctx, demo.Options{Speed: 20, Viewers: 60})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })

	// Watch as a console until the town hall has people coming and going,
	// then disconnect one of its viewers as the demo's moderator.
	client := relayclient.New(relayclient.Config{URL: d.RelayURL(), Token: d.Token()})
	mirror := relayclient.NewMirror()
	var townHall, victim, victimName string
	left := 0
	var result *events.Result
	errDone := errors.New("done")
	runErr := client.Run(ctx, func(f relayclient.Frame) error {
		mirror.Apply(f)
		if f.Event != nil && strings.Contains(string(f.Event.Event), `"connectionDestroyed"`) {
			left++
		}
		if f.Result != nil {
			result = f.Result
			return errDone
		}
		if victim != "" || left < 5 {
			return nil
		}
		for _, s := range mirror.State.Sessions() {
			if s.Live && s.Counts.Connections >= 20 {
				townHall = s.ID
				for _, c := range s.Connections {
					if strings.Contains(c.Data, "viewer") {
						victim, victimName = c.ID, c.Data
						break
					}
				}
			}
		}
		if victim == "" {
			return nil
		}
		return client.Send(events.Command{Type: "command", ID: "t1", Action: events.ActionDisconnect, Session: townHall, Connection: victim})
	})
	if !errors.Is(runErr, errDone) || result == nil || !result.OK {
		t.Fatalf("disconnecting a town hall viewer: %v, result %+v", runErr, result)
	}
	name := demoName(victimName)
	// Its connectionDestroyed reaches the log a moment later.
	time.Sleep(time.Second)

	env := map[string]string{"HOME": t.TempDir()}
	timeline := func(format string) string {
		t.Helper()
		code, out, errOut := gavel(t, env, "", "timeline", townHall, "--relay", d.RelayURL(), "--token", d.Token(), "--format", format, "--utc")
		if code != 0 {
			t.Fatalf("timeline --format %s: exit %d\n%s", format, code, errOut)
		}
		return out
	}

	table := timeline("table")
	lines := strings.Split(table, "\n")
	if !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(table, " joined ") {
		t.Fatalf("table:\n%s", table)
	}
	disconnected := indexOf(lines, "disconnected "+name)
	kicked := -1
	for i := disconnected + 1; disconnected >= 0 && i < len(lines); i++ {
		if strings.Contains(lines[i], name) && strings.Contains(lines[i], "kicked") {
			kicked = i
			break
		}
	}
	if disconnected < 0 || !strings.Contains(lines[disconnected], "ok") || !strings.Contains(lines[disconnected], "("+string(events.RoleModerator)+")") ||
		kicked <= disconnected || !strings.Contains(lines[kicked], "kicked") {
		t.Errorf("the moderator's disconnect of %s (line %d) then their leaving as kicked (line %d):\n%s", name, disconnected, kicked, table)
	}
	if !strings.Contains(table, " left ") && !strings.Contains(table, "lost network") {
		t.Errorf("no one left by themselves:\n%s", table)
	}

	nd := timeline("ndjson")
	var seqs []uint64
	entries := 0
	for _, l := range strings.Split(strings.TrimSpace(nd), "\n") {
		var r struct {
			Seq     uint64 `json:"seq"`
			Session string `json:"session"`
			Kind    string `json:"kind"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Session != townHall {
			t.Fatalf("ndjson line %q: %v", l, err)
		}
		// The callbacks in log order (a moderator's action goes just
		// before its effect, which the log may hold first).
		if r.Kind == "event" && len(seqs) > 0 && r.Seq <= seqs[len(seqs)-1] {
			t.Fatalf("ndjson callbacks out of log order: %d after %v", r.Seq, seqs)
		}
		if r.Kind == "event" {
			seqs = append(seqs, r.Seq)
		}
		entries++
	}
	rows, err := csv.NewReader(strings.NewReader(timeline("csv"))).ReadAll()
	if err != nil || rows[0][0] != "seq" || len(rows) != entries+1 {
		t.Errorf("csv: %v, %d rows for %d entries, header %q", err, len(rows), entries, rows[0])
	}
	md := timeline("md")
	for _, want := range []string{"## Session `" + townHall + "`", "**Peak**", "### Moderation", "disconnected " + name, "Connections over time"} {
		if !strings.Contains(md, want) {
			t.Errorf("md lacks %q:\n%s", want, md)
		}
	}
}

// demoName is the name a demo participant's connection data gives.
func demoName(data string) string {
	var v struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal([]byte(data), &v)
	return v.Name
}

func indexOf(lines []string, sub string) int {
	for i, l := range lines {
		if strings.Contains(l, sub) {
			return i
		}
	}
	return -1
}

// Bad flags name the flag and what was expected, before any relay is
// dialled.
func TestTimelineCommandRefusesBadFlags(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir()}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"timeline", "s1", "--format", "yaml"}, `--format: expected one of table, ndjson, csv, md, got "yaml"`},
		{[]string{"timeline", "s1", "--from", "25:00"}, `--from: expected 15:04, 2006-01-02 15:04, an RFC 3339 time or -10m, got "25:00"`},
		{[]string{"timeline", "s1", "--to", "-soon"}, `--to: expected a time before now like -10m or -2h, got "-soon"`},
		{[]string{"timeline", "s1", "--from", "2026-12-05 10:00", "--to", "2026-12-05 09:00"}, "--to 2026-12-05 09:00 is before --from 2026-12-05 10:00"},
		{[]string{"timeline", "s1"}, "no relay: pass --relay"},
		{[]string{"timeline"}, "accepts 1 arg(s), received 0"},
	} {
		code, _, errOut := gavel(t, env, "", c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%q: exit %d, %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}
