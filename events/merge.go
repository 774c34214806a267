package events

// offer merges a report of a connection's fields; the greatest (rank,
// createdAt, data) wins, a total order, so arrival order does not matter.
// It reports whether a field a view shows changed (the rank is not shown).
func (c *conn) offer(rank int8, createdAt int64, data string) bool {
	if rank < c.rank || rank == c.rank && (createdAt < c.createdAt || createdAt == c.createdAt && data <= c.data) {
		return false
	}
	changed := createdAt != c.createdAt || data != c.data
	c.rank, c.createdAt, c.data = rank, createdAt, data
	return changed
}

// offer merges a report of a stream's fields, like conn.offer; the caller
// recounts the stream's type around it.
func (st *stream) offer(rank int8, createdAt int64, name, videoType string) bool {
	if rank < st.rank || rank == st.rank && (createdAt < st.createdAt || createdAt == st.createdAt &&
		(videoType < st.videoType || videoType == st.videoType && name <= st.name)) {
		return false
	}
	changed := createdAt != st.createdAt || name != st.name || videoType != st.videoType
	st.rank, st.createdAt, st.name, st.videoType = rank, createdAt, name, videoType
	return changed
}

func (x *session) addConn(id string, rank int8, createdAt int64, data string, at int64) *conn {
	c := &conn{id: id, rank: rank, createdAt: createdAt, data: data, lastAt: at}
	x.conns[id] = c
	x.n.conns++
	c.liveIx, x.liveConns = len(x.liveConns), append(x.liveConns, c)
	return c
}

// dropLiveConn takes c out of the live index.
func (x *session) dropLiveConn(c *conn) {
	last := x.liveConns[len(x.liveConns)-1]
	x.liveConns[c.liveIx], last.liveIx = last, c.liveIx
	x.liveConns[len(x.liveConns)-1] = nil
	x.liveConns = x.liveConns[:len(x.liveConns)-1]
}

func (x *session) addLiveStream(st *stream) {
	st.liveIx, x.liveStreams = len(x.liveStreams), append(x.liveStreams, st)
}

func (x *session) dropLiveStream(st *stream) {
	last := x.liveStreams[len(x.liveStreams)-1]
	x.liveStreams[st.liveIx], last.liveIx = last, st.liveIx
	x.liveStreams[len(x.liveStreams)-1] = nil
	x.liveStreams = x.liveStreams[:len(x.liveStreams)-1]
}

func (x *session) connectionCreated(ev *Event) bool {
	ec := ev.Connection
	rank := rankConnection
	if ev.Reason == ReasonReconciled {
		rank = rankReconcile
	}
	c := x.conns[ec.ID]
	if c == nil {
		x.addConn(ec.ID, rank, ec.CreatedAt, ec.Data, ev.Timestamp)
		return true
	}
	if c.dead {
		return false
	}
	c.lastAt = max(c.lastAt, ev.Timestamp)
	return c.offer(rank, ec.CreatedAt, ec.Data)
}

func (x *session) connectionDestroyed(ev *Event) bool {
	id := ev.Connection.ID
	c := x.conns[id]
	if c == nil {
		// Destroyed before created (or its creation was never sent): the
		// tombstone keeps a late connectionCreated from bringing it back.
		x.buryConn(&conn{id: id, dead: true, diedAt: ev.Timestamp})
		return false
	}
	if c.dead {
		c.diedAt = max(c.diedAt, ev.Timestamp)
		return false
	}
	x.killConn(c, ev.Timestamp)
	return true
}

// killConn tombstones c and the streams it publishes.
func (x *session) killConn(c *conn, at int64) {
	for st := c.first; st != nil; {
		next := st.next
		x.killStream(st, at)
		st = next
	}
	x.n.conns--
	x.dropLiveConn(c)
	*c = conn{id: c.id, dead: true, diedAt: at}
	x.deadConns = append(x.deadConns, c)
}

func (x *session) streamCreated(ev *Event) bool {
	es := ev.Stream
	changed := false
	var c *conn
	if ec := es.Connection; ec.ID != "" {
		c = x.conns[ec.ID]
		switch {
		case c == nil:
			c = x.addConn(ec.ID, rankStream, ec.CreatedAt, ec.Data, ev.Timestamp)
			changed = true
		case !c.dead:
			changed = c.offer(rankStream, ec.CreatedAt, ec.Data) || changed
			c.lastAt = max(c.lastAt, ev.Timestamp)
		}
	}
	rank := rankStream
	if ev.Reason == ReasonReconciled {
		rank = rankReconcile
	}
	st := x.streams[es.ID]
	if st == nil {
		if c != nil && c.dead {
			// Its connection is gone, and took the stream with it.
			x.buryStream(&stream{id: es.ID, dead: true, diedAt: c.diedAt})
			return changed
		}
		st = &stream{id: es.ID, rank: rank, createdAt: es.CreatedAt, name: es.Name, videoType: es.VideoType, lastAt: ev.Timestamp}
		x.streams[es.ID] = st
		x.n.streams++
		x.countType(st.videoType, 1)
		x.addLiveStream(st)
		if c != nil {
			x.attach(st, c)
		}
		st.muted = x.mutedByWindow(st.id, st.createdAt)
		return true
	}
	if st.dead {
		return changed
	}
	st.lastAt = max(st.lastAt, ev.Timestamp)
	if st.conn == nil && c != nil {
		// A stream the reconcile found, now attributed by its callback.
		if c.dead {
			x.killStream(st, c.diedAt)
			return true
		}
		x.attach(st, c)
		changed = true
	}
	old := st.videoType
	if st.offer(rank, es.CreatedAt, es.Name, es.VideoType) {
		x.countType(old, -1)
		x.countType(st.videoType, 1)
		changed = true
	}
	return changed
}

func (x *session) streamDestroyed(ev *Event) bool {
	es := ev.Stream
	st := x.streams[es.ID]
	if st == nil {
		x.buryStream(&stream{id: es.ID, dead: true, diedAt: ev.Timestamp})
		return false
	}
	if st.dead {
		st.diedAt = max(st.diedAt, ev.Timestamp)
		return false
	}
	x.killStream(st, ev.Timestamp)
	return true
}

// buryConn and buryStream add the tombstone of one never seen alive.
func (x *session) buryConn(c *conn) {
	x.conns[c.id] = c
	x.deadConns = append(x.deadConns, c)
}

func (x *session) buryStream(st *stream) {
	x.streams[st.id] = st
	x.deadStreams = append(x.deadStreams, st)
}

// attach links st into c's list of streams.
func (x *session) attach(st *stream, c *conn) {
	st.conn, st.prev, st.next = c, nil, c.first
	if c.first != nil {
		c.first.prev = st
	}
	c.first = st
	c.nstreams++
	if c.nstreams == 1 {
		x.n.publishers++
	}
}

func (x *session) killStream(st *stream, at int64) {
	if c := st.conn; c != nil {
		if st.prev != nil {
			st.prev.next = st.next
		} else {
			c.first = st.next
		}
		if st.next != nil {
			st.next.prev = st.prev
		}
		c.nstreams--
		if c.nstreams == 0 {
			x.n.publishers--
		}
	}
	x.n.streams--
	x.dropLiveStream(st)
	x.countType(st.videoType, -1)
	*st = stream{id: st.id, dead: true, diedAt: at}
	x.deadStreams = append(x.deadStreams, st)
}

func (x *session) countType(videoType string, d int32) {
	switch videoType {
	case "camera":
		x.n.camera += d
	case "screen":
		x.n.screen += d
	case "":
		x.n.audio += d
	default:
		x.n.custom += d
	}
}

// statusRank orders an archive's or broadcast's lifecycle, so that of two
// statuses with the same timestamp the later stage wins and a late retry of
// "started" cannot undo "stopped". Unknown statuses rank lowest.
func statusRank(status string) int {
	switch status {
	case "started":
		return 1
	case "paused":
		return 2
	case "stopped":
		return 3
	case "uploaded":
		return 4
	case "available":
		return 5
	case "expired", "failed", "deleted":
		return 6
	}
	return 0
}

// newer reports whether status b at time tb supersedes status a at ta.
func newer(ta int64, a string, tb int64, b string) bool {
	if tb != ta {
		return tb > ta
	}
	if ra, rb := statusRank(a), statusRank(b); ra != rb {
		return rb > ra
	}
	return b > a // two unknown statuses at once: any fixed order converges
}

func recording(status string) int32 {
	if status == "started" || status == "paused" {
		return 1
	}
	return 0
}

func broadcasting(status string) int32 {
	if status == "started" {
		return 1
	}
	return 0
}

func (x *session) archive(ev *Event) bool {
	a := ev.Archive
	next := ArchiveState{ID: a.ID, Status: a.Status, Name: a.Name, Reason: a.Reason, OutputMode: a.OutputMode,
		URL: a.URL, CreatedAt: a.CreatedAt, UpdatedAt: ev.Timestamp}
	if x.archives == nil {
		x.archives = map[string]*ArchiveState{}
	}
	cur := x.archives[a.ID]
	if cur == nil {
		x.archives[a.ID] = &next
		x.n.recording += recording(next.Status)
		return true
	}
	if newer(cur.UpdatedAt, cur.Status, next.UpdatedAt, next.Status) {
		// Fields a status callback may leave out are kept; the URL is not,
		// since it belongs to the status (an expired archive has none).
		fill(&next, cur)
		x.n.recording += recording(next.Status) - recording(cur.Status)
		*cur = next
		return true
	}
	return fill(cur, &next)
}

// fill sets dst's empty descriptive fields from src, so they end up the
// same whichever of two reports of an archive wins.
func fill(dst, src *ArchiveState) bool {
	changed := false
	if dst.Name == "" && src.Name != "" {
		dst.Name, changed = src.Name, true
	}
	if dst.OutputMode == "" && src.OutputMode != "" {
		dst.OutputMode, changed = src.OutputMode, true
	}
	if dst.CreatedAt == 0 && src.CreatedAt != 0 {
		dst.CreatedAt, changed = src.CreatedAt, true
	}
	return changed
}

func (x *session) broadcast(ev *Event) bool {
	b := ev.Broadcast
	next := BroadcastState{ID: b.ID, Status: b.Status, UpdatedAt: ev.Timestamp}
	if x.broadcasts == nil {
		x.broadcasts = map[string]*BroadcastState{}
	}
	cur := x.broadcasts[b.ID]
	if cur == nil {
		x.broadcasts[b.ID] = &next
		x.n.broadcasting += broadcasting(next.Status)
		return true
	}
	if !newer(cur.UpdatedAt, cur.Status, next.UpdatedAt, next.Status) {
		return false
	}
	x.n.broadcasting += broadcasting(next.Status) - broadcasting(cur.Status)
	*cur = next
	return true
}
