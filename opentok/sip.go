package opentok

// SIPService dials SIP endpoints into sessions.
type SIPService service
