package opentok

// ModerationService force disconnect, force mute, mute all and DTMF.
type ModerationService service
