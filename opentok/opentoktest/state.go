package opentoktest

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/gavelhq/gavel/opentok"
)

// state is the service's world. Every field is guarded by Server.mu.
type state struct {
	sessions map[string]*session
	media    mediaState // archives, broadcasts, SIP, renders, audio connector, captions
}

func newState() *state {
	return &state{sessions: map[string]*session{}, media: newMediaState()}
}

type session struct {
	id                string
	owner             owner
	routed            bool
	archiveMode       string // manual or always
	archiveName       string
	archiveResolution string
	e2ee              bool
	location          string
	createdAt         int64

	// live is true between sessionCreated (first connection) and
	// sessionDestroyed (last connection gone); a session can live again.
	live    bool
	conns   map[string]*connection
	streams map[string]*stream

	// hadStreams: the stream list answers 404 until the first stream.
	hadStreams bool

	// muteAll mutes every stream published while it is on, except muteExcept.
	muteAll    bool
	muteExcept map[string]bool
}

type connection struct {
	id        string
	sess      *session
	data      string
	role      opentok.Role
	createdAt int64
	streams   map[string]*stream
	p         *Participant
}

type stream struct {
	id            string
	conn          *connection
	name          string
	videoType     string // camera, screen, custom; "" for audio-only
	hasAudio      bool
	hasVideo      bool
	audioMuted    bool // force-muted by a moderator or mute-all
	layoutClasses []string
	createdAt     int64
}

// owner is the project a REST call or token acts for.
type owner struct {
	id          string // API key or application ID
	application bool
}

func (s *session) publishers() int {
	n := 0
	for _, c := range s.conns {
		if len(c.streams) > 0 {
			n++
		}
	}
	return n
}

// newSessionID builds an ID in the service's format (session IDs as opentok-node's test
// helpers decode them:
// https://github.com/opentok/opentok-node/blob/main/test/helpers.js), so DecodeSessionID
// and the SDKs' project checks work on it.
func newSessionID(rng *rand.Rand, projectID, location string, createdMs int64) string {
	var random [18]byte
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	raw := fmt.Sprintf("1~%s~%s~%d~%s~P~~", projectID, location, createdMs, base64.StdEncoding.EncodeToString(random[:]))
	return "1_" + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// newUUID is a version-4 UUID from the seeded generator, so a seeded
// emulator hands out the same IDs every run.
func newUUID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// SessionState is the emulator's ground truth about one session, for tests
// that compare what a consumer of callbacks reconstructed.
type SessionState struct {
	ID          string
	ProjectID   string
	Routed      bool
	ArchiveMode string
	Live        bool
	MuteAll     bool
	Connections []ConnectionState // by creation time, then ID
	Streams     []StreamState     // by creation time, then ID
}

// ConnectionState is one live connection.
type ConnectionState struct {
	ID        string
	Data      string
	Role      opentok.Role
	CreatedAt int64 // ms
}

// StreamState is one live stream.
type StreamState struct {
	ID           string
	ConnectionID string
	Name         string
	VideoType    string // "" for audio-only
	HasAudio     bool
	HasVideo     bool
	AudioMuted   bool
	CreatedAt    int64 // ms
}

// Session returns the ground truth for one session.
func (s *Server) Session(id string) (SessionState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.st.sessions[id]
	if !ok {
		return SessionState{}, false
	}
	return sess.snapshot(), true
}

// Sessions returns the ground truth for every session created so far,
// ordered by ID.
func (s *Server) Sessions() []SessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SessionState, 0, len(s.st.sessions))
	for _, sess := range s.st.sessions {
		out = append(out, sess.snapshot())
	}
	slices.SortFunc(out, func(a, b SessionState) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *session) snapshot() SessionState {
	st := SessionState{ID: s.id, ProjectID: s.owner.id, Routed: s.routed, ArchiveMode: s.archiveMode, Live: s.live, MuteAll: s.muteAll}
	for _, c := range s.conns {
		st.Connections = append(st.Connections, ConnectionState{ID: c.id, Data: c.data, Role: c.role, CreatedAt: c.createdAt})
	}
	for _, x := range s.streams {
		st.Streams = append(st.Streams, StreamState{ID: x.id, ConnectionID: x.conn.id, Name: x.name, VideoType: x.videoType,
			HasAudio: x.hasAudio, HasVideo: x.hasVideo, AudioMuted: x.audioMuted, CreatedAt: x.createdAt})
	}
	slices.SortFunc(st.Connections, func(a, b ConnectionState) int {
		if a.CreatedAt != b.CreatedAt {
			return int(a.CreatedAt - b.CreatedAt)
		}
		return strings.Compare(a.ID, b.ID)
	})
	slices.SortFunc(st.Streams, func(a, b StreamState) int {
		if a.CreatedAt != b.CreatedAt {
			return int(a.CreatedAt - b.CreatedAt)
		}
		return strings.Compare(a.ID, b.ID)
	})
	return st
}
