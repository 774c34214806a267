package opentoktest

// integrationStore holds SIP calls, renders, audio connections and captions.
type integrationStore struct{}

func newIntegrationStore() integrationStore { return integrationStore{} }

func (s *Server) integrationRoutes(handle func(pattern string, h handler)) {}
