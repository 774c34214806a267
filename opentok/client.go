// Package opentok is a client for the Vonage Video API (formerly OpenTok):
// sessions, client tokens, signals, connections, streams, moderation,
// archives, broadcasts, SIP, Experience Composer renders, the Audio Connector
// and live captions.
//
// It is a library a Go program can use on its own, in the manner of
// go-github: one Client with a small service per resource, every call taking
// a context, options as structs with documented zero values, and errors that
// are values (*APIError, *ValidationError, errors.Is with ErrNotFound,
// ErrConflict, ErrAuth, ErrRateLimited, ErrTooLarge, ErrInvalid).
//
// It holds no console, relay or callback code; the callback model lives in
// gavel's events package.
package opentok

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Version is sent in the User-Agent.
const Version = "0.1.0"

// maxResponseBytes bounds how much of a reply we read; the largest real
// replies (archive lists of 1000 items) stay well under it.
const maxResponseBytes = 16 << 20

// Client calls the Video API REST surface. It is safe for concurrent use.
type Client struct {
	creds     Credentials
	baseURL   *url.URL
	http      *http.Client
	userAgent string
	retry     RetryPolicy
	now       func() time.Time

	Sessions       *SessionsService
	Signals        *SignalsService
	Moderation     *ModerationService
	Streams        *StreamsService
	Connections    *ConnectionsService
	Archives       *ArchivesService
	Broadcasts     *BroadcastsService
	SIP            *SIPService
	Renders        *RendersService
	AudioConnector *AudioConnectorService
	Captions       *CaptionsService
}

// service is embedded by every resource service: it only carries the client.
type service struct{ client *Client }

// Option configures a Client.
type Option func(*Client) error

// WithBaseURL points the client at another host: the other environment, a
// regional endpoint, or an emulator such as opentoktest.
func WithBaseURL(raw string) Option {
	return func(c *Client) error {
		u, err := url.Parse(strings.TrimRight(raw, "/"))
		if err != nil {
			return fmt.Errorf("base URL %q: %w", raw, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("base URL %q: expected http(s)://host[:port]", raw)
		}
		c.baseURL = u
		return nil
	}
}

// WithHTTPClient replaces http.DefaultClient-like defaults (30 s timeout).
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) error {
		if hc == nil {
			return errors.New("http client is nil")
		}
		c.http = hc
		return nil
	}
}

// WithUserAgent prefixes the User-Agent with the calling program's name.
func WithUserAgent(ua string) Option {
	return func(c *Client) error {
		c.userAgent = ua + " " + c.userAgent
		return nil
	}
}

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *Client) error {
		if p.MaxAttempts < 1 {
			return fmt.Errorf("retry policy: MaxAttempts %d, expected at least 1", p.MaxAttempts)
		}
		c.retry = p
		return nil
	}
}

// WithClock sets the clock used for JWT iat/exp claims (tests, skewed hosts).
func WithClock(now func() time.Time) Option {
	return func(c *Client) error {
		c.now = now
		return nil
	}
}

// New returns a client for the given credentials, talking to the default
// host of their environment unless WithBaseURL says otherwise.
func New(creds Credentials, opts ...Option) (*Client, error) {
	if creds.IsZero() {
		return nil, errors.New("opentok: no credentials: use ProjectCredentials or ApplicationCredentials")
	}
	c := &Client{
		creds:     creds,
		http:      &http.Client{Timeout: 30 * time.Second},
		userAgent: "gavel-opentok/" + Version,
		retry:     DefaultRetryPolicy(),
		now:       time.Now,
	}
	if err := WithBaseURL(creds.DefaultBaseURL())(c); err != nil {
		return nil, err
	}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, fmt.Errorf("opentok: %w", err)
		}
	}
	s := &service{client: c}
	c.Sessions = (*SessionsService)(s)
	c.Signals = (*SignalsService)(s)
	c.Moderation = (*ModerationService)(s)
	c.Streams = (*StreamsService)(s)
	c.Connections = (*ConnectionsService)(s)
	c.Archives = (*ArchivesService)(s)
	c.Broadcasts = (*BroadcastsService)(s)
	c.SIP = (*SIPService)(s)
	c.Renders = (*RendersService)(s)
	c.AudioConnector = (*AudioConnectorService)(s)
	c.Captions = (*CaptionsService)(s)
	return c, nil
}

// Credentials returns the credentials the client signs with.
func (c *Client) Credentials() Credentials { return c.creds }

// BaseURL returns the REST host the client talks to.
func (c *Client) BaseURL() string { return c.baseURL.String() }

// endpoint describes one REST call: everything do needs to send it, decide
// whether it may be retried, and explain its failures in words.
type endpoint struct {
	op     string // "archive start": the prefix of every error
	method string
	path   string // escaped path below the base URL, from projectPath
	query  url.Values
	// body is nil (no body), url.Values (form-encoded) or a value marshalled as JSON.
	body any
	// idempotent calls are retried on 429, 5xx and transport errors. Signals,
	// starts and stops are not: a retry could act twice.
	idempotent bool
	// meanings gives the documented meaning of an error status for this
	// operation; commonMeanings fills the rest.
	meanings map[int]string
	// explain, when set, picks the meaning from the status and the service's
	// message, for statuses documented with more than one cause.
	explain func(status int, message string) string
	// goneIsDone: for deletes, a 404 on a retry means an earlier attempt
	// did the job and only its reply was lost, so it is success.
	goneIsDone bool
}

// projectPath builds /v2/project/{id}/elem/elem…, escaping each element.
func (c *Client) projectPath(elems ...string) string {
	var b strings.Builder
	b.WriteString("/v2/project/")
	b.WriteString(url.PathEscape(c.creds.ProjectID()))
	for _, e := range elems {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(e))
	}
	return b.String()
}

// do sends ep, retrying as the policy and ep.idempotent allow, and decodes a
// 2xx JSON reply into out (when out is non-nil and the reply has a body).
func (c *Client) do(ctx context.Context, ep endpoint, out any) error {
	var payload []byte
	var contentType string
	switch b := ep.body.(type) {
	case nil:
	case url.Values:
		payload, contentType = []byte(b.Encode()), "application/x-www-form-urlencoded"
	default:
		var err error
		if payload, err = json.Marshal(b); err != nil {
			return fmt.Errorf("%s: encode request: %w", ep.op, err)
		}
		contentType = "application/json"
	}

	attempts := 1
	if ep.idempotent {
		attempts = c.retry.MaxAttempts
	}
	var lastErr error
	for attempt := 1; ; attempt++ {
		status, body, header, err := c.send(ctx, ep, payload, contentType)
		switch {
		case err != nil:
			lastErr = fmt.Errorf("%s: %w", ep.op, err)
			if ctx.Err() != nil {
				return lastErr
			}
		case status >= 200 && status < 300:
			if out == nil || len(bytes.TrimSpace(body)) == 0 {
				return nil
			}
			if err := json.Unmarshal(body, out); err != nil {
				return fmt.Errorf("%s: decode response: %w", ep.op, err)
			}
			return nil
		default:
			if ep.goneIsDone && attempt > 1 && status == http.StatusNotFound {
				return nil
			}
			apiErr := c.apiError(ep, status, body, header)
			if !apiErr.Temporary() {
				return apiErr
			}
			lastErr = apiErr
		}
		if attempt >= attempts {
			return lastErr
		}
		wait, ok := c.retry.wait(attempt, lastErr)
		if !ok {
			return lastErr
		}
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (stopped waiting to retry: %w)", lastErr, err)
		}
	}
}

// send makes one HTTP round trip with a freshly signed JWT.
func (c *Client) send(ctx context.Context, ep endpoint, payload []byte, contentType string) (int, []byte, http.Header, error) {
	// ep.path is already escaped (an ID may hold '/' or '?'); Path must be
	// its unescaped form, or URL.String escapes the escapes.
	u := *c.baseURL
	u.RawPath = c.baseURL.EscapedPath() + ep.path
	unescaped, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request path: %w", err)
	}
	u.Path = unescaped
	if len(ep.query) > 0 {
		u.RawQuery = ep.query.Encode()
	}
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, ep.method, u.String(), body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("build request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if err := c.creds.authorize(req, c.now()); err != nil {
		return 0, nil, nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: %w", ep.method, ep.path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%s %s: read response: %w", ep.method, ep.path, err)
	}
	return resp.StatusCode, data, resp.Header, nil
}

// unwrapURLError drops *url.Error's "Get \"https://…\":" prefix: the request
// line is already in our message, and the URL carries nothing secret but is noise.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// apiError turns a non-2xx reply into an *APIError with a sentence.
func (c *Client) apiError(ep endpoint, status int, body []byte, header http.Header) *APIError {
	e := &APIError{Op: ep.op, Method: ep.method, Path: ep.path, Status: status}
	e.Code, e.Message = parseErrorBody(body)
	switch {
	case ep.explain != nil && ep.explain(status, e.Message) != "":
		e.Meaning = ep.explain(status, e.Message)
	case ep.meanings[status] != "":
		e.Meaning = ep.meanings[status]
	default:
		e.Meaning = commonMeanings[status]
	}
	e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), c.now())
	return e
}

// parseErrorBody reads {"code":…, "message":…, "description":…}; code may
// be a number or a string, and a non-JSON body becomes the message itself.
func parseErrorBody(body []byte) (int, string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return 0, ""
	}
	var v struct {
		Code        json.RawMessage `json:"code"`
		Message     string          `json:"message"`
		Description string          `json:"description"`
		Error       string          `json:"error"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		msg := string(body)
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		return 0, msg
	}
	code, _ := strconv.Atoi(strings.Trim(string(v.Code), `"`))
	msg := v.Message
	if msg == "" {
		msg = v.Error
	}
	if msg == "" {
		msg = v.Description
	}
	return code, msg
}

func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
