package opentoktest

import (
	"errors"
	"fmt"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// Errors a participant's action can fail with, as the client SDKs report them.
var (
	ErrNotConnected = errors.New("participant is not connected")
	ErrForbidden    = errors.New("the token's role does not allow this")
	ErrNoSuchStream = errors.New("no such stream in the session")
	ErrNoSuchClient = errors.New("no such connection in the session")
)

// UnpublishSignalType is the signal gavel sends to ask a publisher to stop
// publishing a stream (the REST API has no force-unpublish); the data is the
// stream ID. Simulated participants honour it, as a cooperating app would.
const UnpublishSignalType = "gavel-unpublish"

// unpublishDelay is how long a cooperating client takes to act on a
// gavel-unpublish signal, in service time.
const unpublishDelay = 200 * time.Millisecond

// Participant is a simulated client connected to a session with a client
// token. Its methods are what a client SDK does; each one emits the
// callbacks the service would.
type Participant struct {
	srv          *Server
	conn         *connection
	sessionID    string
	connectionID string
	role         opentok.Role

	// Guarded by srv.mu.
	gone          string // disconnect reason; "" while connected
	signals       []Signal
	subscriptions map[string]bool
	// IgnoreUnpublishRequests makes the participant deaf to gavel-unpublish,
	// like an app that never wired it up. Set it before the signal arrives.
	ignoreUnpublish bool
}

// Signal is a signal a participant received. From is "" for signals sent
// through the REST API (the server).
type Signal struct {
	Type string
	Data string
	From string
}

// PublishOptions describe a stream. The zero value is a camera with audio.
type PublishOptions struct {
	Name      string
	VideoType string // "camera" (default), "screen", "custom", or AudioOnly
	NoAudio   bool
}

// AudioOnly as a VideoType publishes no video: the callbacks then carry no videoType.
const AudioOnly = "none"

// Join connects a participant to a session with a client token, validated
// as the service validates it at session.connect: signature, expiry, role,
// and that the token was minted for this session of this project.
func (s *Server) Join(sessionID, token string) (*Participant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	ct, err := s.parseClientToken(token, now)
	if err != nil {
		return nil, err
	}
	if ct.sessionID != sessionID {
		return nil, tokenErrorf("token is for session %q, not %q", ct.sessionID, sessionID)
	}
	sess, ok := s.st.sessions[sessionID]
	if !ok {
		return nil, tokenErrorf("session %q was never created", sessionID)
	}
	if sess.owner.id != ct.owner.id {
		return nil, tokenErrorf("session %q belongs to another project", sessionID)
	}
	c := &connection{id: newUUID(s.rng), sess: sess, data: ct.data, role: ct.role, createdAt: now.UnixMilli(), streams: map[string]*stream{}}
	p := &Participant{srv: s, conn: c, sessionID: sessionID, connectionID: c.id, role: ct.role, subscriptions: map[string]bool{}}
	c.p = p
	s.addConnection(c)
	return p, nil
}

// ConnectionID is the participant's connection ID, as callbacks carry it.
func (p *Participant) ConnectionID() string { return p.connectionID }

// SessionID is the session the participant joined.
func (p *Participant) SessionID() string { return p.sessionID }

// Role is the role its token granted.
func (p *Participant) Role() opentok.Role { return p.role }

// Connected reports whether the participant is still in the session, and
// if not, the reason its connection was destroyed with.
func (p *Participant) Connected() (bool, string) {
	p.srv.mu.Lock()
	defer p.srv.mu.Unlock()
	return p.gone == "", p.gone
}

// Signals returns the signals received so far.
func (p *Participant) Signals() []Signal {
	p.srv.mu.Lock()
	defer p.srv.mu.Unlock()
	return append([]Signal(nil), p.signals...)
}

// IgnoreUnpublishRequests makes the participant ignore gavel-unpublish
// signals, like an app that does not implement them.
func (p *Participant) IgnoreUnpublishRequests() {
	p.srv.mu.Lock()
	defer p.srv.mu.Unlock()
	p.ignoreUnpublish = true
}

// Streams returns the IDs of the streams the participant publishes.
func (p *Participant) Streams() []string {
	p.srv.mu.Lock()
	defer p.srv.mu.Unlock()
	ids := make([]string, 0, len(p.conn.streams))
	for id := range p.conn.streams {
		ids = append(ids, id)
	}
	return ids
}

// Publish starts a stream and returns its ID. Subscribers cannot publish.
func (p *Participant) Publish(opts PublishOptions) (string, error) {
	s := p.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.gone != "" {
		return "", ErrNotConnected
	}
	if p.role == opentok.RoleSubscriber {
		return "", fmt.Errorf("publish: %w (role %s)", ErrForbidden, p.role)
	}
	vt := opts.VideoType
	switch vt {
	case "":
		vt = "camera"
	case "camera", "screen", "custom":
	case AudioOnly:
		vt = ""
	default:
		return "", fmt.Errorf("publish: video type %q: expected camera, screen, custom or %q", vt, AudioOnly)
	}
	x := &stream{id: newUUID(s.rng), conn: p.conn, name: opts.Name, videoType: vt, hasAudio: !opts.NoAudio, hasVideo: vt != "",
		layoutClasses: []string{}, createdAt: s.nowMillis()}
	s.addStream(x)
	return x.id, nil
}

// Unpublish stops one of the participant's streams (reason clientDisconnected).
func (p *Participant) Unpublish(streamID string) error {
	return p.endOwnStream(streamID, ReasonClientDisconnected)
}

// StopScreenShare ends a screen-share stream the way a user closing the
// browser's sharing bar does (reason mediaStopped).
func (p *Participant) StopScreenShare(streamID string) error {
	return p.endOwnStream(streamID, ReasonMediaStopped)
}

func (p *Participant) endOwnStream(streamID, reason string) error {
	s := p.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.gone != "" {
		return ErrNotConnected
	}
	x, ok := p.conn.streams[streamID]
	if !ok {
		return fmt.Errorf("unpublish %s: %w", streamID, ErrNoSuchStream)
	}
	if reason == ReasonMediaStopped && x.videoType != "screen" {
		return fmt.Errorf("stop screen share %s: the stream is not a screen share", streamID)
	}
	s.removeStream(x, reason)
	return nil
}

// Leave disconnects cleanly (reason clientDisconnected).
func (p *Participant) Leave() error { return p.disconnect(ReasonClientDisconnected) }

// DropNetwork loses the network abruptly (reason networkDisconnected).
func (p *Participant) DropNetwork() error { return p.disconnect(ReasonNetworkDisconnected) }

func (p *Participant) disconnect(reason string) error {
	s := p.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.gone != "" {
		return ErrNotConnected
	}
	s.removeConnection(p.conn, reason)
	return nil
}

// Subscribe subscribes to a stream. publisheronly clients cannot subscribe.
func (p *Participant) Subscribe(streamID string) error {
	s := p.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.gone != "" {
		return ErrNotConnected
	}
	if p.role == opentok.RolePublisherOnly {
		return fmt.Errorf("subscribe: %w (role %s)", ErrForbidden, p.role)
	}
	if _, ok := p.conn.sess.streams[streamID]; !ok {
		return fmt.Errorf("subscribe %s: %w", streamID, ErrNoSuchStream)
	}
	p.subscriptions[streamID] = true
	return nil
}

// ForceDisconnect removes another connection; moderators only.
func (p *Participant) ForceDisconnect(connectionID string) error {
	s := p.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := p.moderate("force disconnect"); err != nil {
		return err
	}
	c, ok := p.conn.sess.conns[connectionID]
	if !ok {
		return fmt.Errorf("force disconnect %s: %w", connectionID, ErrNoSuchClient)
	}
	s.removeConnection(c, ReasonForceDisconnected)
	return nil
}

// ForceUnpublish stops another client's stream; moderators only.
func (p *Participant) ForceUnpublish(streamID string) error {
	s := p.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := p.moderate("force unpublish"); err != nil {
		return err
	}
	x, ok := p.conn.sess.streams[streamID]
	if !ok {
		return fmt.Errorf("force unpublish %s: %w", streamID, ErrNoSuchStream)
	}
	s.removeStream(x, ReasonForceUnpublished)
	return nil
}

func (p *Participant) moderate(action string) error {
	if p.gone != "" {
		return ErrNotConnected
	}
	if p.role != opentok.RoleModerator {
		return fmt.Errorf("%s: %w (role %s)", action, ErrForbidden, p.role)
	}
	return nil
}

// deliver hands a signal to the participant; called with srv.mu held. A
// gavel-unpublish naming one of its streams is honoured shortly after, as
// a cooperating app would (session.unpublish → clientDisconnected).
func (p *Participant) deliver(sig Signal) {
	p.signals = append(p.signals, sig)
	if sig.Type != UnpublishSignalType || p.ignoreUnpublish {
		return
	}
	streamID := sig.Data
	if _, ok := p.conn.streams[streamID]; !ok {
		return
	}
	p.srv.after(unpublishDelay, func() {
		if x, ok := p.conn.streams[streamID]; ok && p.gone == "" {
			p.srv.removeStream(x, ReasonClientDisconnected)
		}
	})
}
