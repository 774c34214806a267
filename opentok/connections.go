package opentok

// ConnectionsService lists a session's connections.
type ConnectionsService service
