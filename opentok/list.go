package opentok

import (
	"net/url"
	"strconv"
)

// ListOptions pages through archives, broadcasts and renders, newest first.
// The zero value asks for the service's default page (50 items from the newest).
type ListOptions struct {
	Offset    int    // items to skip from the newest; 0 is the most recent
	Count     int    // page size, 1–1000; 0 leaves the service's default (50)
	SessionID string // only items of this session (archives and broadcasts)
}

func (o ListOptions) validate(op string) error {
	if o.Offset < 0 {
		return invalid(op, "offset", "must not be negative (got %d)", o.Offset)
	}
	if o.Count < 0 || o.Count > MaxArchiveListCount {
		return invalid(op, "count", "must be between 1 and %d (got %d)", MaxArchiveListCount, o.Count)
	}
	return nil
}

// query encodes only what was set, so the service's defaults apply otherwise.
func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Offset > 0 {
		q.Set("offset", strconv.Itoa(o.Offset))
	}
	if o.Count > 0 {
		q.Set("count", strconv.Itoa(o.Count))
	}
	if o.SessionID != "" {
		q.Set("sessionId", o.SessionID)
	}
	return q
}
