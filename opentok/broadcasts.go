package opentok

// BroadcastsService streams sessions live over HLS and RTMP.
type BroadcastsService service
