package opentok

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// SessionsService creates sessions. Sessions never expire and cannot be destroyed through
// the API; only tokens expire (the OpenTok REST reference, Creating a session:
// https://tokbox.com/developer/rest/#session_id_production).
type SessionsService service

// MediaMode says how media flows in a session.
type MediaMode string

const (
	// Relayed sessions send media peer to peer where possible. They cannot be
	// archived, broadcast, captioned or dialled into.
	Relayed MediaMode = "relayed"
	// Routed sessions send media through the Video API's media router.
	Routed MediaMode = "routed"
)

// ArchiveMode says whether a session records itself.
type ArchiveMode string

const (
	ArchiveManual ArchiveMode = "manual" // archives start only on request
	ArchiveAlways ArchiveMode = "always" // an archive starts when the first client publishes
)

// SessionOptions are the optional fields of session create. The zero value
// is a relayed session with manual archiving.
type SessionOptions struct {
	MediaMode         MediaMode   // zero value: Relayed
	ArchiveMode       ArchiveMode // zero value: ArchiveManual; ArchiveAlways needs Routed
	ArchiveName       string      // 1–80 characters, only with ArchiveAlways
	ArchiveResolution string      // one of Resolutions, only with ArchiveAlways
	Location          string      // IPv4 address used as a location hint
	E2EE              bool        // end-to-end encryption; needs Routed, not with ArchiveAlways
}

// Session is a created session.
type Session struct {
	ID        string `json:"session_id"`
	ProjectID string `json:"project_id,omitempty"`
	// ApplicationID is set instead of ProjectID in the unified environment.
	ApplicationID  string `json:"application_id,omitempty"`
	CreateDT       string `json:"create_dt,omitempty"`
	MediaServerURL string `json:"media_server_url,omitempty"`
}

func (o SessionOptions) validate() error {
	const op = "session create"
	routed := o.MediaMode == Routed
	switch o.MediaMode {
	case "", Relayed, Routed:
	default:
		return invalid(op, "mediaMode", "must be %q or %q (got %q)", Relayed, Routed, o.MediaMode)
	}
	switch o.ArchiveMode {
	case "", ArchiveManual:
		if o.ArchiveName != "" {
			return invalid(op, "archiveName", "only allowed with archiveMode=always")
		}
		if o.ArchiveResolution != "" {
			return invalid(op, "archiveResolution", "only allowed with archiveMode=always")
		}
	case ArchiveAlways:
		if !routed {
			return invalid(op, "archiveMode", "always needs a routed session")
		}
		if n := len([]rune(o.ArchiveName)); n > 80 {
			return invalid(op, "archiveName", "at most 80 characters (got %d)", n)
		}
		if o.ArchiveResolution != "" && !validResolution(o.ArchiveResolution) {
			return invalid(op, "archiveResolution", "must be one of %v (got %q)", Resolutions, o.ArchiveResolution)
		}
	default:
		return invalid(op, "archiveMode", "must be %q or %q (got %q)", ArchiveManual, ArchiveAlways, o.ArchiveMode)
	}
	if o.Location != "" && !validIPv4(o.Location) {
		return invalid(op, "location", "must be an IPv4 address (got %q)", o.Location)
	}
	if o.E2EE {
		if !routed {
			return invalid(op, "e2ee", "needs a routed session")
		}
		if o.ArchiveMode == ArchiveAlways {
			return invalid(op, "e2ee", "cannot be combined with archiveMode=always")
		}
	}
	return nil
}

// form is the form body of POST /session/create. p2p.preference is always
// sent: the REST default and the SDKs' defaults disagree (the OpenTok REST reference, Creating a session above).
func (o SessionOptions) form() url.Values {
	f := url.Values{}
	if o.MediaMode == Routed {
		f.Set("p2p.preference", "disabled")
	} else {
		f.Set("p2p.preference", "enabled")
	}
	if o.ArchiveMode == "" {
		f.Set("archiveMode", string(ArchiveManual))
	} else {
		f.Set("archiveMode", string(o.ArchiveMode))
	}
	if o.ArchiveName != "" {
		f.Set("archiveName", o.ArchiveName)
	}
	if o.ArchiveResolution != "" {
		f.Set("archiveResolution", o.ArchiveResolution)
	}
	if o.Location != "" {
		f.Set("location", o.Location)
	}
	if o.E2EE {
		f.Set("e2ee", strconv.FormatBool(true))
	}
	return f
}

// Create creates a session. It is never retried: a retry could create two.
func (s *SessionsService) Create(ctx context.Context, opts SessionOptions) (*Session, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	var reply []Session
	err := s.client.do(ctx, endpoint{
		op:     "session create",
		method: http.MethodPost,
		path:   "/session/create",
		body:   opts.form(),
		meanings: map[int]string{
			http.StatusBadRequest: "the service refused the session options",
		},
	}, &reply)
	if err != nil {
		return nil, err
	}
	if len(reply) == 0 || reply[0].ID == "" {
		return nil, &APIError{Op: "session create", Method: http.MethodPost, Path: "/session/create", Status: http.StatusOK,
			Meaning: "the service answered without a session ID"}
	}
	return &reply[0], nil
}
