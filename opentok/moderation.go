package opentok

import (
	"context"
	"fmt"
	"net/http"
)

// ModerationService force disconnect, force mute, mute all and DTMF.
//
// There is no REST force-unpublish and no unmute (the Moderation REST guide:
// https://developer.vonage.com/en/video/guides/moderation/rest; the Video API REST
// reference: https://developer.vonage.com/en/api/video): to take one stream off the air,
// mute it or disconnect its connection.
type ModerationService service

// ForceDisconnect removes a client from the session. It is retried on
// transient failures: disconnecting twice does no more than disconnecting once
// (a repeat may answer 404, the connection being gone).
func (s *ModerationService) ForceDisconnect(ctx context.Context, sessionID, connectionID string) error {
	const op = "force disconnect"
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return err
	}
	if err := requireID(op, "connectionId", connectionID); err != nil {
		return err
	}
	return s.client.do(ctx, endpoint{
		op:         op,
		method:     http.MethodDelete,
		path:       s.client.projectPath("session", sessionID, "connection", connectionID),
		idempotent: true,
		goneIsDone: true,
		meanings: map[int]string{
			http.StatusBadRequest: "invalid session or connection ID",
			http.StatusNotFound:   "that connection is not connected to the session",
		},
	}, nil)
}

// MuteStream forces one stream's published audio off. The publisher can turn
// it back on; the service has no unmute.
func (s *ModerationService) MuteStream(ctx context.Context, sessionID, streamID string) error {
	const op = "mute stream"
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return err
	}
	if err := requireID(op, "streamId", streamID); err != nil {
		return err
	}
	// No body: the Vonage SDKs send none. The reply body differs between
	// sources (empty, {"code":200,…}, a project object) and is ignored.
	return s.client.do(ctx, endpoint{
		op:         op,
		method:     http.MethodPost,
		path:       s.client.projectPath("session", sessionID, "stream", streamID, "mute"),
		idempotent: true,
		meanings: map[int]string{
			http.StatusBadRequest:     "invalid session or stream ID",
			http.StatusNotFound:       "no such stream in the session",
			http.StatusRequestTimeout: "no such stream in the session",
		},
	}, nil)
}

// muteAllRequest is the mute-all body. Excluded is a pointer so that
// "active":true always carries a list ([] when empty) while "active":false
// carries none, as the moderation guide shows both.
type muteAllRequest struct {
	Active   bool      `json:"active"`
	Excluded *[]string `json:"excludedStreamIds,omitempty"`
}

// setMuteAll posts the session's mute-all state. Both directions are safe to
// repeat: they set a state rather than toggle it.
func (s *ModerationService) setMuteAll(ctx context.Context, op, sessionID string, body muteAllRequest) error {
	return s.client.do(ctx, endpoint{
		op:         op,
		method:     http.MethodPost,
		path:       s.client.projectPath("session", sessionID, "mute"),
		body:       body,
		idempotent: true,
		meanings: map[int]string{
			http.StatusBadRequest: "the service refused the mute request",
			http.StatusNotFound:   "the session does not exist",
		},
	}, nil)
}

// MuteAll forces the audio of every stream in the session off, except
// excludedStreamIDs, and keeps muting streams published later until
// DisableMuteAll. It sends the documented key excludedStreamIds with a
// boolean active, not the variants some SDKs send.
func (s *ModerationService) MuteAll(ctx context.Context, sessionID string, excludedStreamIDs []string) error {
	const op = "mute all"
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return err
	}
	excluded := make([]string, 0, len(excludedStreamIDs))
	for i, id := range excludedStreamIDs {
		if err := requireID(op, fmt.Sprintf("excludedStreamIds[%d]", i), id); err != nil {
			return err
		}
		excluded = append(excluded, id)
	}
	return s.setMuteAll(ctx, op, sessionID, muteAllRequest{Active: true, Excluded: &excluded})
}

// DisableMuteAll ends the session's mute-all state so that streams published
// from now on keep their audio. It does NOT unmute streams that are already
// muted: the service has no unmute, only their publishers can turn audio back on.
func (s *ModerationService) DisableMuteAll(ctx context.Context, sessionID string) error {
	const op = "disable mute all"
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return err
	}
	return s.setMuteAll(ctx, op, sessionID, muteAllRequest{Active: false})
}

// dtmfRequest is the play-dtmf body: {"digits":"1p2#"}.
type dtmfRequest struct {
	Digits string `json:"digits"`
}

// validDTMF reports whether digits holds only 0-9, '*', '#' and 'p' (a
// 500 ms pause), the characters the service plays.
func validDTMF(digits string) bool {
	for _, r := range digits {
		if !(r >= '0' && r <= '9' || r == '*' || r == '#' || r == 'p') {
			return false
		}
	}
	return true
}

// PlayDTMF plays DTMF tones into the session's SIP calls: to every
// connection when connectionID is "", or to that connection only. It is never
// retried: a retry could play the digits twice.
func (s *ModerationService) PlayDTMF(ctx context.Context, sessionID, connectionID, digits string) error {
	const op = "play DTMF"
	if err := requireID(op, "sessionId", sessionID); err != nil {
		return err
	}
	switch {
	case digits == "":
		return invalid(op, "digits", "is required")
	case !validDTMF(digits):
		return invalid(op, "digits", "only 0-9, '*', '#' and 'p' (pause) are allowed (got %q)", digits)
	}
	ep := endpoint{
		op:     op,
		method: http.MethodPost,
		body:   dtmfRequest{Digits: digits},
		meanings: map[int]string{
			http.StatusBadRequest: "the service refused the digits",
			http.StatusNotFound:   "the session does not exist",
		},
	}
	if connectionID == "" {
		ep.path = s.client.projectPath("session", sessionID, "play-dtmf")
	} else {
		if err := requireID(op, "connectionId", connectionID); err != nil {
			return err
		}
		ep.path = s.client.projectPath("session", sessionID, "connection", connectionID, "play-dtmf")
		ep.meanings[http.StatusNotFound] = "that connection is not connected to the session"
	}
	return s.client.do(ctx, ep, nil)
}
