package opentoktest

// mediaState holds what the service keeps beside sessions: archives and
// broadcasts (compositions.go) and SIP calls, renders, audio connections and
// captions (integrations.go).
type mediaState struct {
	compositions compositionStore
	integrations integrationStore
}

func newMediaState() mediaState {
	return mediaState{compositions: newCompositionStore(), integrations: newIntegrationStore()}
}

// mediaRoutes adds the archive, broadcast, SIP, render, audio connector and
// captions endpoints.
func (s *Server) mediaRoutes(handle func(pattern string, h handler)) {
	s.compositionRoutes(handle)
	s.integrationRoutes(handle)
}

// publishersChanged is called (with s.mu held) after a stream is created or
// destroyed, so archives can pause, resume or start (archiveMode always).
func (s *Server) publishersChanged(sess *session) { s.compositionsPublishersChanged(sess) }

// sessionEmptied is called (with s.mu held) when a session's last
// connection leaves, so archives and broadcasts can stop on their own.
func (s *Server) sessionEmptied(sess *session) { s.compositionsSessionEmptied(sess) }
