package opentok

import (
	"context"
	"net/http"
	"strconv"
	"strings"
)

// BroadcastsService streams sessions live over HLS and RTMP.
type BroadcastsService service

// BroadcastOptions are the fields of broadcast start. SessionID and at least
// one output are required; other zero values leave the service default and
// are not sent.
type BroadcastOptions struct {
	SessionID string `json:"sessionId"`
	// Layout arranges the broadcast; nil leaves the service default (bestFit).
	Layout  *Layout          `json:"layout,omitempty"`
	Outputs BroadcastOutputs `json:"outputs"`
	// Resolution is one of Resolutions.
	Resolution string `json:"resolution,omitempty"`
	// MaxDuration stops the broadcast after this many seconds.
	MaxDuration int `json:"maxDuration,omitempty"`
	// MaxBitrate caps the video bitrate, in bits/s.
	MaxBitrate int `json:"maxBitrate,omitempty"`
	// StreamMode is StreamModeAuto when empty; StreamModeManual broadcasts
	// take streams from AddStream.
	StreamMode StreamMode `json:"streamMode,omitempty"`
	// MultiBroadcastTag lets one session have several broadcasts at once,
	// each with its own tag.
	MultiBroadcastTag string `json:"multiBroadcastTag,omitempty"`
	// HasAudio and HasVideo default to true when nil.
	HasAudio *bool `json:"hasAudio,omitempty"`
	HasVideo *bool `json:"hasVideo,omitempty"`
}

// BroadcastOutputs are where a broadcast goes: an HLS playlist the service
// hosts, RTMP servers (at most MaxBroadcastRTMPOutputs), or both.
type BroadcastOutputs struct {
	HLS  *HLSOutput   `json:"hls,omitempty"`
	RTMP []RTMPOutput `json:"rtmp,omitempty"`
}

// HLSOutput asks for an HLS playlist. DVR (viewers can rewind) and
// LowLatency cannot both be set.
type HLSOutput struct {
	DVR        bool `json:"dvr,omitempty"`
	LowLatency bool `json:"lowLatency,omitempty"`
}

// RTMPOutput is one RTMP server to push the broadcast to.
type RTMPOutput struct {
	// ID is a label of your choosing, echoed in the broadcast's RTMP status.
	ID         string `json:"id,omitempty"`
	ServerURL  string `json:"serverUrl"`  // e.g. rtmp://a.rtmp.youtube.com/live2
	StreamName string `json:"streamName"` // the stream key
}

func (o BroadcastOptions) validate() error {
	const op = "broadcast start"
	if err := requireID(op, "sessionId", o.SessionID); err != nil {
		return err
	}
	if o.Outputs.HLS == nil && len(o.Outputs.RTMP) == 0 {
		return invalid(op, "outputs", "at least one of hls or rtmp is required")
	}
	if h := o.Outputs.HLS; h != nil && h.DVR && h.LowLatency {
		return invalid(op, "outputs.hls.lowLatency", "cannot be combined with dvr")
	}
	if n := len(o.Outputs.RTMP); n > MaxBroadcastRTMPOutputs {
		return invalid(op, "outputs.rtmp", "at most %d RTMP outputs (got %d)", MaxBroadcastRTMPOutputs, n)
	}
	for i, r := range o.Outputs.RTMP {
		field := "outputs.rtmp[" + strconv.Itoa(i) + "]."
		if strings.TrimSpace(r.ServerURL) == "" {
			return invalid(op, field+"serverUrl", "is required")
		}
		if strings.TrimSpace(r.StreamName) == "" {
			return invalid(op, field+"streamName", "is required")
		}
	}
	if err := checkResolution(op, o.Resolution); err != nil {
		return err
	}
	if o.MaxDuration < 0 {
		return invalid(op, "maxDuration", "must not be negative (got %d)", o.MaxDuration)
	}
	if o.MaxBitrate < 0 {
		return invalid(op, "maxBitrate", "must not be negative (got %d)", o.MaxBitrate)
	}
	if err := o.StreamMode.validate(op); err != nil {
		return err
	}
	if o.Layout != nil {
		if err := o.Layout.validate(op, "layout."); err != nil {
			return err
		}
	}
	return nil
}

// BroadcastStatus is where a broadcast is in its life.
type BroadcastStatus string

const (
	BroadcastStarted BroadcastStatus = "started" // streaming to its outputs
	BroadcastStopped BroadcastStatus = "stopped" // ended; the outputs no longer receive media
	// BroadcastFailed is reported by broadcast callbacks after a media failure (the callback
	// reference: https://tokbox.com/developer/callbacks/); REST replies were only seen with
	// started/stopped.
	BroadcastFailed BroadcastStatus = "failed"
)

// Broadcast is a live-streaming broadcast as the REST API describes it.
type Broadcast struct {
	ID        string `json:"id"`
	SessionID string `json:"sessionId"`
	// The owning project: ProjectID (legacy; older replies add PartnerID)
	// or ApplicationID (unified).
	ProjectID     OwnerID `json:"projectId,omitempty"`
	PartnerID     OwnerID `json:"partnerId,omitempty"`
	ApplicationID string  `json:"applicationId,omitempty"`
	// CreatedAt and UpdatedAt are milliseconds since the Unix epoch.
	CreatedAt         int64             `json:"createdAt"`
	UpdatedAt         int64             `json:"updatedAt,omitempty"`
	Status            BroadcastStatus   `json:"status"`
	MaxDuration       int               `json:"maxDuration,omitempty"` // seconds
	MaxBitrate        int               `json:"maxBitrate,omitempty"`  // bits/s
	Resolution        string            `json:"resolution,omitempty"`
	StreamMode        StreamMode        `json:"streamMode,omitempty"`
	MultiBroadcastTag string            `json:"multiBroadcastTag,omitempty"`
	HasAudio          bool              `json:"hasAudio"`
	HasVideo          bool              `json:"hasVideo"`
	Settings          BroadcastSettings `json:"settings"`
	BroadcastURLs     BroadcastURLs     `json:"broadcastUrls"`
	Event             string            `json:"event,omitempty"` // "broadcast" in unified replies and callbacks
}

// BroadcastSettings echo the HLS options the broadcast was started with.
type BroadcastSettings struct {
	HLS *HLSOutput `json:"hls,omitempty"`
}

// BroadcastURLs say where viewers find the broadcast and how each output is doing.
type BroadcastURLs struct {
	HLS string `json:"hls,omitempty"` // the playlist URL
	// HLSStatus is connecting, ready, live, ended or error.
	HLSStatus string       `json:"hlsStatus,omitempty"`
	RTMP      []RTMPStatus `json:"rtmp,omitempty"`
}

// RTMPStatus is one RTMP output and its state.
type RTMPStatus struct {
	ID         string `json:"id,omitempty"`
	ServerURL  string `json:"serverUrl"`
	StreamName string `json:"streamName"`
	// Status is connecting, live or offline.
	Status string `json:"status"`
}

// BroadcastList is one page of broadcasts, newest first.
type BroadcastList struct {
	Count int         `json:"count"` // broadcasts in the project (or session), not on this page
	Items []Broadcast `json:"items"`
}

// Start begins a broadcast. It is never retried: a retry could start a
// second one.
func (s *BroadcastsService) Start(ctx context.Context, opts BroadcastOptions) (*Broadcast, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	busy := "the session is already being broadcast — give each simultaneous broadcast its own multiBroadcastTag"
	return startComposition[Broadcast](ctx, s.client, compositionBroadcast, opts, map[int]string{
		http.StatusBadRequest: "the service refused the broadcast options",
	}, startConflict("the session is relayed — broadcasting needs a routed session", busy, busy))
}

// Stop ends a broadcast. It is never retried: a repeat after a lost reply
// would fail with "not running" although the stop worked.
func (s *BroadcastsService) Stop(ctx context.Context, broadcastID string) (*Broadcast, error) {
	return compositionCall[Broadcast](ctx, s.client, compositionBroadcast, broadcastID, "stop", map[int]string{
		http.StatusRequestTimeout: "the service timed out stopping the broadcast; check its status before trying again",
		http.StatusConflict:       "the broadcast is not running",
	})
}

// Get fetches one broadcast, including its HLS URL and output states.
func (s *BroadcastsService) Get(ctx context.Context, broadcastID string) (*Broadcast, error) {
	return compositionCall[Broadcast](ctx, s.client, compositionBroadcast, broadcastID, "", nil)
}

// List pages through the project's broadcasts, newest first, optionally only
// those of one session.
func (s *BroadcastsService) List(ctx context.Context, opts ListOptions) (*BroadcastList, error) {
	return listCompositions[BroadcastList](ctx, s.client, compositionBroadcast, opts)
}

// SetLayout changes the layout of a running broadcast.
func (s *BroadcastsService) SetLayout(ctx context.Context, broadcastID string, l Layout) error {
	return s.client.setLayout(ctx, compositionBroadcast, broadcastID, l)
}

// AddStream includes a stream in a broadcast started with StreamModeManual.
func (s *BroadcastsService) AddStream(ctx context.Context, broadcastID, streamID string, hasAudio, hasVideo bool) error {
	return s.client.addStream(ctx, compositionBroadcast, broadcastID, streamID, hasAudio, hasVideo)
}

// RemoveStream drops a stream from a broadcast started with StreamModeManual.
func (s *BroadcastsService) RemoveStream(ctx context.Context, broadcastID, streamID string) error {
	return s.client.removeStream(ctx, compositionBroadcast, broadcastID, streamID)
}
