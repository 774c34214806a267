package tui

import "github.com/gavelhq/gavel/events"

// segCache keeps each session's rows of a global view (:connections,
// :streams) between batches. The feed hands on the very same Session
// value while a session is unchanged, and builds new Connections and
// Streams arrays for one that changed; so a session whose arrays are the
// ones its rows were built from needs no rebuild, and a batch in which
// only a small session changed costs the 10,000-person town hall a copy
// of its row pointers, not 10,000 name lookups.
type segCache[R any] struct {
	m   map[string]*segment[R]
	gen uint64 // this batch's number: entries not seen in it are dropped
}

type segment[R any] struct {
	// The arrays the rows were built from; holding them also keeps a
	// later allocation from reusing their address and fooling the check.
	conns   []events.ConnectionState
	streams []events.StreamState
	rows    []R
	gen     uint64
}

// same reports whether a and b share their backing array (and length):
// the feed's sign that a session did not change.
func same[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// begin starts a batch.
func (c *segCache[R]) begin() {
	if c.m == nil {
		c.m = map[string]*segment[R]{}
	}
	c.gen++
}

// rows are s's rows: the cached ones if s is unchanged, else build's.
// build gets the rows last built for the session (nil if none) to reuse
// what is still true of them. It must return a new array, not nil, and
// never overwrite old's elements: a view may hold pointers into it.
func (c *segCache[R]) rows(s *events.Session, build func(s *events.Session, old []R) []R) []R {
	seg := c.m[s.ID]
	if seg == nil {
		seg = &segment[R]{}
		c.m[s.ID] = seg
	} else if same(seg.conns, s.Connections) && same(seg.streams, s.Streams) && seg.rows != nil {
		seg.gen = c.gen
		return seg.rows
	}
	seg.conns, seg.streams, seg.gen = s.Connections, s.Streams, c.gen
	seg.rows = build(s, seg.rows)
	return seg.rows
}

// end drops the sessions the batch did not have.
func (c *segCache[R]) end() {
	for id, seg := range c.m {
		if seg.gen != c.gen {
			delete(c.m, id)
		}
	}
}

// forget makes the next batch rebuild a session's rows.
func (c *segCache[R]) forget(sessionID string) { delete(c.m, sessionID) }
