package opentok

import (
	"context"
	"net/http"
)

// ArchivesService records sessions.
type ArchivesService service

// Archive limits vonage-python validates before sending (the Archiving guide:
// https://developer.vonage.com/en/video/guides/archiving/overview).
const (
	MinArchiveMaxBitrate            = 100_000
	MaxArchiveMaxBitrate            = 6_000_000
	MinArchiveQuantizationParameter = 15
	MaxArchiveQuantizationParameter = 40
)

// ArchiveOptions are the fields of archive start. Only SessionID is
// required; the zero value of every other field leaves the service default
// and is not sent.
type ArchiveOptions struct {
	SessionID string `json:"sessionId"`
	Name      string `json:"name,omitempty"`
	// HasAudio and HasVideo default to true when nil; they cannot both be false.
	HasAudio *bool `json:"hasAudio,omitempty"`
	HasVideo *bool `json:"hasVideo,omitempty"`
	// OutputMode is OutputComposed when empty.
	OutputMode OutputMode `json:"outputMode,omitempty"`
	// Resolution is one of Resolutions; composed archives only.
	Resolution string `json:"resolution,omitempty"`
	// Layout arranges a composed archive; nil leaves the service default (bestFit).
	Layout *Layout `json:"layout,omitempty"`
	// StreamMode is StreamModeAuto when empty; StreamModeManual archives take
	// streams from AddStream.
	StreamMode StreamMode `json:"streamMode,omitempty"`
	// MultiArchiveTag lets one session have several archives at once, each
	// with its own tag. The service does not echo it back in get or list.
	MultiArchiveTag string `json:"multiArchiveTag,omitempty"`
	// MaxBitrate (bits/s) and QuantizationParameter set the quality of a
	// composed archive; set at most one of them.
	MaxBitrate            int `json:"maxBitrate,omitempty"`
	QuantizationParameter int `json:"quantizationParameter,omitempty"`
	// HasTranscription asks for a transcript; individual archives only.
	HasTranscription        bool                     `json:"hasTranscription,omitempty"`
	TranscriptionProperties *TranscriptionProperties `json:"transcriptionProperties,omitempty"`
}

// TranscriptionProperties tune the transcript of an individual archive.
type TranscriptionProperties struct {
	PrimaryLanguageCode string `json:"primaryLanguageCode,omitempty"` // e.g. "en-US"
	HasSummary          bool   `json:"hasSummary,omitempty"`          // also produce a summary
}

// Validate checks the options as Start does, so a form can refuse them
// before anything is sent.
func (o ArchiveOptions) Validate() error { return o.validate() }

func (o ArchiveOptions) validate() error {
	const op = "archive start"
	if err := requireID(op, "sessionId", o.SessionID); err != nil {
		return err
	}
	if o.HasAudio != nil && o.HasVideo != nil && !*o.HasAudio && !*o.HasVideo {
		return invalid(op, "hasAudio", "hasAudio and hasVideo cannot both be false")
	}
	var composed bool
	switch o.OutputMode {
	case "", OutputComposed:
		composed = true
	case OutputIndividual:
	default:
		return invalid(op, "outputMode", "must be %q or %q (got %q)", OutputComposed, OutputIndividual, o.OutputMode)
	}
	if err := o.StreamMode.validate(op); err != nil {
		return err
	}
	if o.Resolution != "" && !composed {
		return invalid(op, "resolution", "only allowed with outputMode=composed")
	}
	if err := checkResolution(op, o.Resolution); err != nil {
		return err
	}
	if o.Layout != nil {
		if !composed {
			return invalid(op, "layout", "only allowed with outputMode=composed")
		}
		if err := o.Layout.validate(op, "layout."); err != nil {
			return err
		}
	}
	if o.MaxBitrate != 0 {
		if !composed {
			return invalid(op, "maxBitrate", "only allowed with outputMode=composed")
		}
		if o.MaxBitrate < MinArchiveMaxBitrate || o.MaxBitrate > MaxArchiveMaxBitrate {
			return invalid(op, "maxBitrate", "must be between %d and %d bits/s (got %d)", MinArchiveMaxBitrate, MaxArchiveMaxBitrate, o.MaxBitrate)
		}
	}
	if o.QuantizationParameter != 0 {
		if !composed {
			return invalid(op, "quantizationParameter", "only allowed with outputMode=composed")
		}
		if o.MaxBitrate != 0 {
			return invalid(op, "quantizationParameter", "cannot be combined with maxBitrate")
		}
		if o.QuantizationParameter < MinArchiveQuantizationParameter || o.QuantizationParameter > MaxArchiveQuantizationParameter {
			return invalid(op, "quantizationParameter", "must be between %d and %d (got %d)", MinArchiveQuantizationParameter, MaxArchiveQuantizationParameter, o.QuantizationParameter)
		}
	}
	if o.HasTranscription && composed {
		return invalid(op, "hasTranscription", "only allowed with outputMode=individual")
	}
	if o.TranscriptionProperties != nil && !o.HasTranscription {
		return invalid(op, "transcriptionProperties", "only allowed with hasTranscription=true")
	}
	return nil
}

// ArchiveStatus is where an archive is in its life (the Archiving guide above). There is no
// "resumed": a paused archive goes back to started.
type ArchiveStatus string

const (
	ArchiveStarted   ArchiveStatus = "started"   // recording
	ArchivePaused    ArchiveStatus = "paused"    // no one is publishing; stops after 60 minutes of this
	ArchiveStopped   ArchiveStatus = "stopped"   // recording ended; the file is not yet available
	ArchiveUploaded  ArchiveStatus = "uploaded"  // copied to the project's own S3 or Azure storage
	ArchiveAvailable ArchiveStatus = "available" // downloadable from the Video API cloud (for 72 hours)
	ArchiveExpired   ArchiveStatus = "expired"   // the cloud copy is gone
	ArchiveFailed    ArchiveStatus = "failed"    // recording or upload failed; see Reason
	ArchiveDeleted   ArchiveStatus = "deleted"   // deleted through the API
)

// Recording reports whether the archive is still capturing the session,
// that is whether Stop applies to it.
func (s ArchiveStatus) Recording() bool { return s == ArchiveStarted || s == ArchivePaused }

// Archive is an archive as the REST API and the archive callback describe it;
// fields a given reply lacks stay zero.
type Archive struct {
	ID     string        `json:"id"`
	Status ArchiveStatus `json:"status"`
	Name   string        `json:"name"`
	// Reason says why a stopped or failed archive ended, e.g. "session ended",
	// "maximum duration exceeded", "user initiated", "failure".
	Reason    string `json:"reason"`
	SessionID string `json:"sessionId"`
	// The owning project: ProjectID (legacy; a number in archive callbacks),
	// PartnerID (older replies and callbacks) or ApplicationID (unified).
	ProjectID     OwnerID `json:"projectId,omitempty"`
	PartnerID     OwnerID `json:"partnerId,omitempty"`
	ApplicationID string  `json:"applicationId,omitempty"`
	// CreatedAt and UpdatedAt are milliseconds since the Unix epoch.
	CreatedAt int64 `json:"createdAt"`
	UpdatedAt int64 `json:"updatedAt,omitempty"`
	Size      int64 `json:"size"`     // bytes; 0 until the file exists
	Duration  int   `json:"duration"` // seconds; 0 while recording
	// OutputMode and StreamMode are as requested at start.
	OutputMode OutputMode `json:"outputMode,omitempty"`
	StreamMode StreamMode `json:"streamMode,omitempty"`
	HasAudio   bool       `json:"hasAudio"`
	HasVideo   bool       `json:"hasVideo"`
	Resolution string     `json:"resolution,omitempty"`
	// URL is the download link, only while available and valid for about
	// 10 minutes after the reply; the service sends null otherwise.
	URL string `json:"url,omitempty"`
	// Streams lists the streams in the archive, present only while started.
	Streams               []ArchiveStream `json:"streams,omitempty"`
	SHA256Sum             string          `json:"sha256sum,omitempty"`
	Password              string          `json:"password,omitempty"`
	Certificate           string          `json:"certificate,omitempty"`
	Event                 string          `json:"event,omitempty"` // "archive" in callbacks and unified replies
	MultiArchiveTag       string          `json:"multiArchiveTag,omitempty"`
	MaxBitrate            int             `json:"maxBitrate,omitempty"`
	QuantizationParameter int             `json:"quantizationParameter,omitempty"`
	HasTranscription      bool            `json:"hasTranscription,omitempty"`
	Transcription         *Transcription  `json:"transcription,omitempty"`
}

// ArchiveStream is one stream in an archive and the media recorded from it.
type ArchiveStream struct {
	StreamID string `json:"streamId"`
	HasAudio bool   `json:"hasAudio"`
	HasVideo bool   `json:"hasVideo"`
}

// Transcription is the transcript of an individual archive.
type Transcription struct {
	Status              string `json:"status"`
	URL                 string `json:"url,omitempty"`
	Reason              string `json:"reason,omitempty"`
	PrimaryLanguageCode string `json:"primaryLanguageCode,omitempty"`
	HasSummary          bool   `json:"hasSummary,omitempty"`
}

// ArchiveList is one page of archives, newest first.
type ArchiveList struct {
	Count int       `json:"count"` // archives in the project (or session), not on this page
	Items []Archive `json:"items"`
}

// Start begins recording a session. It is never retried: a retry could
// start a second archive.
func (s *ArchivesService) Start(ctx context.Context, opts ArchiveOptions) (*Archive, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	return startComposition[Archive](ctx, s.client, compositionArchive, opts, map[int]string{
		http.StatusBadRequest: "the service refused the archive options (invalid session ID, no connected clients, or a resolution it does not accept)",
		http.StatusNotFound:   "the session does not exist or has no connected clients",
	}, startConflict(
		"the session is relayed — archiving needs a routed session",
		"the session is already being recorded — give each simultaneous archive its own multiArchiveTag",
		"the session is relayed (archiving needs a routed session) or already being recorded (give each simultaneous archive its own multiArchiveTag)",
	))
}

// Stop ends a recording. It is never retried: a repeat after a lost reply
// would fail with "not recording" although the stop worked.
func (s *ArchivesService) Stop(ctx context.Context, archiveID string) (*Archive, error) {
	return compositionCall[Archive](ctx, s.client, compositionArchive, archiveID, "stop", map[int]string{
		http.StatusConflict: "the archive is not recording",
	})
}

// Get fetches one archive, including its download URL once available.
func (s *ArchivesService) Get(ctx context.Context, archiveID string) (*Archive, error) {
	return compositionCall[Archive](ctx, s.client, compositionArchive, archiveID, "", nil)
}

// List pages through the project's archives, newest first, optionally only
// those of one session.
func (s *ArchivesService) List(ctx context.Context, opts ListOptions) (*ArchiveList, error) {
	return listCompositions[ArchiveList](ctx, s.client, compositionArchive, opts)
}

// Delete removes an archive's file from the Video API cloud. Only an
// available or uploaded archive can be deleted; deleting again is harmless,
// so the call may be retried.
func (s *ArchivesService) Delete(ctx context.Context, archiveID string) error {
	const op = "archive delete"
	if err := requireID(op, "archiveId", archiveID); err != nil {
		return err
	}
	return s.client.do(ctx, endpoint{
		op:         op,
		method:     http.MethodDelete,
		path:       s.client.projectPath("archive", archiveID),
		idempotent: true,
		goneIsDone: true,
		meanings: map[int]string{
			http.StatusConflict: "only an archive that is available or uploaded can be deleted",
		},
	}, nil)
}

// SetLayout changes the layout of a composed archive while it records.
func (s *ArchivesService) SetLayout(ctx context.Context, archiveID string, l Layout) error {
	return s.client.setLayout(ctx, compositionArchive, archiveID, l)
}

// AddStream includes a stream in an archive started with StreamModeManual,
// recording the media chosen.
func (s *ArchivesService) AddStream(ctx context.Context, archiveID, streamID string, hasAudio, hasVideo bool) error {
	return s.client.addStream(ctx, compositionArchive, archiveID, streamID, hasAudio, hasVideo)
}

// RemoveStream drops a stream from an archive started with StreamModeManual.
func (s *ArchivesService) RemoveStream(ctx context.Context, archiveID, streamID string) error {
	return s.client.removeStream(ctx, compositionArchive, archiveID, streamID)
}
