package opentok

// AudioConnectorService streams session audio to WebSocket servers.
type AudioConnectorService service
