package tui

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// TimelineFormats are the ways a timeline is written out.
var TimelineFormats = []string{"table", "ndjson", "csv", "md"}

// CheckTimelineFormat says what is wrong with format, if it is not one of
// TimelineFormats.
func CheckTimelineFormat(format string) error {
	for _, f := range TimelineFormats {
		if f == format {
			return nil
		}
	}
	return fmt.Errorf("expected one of %s, got %q", strings.Join(TimelineFormats, ", "), format)
}

// timelineTime is a moment with its zone's offset, to the millisecond:
// an incident report is read by people in other zones.
const timelineTime = "2006-01-02 15:04:05.000 -07:00"

// Write writes the timeline in format (one of TimelineFormats), its times
// in loc.
func (t Timeline) Write(w io.Writer, format string, loc *time.Location) error {
	switch format {
	case "table":
		return t.writeTable(w, loc)
	case "ndjson":
		return t.writeNDJSON(w, loc)
	case "csv":
		return t.writeCSV(w, loc)
	case "md":
		return t.writeMarkdown(w, loc)
	}
	return fmt.Errorf("timeline format: %w", CheckTimelineFormat(format))
}

func (t Timeline) writeTable(w io.Writer, loc *time.Location) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCONNS\tWHO\tWHAT\tID\tOUTCOME")
	for _, e := range t.Entries {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", e.At.In(loc).Format(timelineTime), e.Connections,
			dash(e.Who), e.What, dash(e.Subject), dash(e.Outcome))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// timelineRecord is one entry as a JSON line.
type timelineRecord struct {
	Seq         uint64 `json:"seq"`
	At          string `json:"at"` // RFC 3339 with the offset, to the millisecond
	Session     string `json:"session"`
	Kind        string `json:"kind"`
	Who         string `json:"who,omitempty"`
	What        string `json:"what"`
	Subject     string `json:"subject,omitempty"`
	Outcome     string `json:"outcome,omitempty"`
	Connections int    `json:"connections"`
}

const rfc3339Milli = "2006-01-02T15:04:05.000Z07:00"

func (t Timeline) writeNDJSON(w io.Writer, loc *time.Location) error {
	enc := json.NewEncoder(w)
	for _, e := range t.Entries {
		if err := enc.Encode(timelineRecord{Seq: e.Seq, At: e.At.In(loc).Format(rfc3339Milli), Session: t.Session, Kind: e.Kind,
			Who: e.Who, What: e.What, Subject: e.Subject, Outcome: e.Outcome, Connections: e.Connections}); err != nil {
			return err
		}
	}
	return nil
}

func (t Timeline) writeCSV(w io.Writer, loc *time.Location) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"seq", "time", "session", "kind", "who", "what", "subject", "outcome", "connections"})
	for _, e := range t.Entries {
		_ = cw.Write([]string{strconv.FormatUint(e.Seq, 10), e.At.In(loc).Format(rfc3339Milli), t.Session, e.Kind,
			e.Who, e.What, e.Subject, e.Outcome, strconv.Itoa(e.Connections)})
	}
	cw.Flush()
	return cw.Error()
}

// chartBlocks draw the connections chart, lowest to highest.
var chartBlocks = []rune(" ▁▂▃▄▅▆▇█")

// chartWidth is how many columns the markdown chart spans.
const chartWidth = 48

// connectionsChart draws the connection count over the entries' span in
// chartWidth columns, each the most connections seen in its slice of
// time (a drop shows as the next column's lower block).
func (t Timeline) connectionsChart() string {
	if len(t.Entries) == 0 || t.Peak == 0 {
		return ""
	}
	first, last := t.span()
	span := last.Sub(first)
	cols := make([]int, chartWidth)
	seen := make([]bool, chartWidth)
	for _, e := range t.Entries {
		i := 0
		if span > 0 {
			i = min(int(int64(chartWidth-1)*int64(e.At.Sub(first))/int64(span)), chartWidth-1)
		}
		cols[i], seen[i] = max(cols[i], e.Connections), true
	}
	var b strings.Builder
	carry := 0
	for i, c := range cols {
		if !seen[i] {
			c = carry // nothing happened: the count held
		}
		carry = c
		b.WriteRune(chartBlocks[(c*(len(chartBlocks)-1)+t.Peak-1)/t.Peak])
	}
	return b.String()
}

// span is the earliest and the latest moment of the entries: the log's
// order is the relay's, and a callback's own time may run a little behind
// one stored before it.
func (t Timeline) span() (first, last time.Time) {
	first, last = t.Entries[0].At, t.Entries[0].At
	for _, e := range t.Entries[1:] {
		if e.At.Before(first) {
			first = e.At
		}
		if e.At.After(last) {
			last = e.At
		}
	}
	return first, last
}

func (t Timeline) writeMarkdown(w io.Writer, loc *time.Location) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## Session `%s`\n\n", t.Session)
	if len(t.Entries) == 0 {
		b.WriteString("Nothing happened in this session in the window.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	first, last := t.span()
	first, last = first.In(loc), last.In(loc)
	var joins, leaves, drops int
	var moderation, lost, alerts []TimelineEntry
	for _, e := range t.Entries {
		switch {
		case e.Kind == TimelineModeration:
			moderation = append(moderation, e)
		case e.Kind == TimelineAlert:
			alerts = append(alerts, e)
		case e.conns > 0:
			joins++
		case e.conns < 0:
			leaves++
			if e.What == "lost network" {
				drops++
				lost = append(lost, e)
			}
		}
	}
	fmt.Fprintf(&b, "- **From** %s **to** %s (%s)\n", first.Format(timelineTime), last.Format(timelineTime), last.Sub(first).Round(time.Second))
	fmt.Fprintf(&b, "- **Peak**: %d connections at %s\n", t.Peak, t.PeakAt.In(loc).Format(timelineTime))
	fmt.Fprintf(&b, "- **Joins** %d, **leaves** %d, of them **%d lost network**\n", joins, leaves, drops)
	fmt.Fprintf(&b, "- **Moderation actions** %d, **alerts** %d\n", len(moderation), len(alerts))
	if t.FirstSeq > 1 {
		fmt.Fprintf(&b, "- The relay's log starts at record %d: anything older is gone.\n", t.FirstSeq)
	}
	fmt.Fprintf(&b, "\nConnections over time (peak %d):\n\n```\n%s\n%-*s%s\n```\n", t.Peak, t.connectionsChart(),
		chartWidth/2, first.Format("15:04:05"), fmt.Sprintf("%*s", chartWidth/2, last.Format("15:04:05")))
	section := func(title string, list []TimelineEntry) {
		if len(list) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n### %s\n\n| Time | Who | What | Outcome |\n|---|---|---|---|\n", title)
		for _, e := range list {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", e.At.In(loc).Format(timelineTime), mdCell(e.Who), mdCell(e.What), mdCell(dash(e.Outcome)))
		}
	}
	section("Moderation", moderation)
	section("Dropped (lost network)", lost)
	section("Alerts", alerts)
	fmt.Fprintf(&b, "\n### Timeline\n\n| Time | Connections | Who | What | Outcome |\n|---|---:|---|---|---|\n")
	for _, e := range t.Entries {
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", e.At.In(loc).Format(timelineTime), e.Connections, mdCell(e.Who), mdCell(e.What), mdCell(dash(e.Outcome)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdCell keeps a table cell in its column: a pipe would split it.
func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
