package opentok

// CaptionsService runs live captions.
type CaptionsService service
