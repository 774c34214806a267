package opentok

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Sentinel errors an *APIError matches with errors.Is, so callers branch on
// meaning rather than on status numbers.
var (
	// ErrNotFound: the session, connection, stream, archive… does not exist
	// (404), or the service calls the ID invalid (408 on stream lookups).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object is not in a state that allows the action (409),
	// e.g. archiving a relayed session or stopping an archive that is not recording.
	ErrConflict = errors.New("conflict")
	// ErrAuth: the credentials were refused (401 or 403).
	ErrAuth = errors.New("authentication failed")
	// ErrRateLimited: the service asked us to slow down (429).
	ErrRateLimited = errors.New("rate limited")
	// ErrTooLarge: the request was over a size limit (413), e.g. signal data over 8 kB.
	ErrTooLarge = errors.New("too large")
	// ErrInvalid: the request was refused as malformed, by us before sending
	// (*ValidationError) or by the service (400).
	ErrInvalid = errors.New("invalid request")
)

// APIError is a non-2xx answer from the Video API.
//
// Error() reads as a sentence a moderator understands, built from the
// documented meaning of the status for this operation, followed by the
// service's own message and the request line for whoever debugs it.
type APIError struct {
	Op         string        // what was being done, e.g. "archive start"
	Method     string        // HTTP method of the request
	Path       string        // request path (no host, no query)
	Status     int           // HTTP status
	Code       int           // the service's own error code from the body, 0 if none
	Message    string        // the service's message, verbatim
	Meaning    string        // documented meaning of Status for Op, in words
	RetryAfter time.Duration // from a Retry-After header, 0 if none
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Meaning != "" {
		b.WriteString(e.Meaning)
	} else {
		b.WriteString(strings.ToLower(http.StatusText(e.Status)))
	}
	if e.Message != "" && !strings.EqualFold(e.Message, e.Meaning) {
		fmt.Fprintf(&b, " (service said: %q)", e.Message)
	}
	fmt.Fprintf(&b, " [HTTP %d, %s %s]", e.Status, e.Method, e.Path)
	return b.String()
}

// Is matches the sentinel errors by status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound || e.Status == http.StatusRequestTimeout && strings.Contains(strings.ToLower(e.Message), "invalid")
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrAuth:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrTooLarge:
		return e.Status == http.StatusRequestEntityTooLarge
	case ErrInvalid:
		return e.Status == http.StatusBadRequest
	}
	return false
}

// Temporary reports whether repeating the same request later may succeed.
func (e *APIError) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// commonMeanings apply to every operation unless the operation documents its own.
var commonMeanings = map[int]string{
	http.StatusUnauthorized:          "the Video API refused the credentials (check the API key and secret, or the application ID and private key)",
	http.StatusForbidden:             "the Video API refused the credentials (check the API key and secret, or the application ID and private key)",
	http.StatusTooManyRequests:       "the Video API is rate-limiting this project; wait a moment and try again",
	http.StatusRequestEntityTooLarge: "the request is over the service's size limit",
	http.StatusInternalServerError:   "the Video API had an internal error; try again",
	http.StatusBadGateway:            "the Video API is unreachable behind its gateway; try again",
	http.StatusServiceUnavailable:    "the Video API is temporarily unavailable; try again",
	http.StatusGatewayTimeout:        "the Video API timed out; try again",
}

// ValidationError is a request refused before it was sent: it names the
// field and the rule it broke, e.g. `signal: type: at most 128 bytes (got 130)`.
type ValidationError struct {
	Op    string // operation, e.g. "signal"
	Field string // the field as the API names it, e.g. "type", "resolution"
	Rule  string // what was expected
}

func (e *ValidationError) Error() string {
	return e.Op + ": " + e.Field + ": " + e.Rule
}

// Is lets errors.Is(err, ErrInvalid) match validation failures too.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(op, field, format string, args ...any) error {
	return &ValidationError{Op: op, Field: field, Rule: fmt.Sprintf(format, args...)}
}
