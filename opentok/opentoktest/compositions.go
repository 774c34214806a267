package opentoktest

// compositionStore holds archives and broadcasts.
type compositionStore struct{}

func newCompositionStore() compositionStore { return compositionStore{} }

func (s *Server) compositionRoutes(handle func(pattern string, h handler)) {}

func (s *Server) compositionsPublishersChanged(sess *session) {}

func (s *Server) compositionsSessionEmptied(sess *session) {}
