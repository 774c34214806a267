package opentoktest

// CallbackGroup names a kind of callback, each with its own registered URL,
// as the Video API dashboard has one URL per kind.
type CallbackGroup string

const (
	GroupSession   CallbackGroup = "session"   // sessionCreated, connectionCreated, streamCreated, …
	GroupArchive   CallbackGroup = "archive"   // archive status changes
	GroupBroadcast CallbackGroup = "broadcast" // broadcast status changes
	GroupSIP       CallbackGroup = "sip"       // callCreated, callUpdated, callDestroyed, muteForced
	GroupRender    CallbackGroup = "render"    // Experience Composer status
	GroupCaptions  CallbackGroup = "captions"  // live captions status
)

// callback is one POST the emulator owes a receiver: the exact body bytes,
// built once, so a retry or a duplicate sends the same bytes and the same
// payload_hash.
type callback struct {
	group     CallbackGroup
	url       string // where to POST; the group's registered URL or a per-request statusCallbackUrl
	sessionID string // keeps one session's callbacks in order on one worker
	owner     owner  // the project whose callback it is: names it in a signed callback's claims
	body      []byte
}

// claimsOwner gives a signed callback's api_key or application_id claim
// from the project that owns it.
func claimsOwner(cb callback) (apiKey, appID string) {
	if cb.owner.application {
		return "", cb.owner.id
	}
	return cb.owner.id, ""
}
