package tui

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gavelhq/gavel/events"
)

// The sessions table's sparkline: the relay sends the picture as it is,
// never how it was, so the console samples each live session's
// connection count itself, from the batches it is handed.

const (
	// histBucket is one sample: the most connections the session held at
	// any time in it. Ten seconds is ten ticks: short enough that a join
	// wave or a mass drop shows within seconds, and because a bucket keeps
	// its max, a spike that came and went between two ticks still shows.
	histBucket = 10 * time.Second
	// histLen buckets are the window: 30 × 10 s = 5 minutes, which spans
	// the join wave at the start of a meeting or a drop and its recovery,
	// fills soon after a console starts (there is no history before it),
	// and is one cell a bucket in 30 columns, which a wide table can spare.
	histLen = 30

	noData = -1 // a bucket before the first sample, or while the link was down
)

// sparkTitle heads the sparkline column: the window it covers.
var sparkTitle = "LAST " + compactDuration(histLen*histBucket)

// connRing is one session's last histLen buckets: fixed size, however
// long the session lives.
type connRing struct {
	v    [histLen]int32 // max count of bucket k at v[slot(k)]
	last int64          // the newest bucket written
	// cur is the count last seen, which holds until a batch says
	// otherwise: the feed sends nothing while nothing changes, so buckets
	// after last are cur, and a tick needs to write nothing. noData while
	// the link is down: the console does not know.
	cur int32
	gen uint64 // the observe pass that last saw the session live

	// The rendered line for the window ending at bucket lineEnd, lineW
	// cells wide: rebuilt when a batch changes the ring or the window
	// moves on (once per bucket), not on every frame.
	line    string
	lineEnd int64
	lineW   int
}

// connHistory is the rings of the live sessions, by (sanitized) id, the
// key the sessions table's rows have.
type connHistory struct {
	rings map[string]*connRing
	gen   uint64
}

// bucketOf is the bucket now falls in (floored, so times before 1970,
// such as a zero time, still land in the right one).
func bucketOf(now time.Time) int64 {
	d := int64(histBucket / time.Second)
	u := now.Unix()
	q := u / d
	if u%d < 0 {
		q--
	}
	return q
}

func slot(k int64) int { return int((k%histLen + histLen) % histLen) }

// observe samples a batch, the whole picture, at now (the console's
// clock, from the last tick). known is false while the link is down: the
// counts are the last ones seen, and the buckets from now on are gaps,
// not a steady line. Sessions that are gone or no longer live are
// dropped, so memory follows the live sessions.
func (h *connHistory) observe(all []events.Session, now time.Time, known bool) {
	if h.rings == nil {
		h.rings = make(map[string]*connRing)
	}
	h.gen++
	b := bucketOf(now)
	for i := range all {
		s := &all[i]
		if !s.Live {
			continue
		}
		id := Sanitize(s.ID)
		r := h.rings[id]
		if r == nil {
			if !known {
				continue // nothing to say about a session not seen while live
			}
			r = &connRing{last: b, cur: noData}
			for j := range r.v {
				r.v[j] = noData
			}
			h.rings[id] = r
		}
		r.gen = h.gen
		r.sample(b, s.Counts.Connections, known)
	}
	for id, r := range h.rings {
		if r.gen != h.gen {
			delete(h.rings, id)
		}
	}
}

// sample records n connections in bucket b.
func (r *connRing) sample(b int64, n int, known bool) {
	changed := false
	if b < r.last {
		b = r.last // the wall clock stepped back: count it in the newest bucket
	}
	if b > r.last {
		// The buckets since the last sample held cur throughout.
		for k := r.last + 1; k <= min(b, r.last+histLen); k++ {
			r.v[slot(k)] = r.cur
		}
		r.last, changed = b, true
	}
	c := int32(n)
	switch {
	case !known:
		changed = changed || r.cur != noData
		r.cur = noData
	default:
		if i := slot(b); c > r.v[i] {
			r.v[i], changed = c, true
		}
		if c != r.cur {
			r.cur, changed = c, true
		}
	}
	if changed {
		r.line = ""
	}
}

// at is the value of bucket k (≥ last-histLen).
func (r *connRing) at(k int64) int32 {
	switch {
	case k > r.last:
		return r.cur
	case k <= r.last-histLen:
		return noData
	}
	return r.v[slot(k)]
}

// sparkline is the session's window ending at now, w cells wide, the
// newest at the right; "" if it has no history. Each cell is the max of
// histLen/w buckets, drawn ▁…█ against the session's own max in the
// window (0 at the bottom, so a steady session is a flat line at the top
// and a small wobble in a big session stays small); a gap is a space.
func (h *connHistory) sparkline(id string, now time.Time, w int) string {
	r := h.rings[id]
	if r == nil || w <= 0 {
		return ""
	}
	end := max(bucketOf(now), r.last)
	if r.line != "" && r.lineEnd == end && r.lineW == w {
		return r.line
	}
	per := max(histLen/w, 1)
	n := min(histLen/per, w)
	var cells [histLen]int32
	top := int32(noData)
	for i := range n {
		c := int32(noData)
		for j := range per {
			c = max(c, r.at(end-int64((n-1-i)*per+j)))
		}
		cells[i] = c
		top = max(top, c)
	}
	var b strings.Builder
	b.Grow(w - n + 3*n)
	b.WriteString(strings.Repeat(" ", w-n))
	for _, c := range cells[:n] {
		b.WriteRune(sparkCell(c, top))
	}
	r.line, r.lineEnd, r.lineW = b.String(), end, w
	return r.line
}

// sparkCell is one cell: a space for no data, else one of the eight
// blocks ▁ to █, the nearest to c/top, but never ▁ for a count above
// zero, so "some" never reads as "none".
func sparkCell(c, top int32) rune {
	if c < 0 {
		return ' '
	}
	lvl := 0
	if top > 0 {
		lvl = int((int64(c)*7 + int64(top)/2) / int64(top))
		if c > 0 {
			lvl = max(lvl, 1)
		}
	}
	return '▁' + rune(lvl)
}

// sparkMinID is the narrowest the session id column may get to make room
// for the sparkline: a 15-cell tail, enough to tell Video API ids apart
// (the ids share a long prefix), the same as with the LIMIT column.
const sparkMinID = 16

// withSpark fits cols to width with the sparkline column inserted at i
// (after AGE): a cell a bucket when there is room, else two or three
// buckets a cell; the sparkline is dropped, before any other column is
// narrowed, when the id column would get narrower than sparkMinID.
func withSpark(cols []column, i, width int) ([]column, bool) {
	for _, w := range [...]int{histLen, histLen / 2, histLen / 3} {
		c := fit(slices.Insert(slices.Clone(cols), i, column{title: sparkTitle, width: w}), width)
		if c[0].width >= sparkMinID && cellStart(c, len(c))-1 <= width {
			return c, true
		}
	}
	return fit(cols, width), false
}

// sparkRow is renderRow(cols, cells, width) for a table that withSpark
// fitted, with the sparkline in cells[at]. The line is put in as it is,
// not measured: it is at most cols[at].width runes of one cell each, and
// measuring block characters is a grapheme walk (ASCII has a fast path)
// that, on every row of every frame, cost more than the rest of the
// table (BenchmarkTickSessions200).
func sparkRow(cols []column, cells []string, at, width int) string {
	line := cells[at]
	var b strings.Builder
	b.Grow(width + 2*len(line))
	b.WriteString(renderRow(cols[:at], cells[:at], cellStart(cols, at)-1))
	b.WriteByte(' ')
	b.WriteString(strings.Repeat(" ", max(cols[at].width-utf8.RuneCountInString(line), 0)))
	b.WriteString(line)
	rest := width - cellStart(cols, at+1) // after the line and a gap
	if at+1 < len(cols) {
		b.WriteByte(' ')
		b.WriteString(renderRow(cols[at+1:], cells[at+1:], rest))
	} else {
		b.WriteString(strings.Repeat(" ", max(rest+1, 0)))
	}
	return b.String()
}
