package opentok

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SessionInfo is what a session ID says about itself (session IDs as opentok-node's test
// helpers decode them:
// https://github.com/opentok/opentok-node/blob/main/test/helpers.js): which project it
// belongs to, its location hint and when it was created. The format is undocumented and
// SDK-internal, so this is display and routing help only; the one check gavel bases on it
// is that a token is not minted for another project's session.
type SessionInfo struct {
	// Prefix is the digit before the underscore: "1" on modern IDs, "2" on
	// some older ones.
	Prefix string `json:"prefix"`
	// ProjectID is the API key (legacy) or the application ID (unified).
	ProjectID string `json:"project_id"`
	// Location is the location hint IP the session was created with, often empty.
	Location string `json:"location"`
	// CreatedAt is the creation time, zero when the ID does not carry one
	// gavel can read (modern IDs carry epoch milliseconds, old ones a date).
	CreatedAt time.Time `json:"created_at"`
	// Fields are all "~"-separated fields of the decoded body, field 0 ("1") included.
	Fields []string `json:"fields"`
}

// oldSessionTimeLayout is the date string old session IDs carry in field 3,
// e.g. "Wed Feb 26 18:57:24 PST 2014".
const oldSessionTimeLayout = "Mon Jan 2 15:04:05 MST 2006"

// sessionZoneOffset gives the UTC offset in hours of the zone abbreviations
// old session IDs were seen with. time.Parse reads an abbreviation it does
// not know as UTC, which would put a PST creation time eight hours off; a
// zone not listed here leaves CreatedAt zero instead.
func sessionZoneOffset(abbr string) (int, bool) {
	switch abbr {
	case "UTC", "GMT":
		return 0, true
	case "EDT":
		return -4, true
	case "EST", "CDT":
		return -5, true
	case "CST", "MDT":
		return -6, true
	case "MST", "PDT":
		return -7, true
	case "PST":
		return -8, true
	}
	return 0, false
}

// DecodeSessionID reads a session ID of the form
// <digit>_<base64url-without-padding> (session IDs as opentok-node's test helpers decode them above). It is tolerant of the
// standard base64 alphabet, padding and a truncated final character, never
// panics, and returns an error only when the ID does not have that shape, the
// body is not base64, or field 0 is not "1".
//
// The format is undocumented: an error means "unknown shape", not "invalid
// session", and callers must not refuse a session ID for it.
func DecodeSessionID(id string) (SessionInfo, error) {
	if len(id) < 3 || id[0] < '0' || id[0] > '9' || id[1] != '_' {
		return SessionInfo{}, errors.New("session ID: expected <digit>_<base64>")
	}
	raw, err := decodeSessionBody(id[2:])
	if err != nil {
		return SessionInfo{}, fmt.Errorf("session ID: body is not base64: %w", err)
	}
	fields := strings.Split(string(raw), "~")
	if fields[0] != "1" {
		return SessionInfo{}, errors.New(`session ID: decoded body does not start with "1~"`)
	}
	if len(fields) < 2 || fields[1] == "" {
		return SessionInfo{}, errors.New("session ID: decoded body has no project field")
	}
	info := SessionInfo{Prefix: id[:1], ProjectID: fields[1], Fields: fields}
	if len(fields) > 2 {
		info.Location = fields[2]
	}
	if len(fields) > 3 {
		info.CreatedAt = parseSessionTime(fields[3])
	}
	return info, nil
}

// decodeSessionBody maps the URL-safe alphabet to the standard one and
// re-pads, as the SDKs do. Standard-alphabet characters and existing padding
// pass through unchanged, so this accepts everything base64.RawURLEncoding
// accepts and more. A body whose length leaves one character over (an ID cut
// short) loses that character: alone it cannot encode a byte.
func decodeSessionBody(body string) ([]byte, error) {
	body = strings.TrimRight(body, "=")
	body = strings.NewReplacer("-", "+", "_", "/").Replace(body)
	if len(body)%4 == 1 {
		body = body[:len(body)-1]
	}
	if n := len(body) % 4; n != 0 {
		body += strings.Repeat("=", 4-n)
	}
	return base64.StdEncoding.DecodeString(body)
}

// parseSessionTime reads field 3: epoch milliseconds on modern IDs, a date
// string in a known zone on old ones; anything else gives the zero time.
func parseSessionTime(s string) time.Time {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}
		}
		return time.UnixMilli(ms).UTC()
	}
	parts := strings.Fields(s)
	if len(parts) != 6 {
		return time.Time{}
	}
	offset, ok := sessionZoneOffset(parts[4])
	if !ok {
		return time.Time{}
	}
	loc := time.FixedZone(parts[4], offset*3600)
	t, err := time.ParseInLocation(oldSessionTimeLayout, strings.Join(parts, " "), loc)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
