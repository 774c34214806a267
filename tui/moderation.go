package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// Moderation is the console's side of the relay's gateway. A key makes one
// job — one command, or many for a bulk action (the Video API disconnects
// one connection per call) — whose commands go out through the relay link
// at a pace the relay accepts, and whose progress the footer shows from
// pending to done or failed. Nothing here does I/O in Update: sending is
// a tea.Cmd, answers come back in StateMsg.Results.

// Commander sends one command on the relay link (relayclient.Client does).
type Commander interface {
	Send(events.Command) error
}

// The relay answers 429 above about 5 commands a second (bursts of 20) or
// 8 in flight per console; a bulk job stays under both, so it is never
// refused for its own speed.
const (
	maxInFlight = 6
	sendBurst   = 16
	sendEvery   = 250 * time.Millisecond // 4 a second once the burst is spent
	// noticeFor is how long a finished job's line stays in the footer.
	noticeFor = 8 * time.Second
	// unpublishWait is how long an unpublish request waits for its
	// streamDestroyed before the console offers mute or disconnect.
	unpublishWait = 15 * time.Second
)

// job is one moderator action and its commands' outcome.
type job struct {
	words
	what       string // "Alice (…abc123)", "5 connections"
	total      int
	ok, failed int
	firstErr   string
	// onOK runs on a command's success (the token form shows its token).
	onOK func(m *Model, data json.RawMessage) tea.Cmd

	// An unpublish is done when its stream leaves, not when the relay
	// has sent the request.
	unpublish *unpublishWatch
	finished  bool
	// touched is when the job last changed (started, answered, ended):
	// the footer shows whatever changed last.
	touched time.Time
}

type unpublishWatch struct {
	session, stream, streamLabel string
	sessionName                  string    // "session Town hall (…)"
	connLabel                    string    // the publisher, "Alice (…3f9a1c)"
	since                        time.Time // relay confirmed the request
	waiting                      bool
}

func (j *job) done() bool { return j.ok+j.failed >= j.total }

// line is the footer's words for the job.
func (j *job) line() (string, noticeKind) {
	switch {
	case j.unpublish != nil && j.unpublish.waiting && !j.finished:
		return "⋯ asked the publisher to stop " + j.unpublish.streamLabel + " — waiting for the stream to end", noticePending
	case !j.done():
		s := "⋯ " + j.doing + " " + j.what
		if j.total > 1 {
			s += fmt.Sprintf(" — %d/%d", j.ok+j.failed, j.total)
		}
		return s, noticePending
	case j.failed == 0:
		return "✓ " + j.past + " " + j.what, noticeDone
	case j.ok == 0:
		return "✗ " + j.verb + " " + j.what + ": " + j.firstErr, noticeFailed
	}
	return fmt.Sprintf("✗ %s %d of %d; %d failed: %s", j.past, j.ok, j.total, j.failed, j.firstErr), noticeFailed
}

// words say an action in the footer: what it does, while it is at it,
// and once done ("disconnect Ana", "disconnecting Ana", "disconnected Ana").
type words struct{ verb, doing, past string }

// The footer's words for each action.
var (
	wordsDisconnect = words{"disconnect", "disconnecting", "disconnected"}
	wordsMute       = words{"mute", "muting", "muted"}
	wordsMuteAll    = words{"mute all in", "muting all in", "muted all in"}
	wordsMuteAllOff = words{"end mute-all in", "ending mute-all in", "ended mute-all in"}
	wordsUnpublish  = words{"unpublish", "asking to unpublish", "asked to unpublish"}
	wordsStopRec    = words{"stop recording", "stopping the recording of", "stopped recording"}
	wordsStartRec   = words{"start recording", "starting to record", "started recording"}
	wordsSignal     = words{"signal", "signalling", "signalled"}
	wordsToken      = words{"mint a token for", "minting a token for", "minted a token for"}
	wordsBan        = words{"ban", "banning", "banned"}
	wordsLift       = words{"lift the ban on", "lifting the ban on", "lifted the ban on"}
	wordsAck        = words{"acknowledge", "acknowledging", "acknowledged"}
)

type noticeKind int

const (
	noticeInfo noticeKind = iota
	noticePending
	noticeDone
	noticeFailed
)

type queued struct {
	cmd events.Command
	job *job
}

// moderation is the outbox and the jobs it serves. It is shared by the
// Model's copies (a pointer), like the other caches.
type moderation struct {
	next     int
	queue    []queued
	inFlight map[string]queued // command id → the command and its job
	jobs     []*job            // newest last; finished ones leave after noticeFor
	tokens   float64
	refilled time.Time
	ticking  bool // a sendTickMsg is on its way
	// info is a one-off line (copied, cancelled, refused) with its expiry.
	info     string
	infoKind noticeKind
	infoTill time.Time
}

func newModeration() *moderation {
	return &moderation{inFlight: map[string]queued{}, tokens: sendBurst}
}

// sendTickMsg asks for another look at the queue once the pace allows.
type sendTickMsg struct{}

// sentMsg is Send's outcome for one command: an error means it never left.
type sentMsg struct {
	id  string
	err error
}

// start queues a job's commands and sends what the pace allows now.
func (m *Model) start(j *job, cmds ...events.Command) tea.Cmd {
	md := m.mod
	j.total, j.touched = len(cmds), m.clock()
	md.jobs = append(md.jobs, j)
	for _, c := range cmds {
		md.next++
		c.Type, c.ID = events.FrameCommand, "g"+strconv.Itoa(md.next)
		md.queue = append(md.queue, queued{cmd: c, job: j})
	}
	return m.pump()
}

// pump sends queued commands while the pace and the in-flight limit allow,
// and schedules itself again if some must wait.
func (m *Model) pump() tea.Cmd {
	md := m.mod
	now := m.clock()
	if !md.refilled.IsZero() {
		md.tokens = min(sendBurst, md.tokens+float64(now.Sub(md.refilled))/float64(sendEvery))
	}
	md.refilled = now
	var cmds []tea.Cmd
	for len(md.queue) > 0 && len(md.inFlight) < maxInFlight && md.tokens >= 1 {
		q := md.queue[0]
		md.queue = md.queue[1:]
		md.tokens--
		md.inFlight[q.cmd.ID] = q
		cmds = append(cmds, sendCmd(m.cmdr, q.cmd))
	}
	// Waiting on the pace needs a tick; waiting on answers does not (each
	// answer pumps again).
	if len(md.queue) > 0 && len(md.inFlight) < maxInFlight && !md.ticking {
		md.ticking = true
		cmds = append(cmds, tea.Tick(sendEvery, func(time.Time) tea.Msg { return sendTickMsg{} }))
	}
	return tea.Batch(cmds...)
}

func sendCmd(c Commander, cmd events.Command) tea.Cmd {
	return func() tea.Msg {
		if c == nil {
			return sentMsg{id: cmd.ID, err: relayclient.ErrNotConnected}
		}
		return sentMsg{id: cmd.ID, err: c.Send(cmd)}
	}
}

// answered records one command's outcome.
func (m *Model) answered(id string, ok bool, errText string, data json.RawMessage) tea.Cmd {
	md := m.mod
	q, found := md.inFlight[id]
	if !found {
		return nil // not ours, or already failed when the link dropped
	}
	delete(md.inFlight, id)
	var cmd tea.Cmd
	if ok {
		cmd = m.succeeded(q.job, data)
	} else {
		m.failed(q.job, errText)
	}
	return tea.Batch(cmd, m.pump())
}

func (m *Model) succeeded(j *job, data json.RawMessage) tea.Cmd {
	j.ok++
	j.touched = m.clock()
	if j.unpublish != nil {
		j.unpublish.waiting, j.unpublish.since = true, j.touched
	}
	var cmd tea.Cmd
	if j.onOK != nil {
		cmd = j.onOK(m, data)
	}
	m.settle(j)
	return cmd
}

func (m *Model) failed(j *job, errText string) {
	j.failed++
	j.touched = m.clock()
	if j.firstErr == "" {
		j.firstErr = errText
	}
	m.settle(j)
}

// settle marks a job finished once every command is answered (an
// unpublish waits on for its stream).
func (m *Model) settle(j *job) {
	if j.done() && (j.unpublish == nil || !j.unpublish.waiting) {
		j.finished = true
	}
}

// results folds in the relay's answers from a batch.
func (m *Model) results(rs []events.Result) tea.Cmd {
	var cmds []tea.Cmd
	for _, r := range rs {
		if m.heldResult(r) {
			continue
		}
		if ok, cmd := m.replayResult(r); ok {
			cmds = append(cmds, cmd)
			continue
		}
		if !r.OK && r.Error != nil && r.Error.Status == 429 {
			// Over the relay's rate after all (another console of the
			// same token): send it again once the pace allows.
			if q, ok := m.mod.inFlight[r.ID]; ok {
				delete(m.mod.inFlight, r.ID)
				m.mod.tokens = 0
				m.mod.queue = append([]queued{q}, m.mod.queue...)
				cmds = append(cmds, m.pump())
				continue
			}
		}
		msg := ""
		if r.Error != nil {
			msg = r.Error.Message
		}
		cmds = append(cmds, m.answered(r.ID, r.OK, msg, r.Data))
	}
	return tea.Batch(cmds...)
}

// sent handles a command that could not be sent at all.
func (m *Model) sent(msg sentMsg) tea.Cmd {
	if msg.err == nil {
		return nil
	}
	if msg.id == m.rp.pending {
		m.rp.pending = ""
		m.flash = "✗ replay: not asked — the relay link is down"
		return nil
	}
	text := msg.err.Error()
	if errors.Is(msg.err, relayclient.ErrNotConnected) {
		text = "not sent: the relay link is down"
	}
	return m.answered(msg.id, false, text, nil)
}

// linkLost fails what the relay can no longer answer: a result lost with
// the connection never comes, so saying nothing would leave it pending
// for ever. Whether an in-flight command happened is in :audit.
func (m *Model) linkLost() {
	md := m.mod
	// Take both out before failing anything: nothing may be sent (or
	// pumped into flight) on the way.
	inFlight, queue := md.inFlight, md.queue
	md.inFlight, md.queue = map[string]queued{}, nil
	for _, q := range inFlight {
		m.failed(q.job, "the relay link dropped before it answered — :audit shows whether it happened")
	}
	for _, q := range queue {
		m.failed(q.job, "not sent: the relay link is down")
	}
}

// watchUnpublish settles unpublish requests: done when the stream has
// left, and after unpublishWait the console offers mute or disconnect.
func (m *Model) watchUnpublish() {
	now := m.clock()
	for _, j := range m.mod.jobs {
		w := j.unpublish
		if w == nil || !w.waiting || j.finished {
			continue
		}
		if _, live := m.liveStream(w.session, w.stream); !live {
			w.waiting, j.finished, j.touched = false, true, now
			j.past, j.what = "unpublished", w.streamLabel
			continue
		}
		// The offer waits while the moderator is typing into something
		// else: keys meant for a form or the filter must not answer it.
		if now.Sub(w.since) >= unpublishWait && !m.overlay.busy() {
			w.waiting, j.finished, j.touched = false, true, now
			j.failed, j.ok = 1, 0
			j.verb, j.what = "unpublish", w.streamLabel
			j.firstErr = fmt.Sprintf("still published after %s (the app may not honour gavel-unpublish)", unpublishWait)
			m.offerAfterUnpublish(w)
		}
	}
}

// liveStream finds a live stream in the latest picture.
func (m *Model) liveStream(session, stream string) (events.StreamState, bool) {
	if i, ok := findSession(m.all, session); ok {
		for _, st := range m.all[i].Streams {
			if st.ID == stream {
				return st, true
			}
		}
	}
	return events.StreamState{}, false
}

// pending counts the jobs still waiting for the relay (or a stream).
func (md *moderation) pending() int {
	n := 0
	for _, j := range md.jobs {
		if !j.finished {
			n++
		}
	}
	return n
}

// say shows a one-off line (not a job) for noticeFor.
func (m *Model) say(kind noticeKind, text string) {
	m.mod.info, m.mod.infoKind, m.mod.infoTill = text, kind, m.clock().Add(noticeFor)
}

// notice is the footer's moderation line: what changed last — a job
// started, answered or ended, or a one-off line — with a count of the
// other jobs still pending; "" when there is nothing recent. A job ended
// or a line said more than noticeFor ago is forgotten; a pending one
// stays.
func (m *Model) notice() (string, noticeKind) {
	md := m.mod
	now := m.clock()
	keep := md.jobs[:0]
	for _, j := range md.jobs {
		if !j.finished || now.Sub(j.touched) < noticeFor {
			keep = append(keep, j)
		}
	}
	clear(md.jobs[len(keep):])
	md.jobs = keep
	var last *job
	for _, j := range md.jobs {
		if last == nil || !j.touched.Before(last.touched) {
			last = j
		}
	}
	var text string
	kind := noticeInfo
	others := md.pending()
	infoAt := md.infoTill.Add(-noticeFor)
	switch {
	case md.info != "" && now.Before(md.infoTill) && (last == nil || !infoAt.Before(last.touched)):
		text, kind = md.info, md.infoKind
	case last != nil:
		text, kind = last.line()
		if !last.finished {
			others-- // the one shown
		}
	default:
		return "", noticeInfo
	}
	if others > 0 {
		text += fmt.Sprintf(" (+%d pending)", others)
	}
	return text, kind
}
