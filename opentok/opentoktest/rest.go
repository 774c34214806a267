package opentoktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxRequestBytes bounds request bodies; the largest real ones (custom
// layout stylesheets, signal data) are a few kilobytes.
const maxRequestBytes = 1 << 20

// restJWTMaxLifetime is the legacy environment's cap on exp-iat (the OpenTok REST
// reference, Authentication: https://tokbox.com/developer/rest/#authentication).
const restJWTMaxLifetime = 5 * time.Minute

// clockSkew tolerates clients whose clocks run a little ahead or behind.
const clockSkew = 30 * time.Second

// handler serves one authenticated REST call for the caller's project.
type handler func(w http.ResponseWriter, r *http.Request, who owner)

// routes builds the REST surface. Paths are the service's; a trailing
// slash is routed like the bare path (@vonage/video posts to …/broadcast/).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h handler) { mux.Handle(pattern, s.authenticated(h)) }
	handle("POST /session/create", s.createSession)
	const sess = "/v2/project/{project}/session/{session}"
	handle("POST "+sess+"/signal", s.signal)
	handle("POST "+sess+"/connection/{connection}/signal", s.signal)
	handle("DELETE "+sess+"/connection/{connection}", s.forceDisconnect)
	handle("POST "+sess+"/stream/{stream}/mute", s.muteStream)
	handle("POST "+sess+"/mute", s.muteAll)
	handle("GET "+sess+"/stream", s.listStreams)
	handle("GET "+sess+"/stream/{stream}", s.getStream)
	handle("PUT "+sess+"/stream", s.setLayoutClasses)
	handle("GET "+sess+"/connection", s.listConnections)
	handle("POST "+sess+"/play-dtmf", s.playDTMF)
	handle("POST "+sess+"/connection/{connection}/play-dtmf", s.playDTMF)
	s.mediaRoutes(handle)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such resource: %s %s", r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimRight(p, "/")
			r.URL.RawPath = strings.TrimRight(r.URL.RawPath, "/")
		}
		mux.ServeHTTP(w, r)
	})
}

// authenticated checks the REST JWT as the service does and that the
// project in the path is the caller's own.
func (s *Server) authenticated(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, status, msg := s.authenticate(r)
		if status != 0 {
			writeError(w, status, msg)
			return
		}
		if p := r.PathValue("project"); p != "" && p != who.id {
			writeError(w, http.StatusForbidden, "the project in the path does not match the credentials")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
		// Handlers write their reply while holding s.mu; buffering it means
		// the network write happens after the lock is released, so a client
		// that never reads its reply cannot freeze the emulator.
		buf := &bufferedResponse{header: w.Header()}
		h(buf, r, who)
		buf.flush(w)
	})
}

// bufferedResponse holds a handler's reply in memory until it returns.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

func (b *bufferedResponse) flush(w http.ResponseWriter) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

// authenticate reads X-OPENTOK-AUTH (legacy, HS256 with the project secret, exp at most 5
// minutes after iat) or Authorization: Bearer (unified, RS256 with the application key,
// keyed on application_id; iss/ist neither required nor refused, the Video API reference:
// https://developer.vonage.com/en/api/video). It returns a status and message on failure.
func (s *Server) authenticate(r *http.Request) (owner, int, string) {
	now := s.clock()
	parse := func(raw, alg string, key any) (jwt.MapClaims, string) {
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return key, nil },
			jwt.WithValidMethods([]string{alg}), jwt.WithExpirationRequired(), jwt.WithLeeway(clockSkew),
			jwt.WithTimeFunc(func() time.Time { return now }))
		if err != nil {
			return nil, "Invalid token: " + err.Error()
		}
		return claims, ""
	}
	if raw := r.Header.Get("X-OPENTOK-AUTH"); raw != "" {
		claims, bad := parse(raw, "HS256", []byte(s.APISecret))
		if bad != "" {
			return owner{}, http.StatusForbidden, bad
		}
		if iss, _ := claims["iss"].(string); iss != s.APIKey {
			return owner{}, http.StatusForbidden, "Invalid token: iss is not a known project"
		}
		exp, _ := claims.GetExpirationTime()
		iat, _ := claims.GetIssuedAt()
		start := now
		if iat != nil {
			start = iat.Time
		}
		if exp.Time.Sub(start) > restJWTMaxLifetime {
			return owner{}, http.StatusForbidden, "Invalid token: exp must be at most 5 minutes after iat"
		}
		return owner{id: s.APIKey}, 0, ""
	}
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		claims, bad := parse(strings.TrimPrefix(auth, "Bearer "), "RS256", &s.PrivateKey.PublicKey)
		if bad != "" {
			return owner{}, http.StatusUnauthorized, bad
		}
		if app, _ := claims["application_id"].(string); app != s.ApplicationID {
			return owner{}, http.StatusUnauthorized, "Invalid token: application_id is not a known application"
		}
		return owner{id: s.ApplicationID, application: true}, 0, ""
	}
	return owner{}, http.StatusForbidden, "Missing authentication: send X-OPENTOK-AUTH or Authorization: Bearer"
}

// writeJSON answers with Content-Type exactly application/json: OpenTok
// Python parses anything else as XML (as the official SDKs send it, which sdk_test.go runs).
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with the service's error shape {"code","message"}.
func writeError(w http.ResponseWriter, status int, message string) {
	writeErrorCode(w, status, status, message)
}

func writeErrorCode(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{"code": code, "message": message})
}

// decodeBody reads an optional JSON body: an empty body is an empty object
// (SDKs send bodiless POSTs), and JSON null fields stay unset (as the official SDKs send it, which sdk_test.go runs).
// It answers 400 itself and reports false on a malformed body.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return true
	}
	if err := json.Unmarshal(data, v); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return false
	}
	return true
}

// lookupSession finds the path's session of the caller's project,
// answering 404 or 403 itself. Called with s.mu held.
func (s *Server) lookupSession(w http.ResponseWriter, r *http.Request, who owner) (*session, bool) {
	return s.findSession(w, who, r.PathValue("session"), http.StatusNotFound)
}

// findSession finds session id of the caller's project, answering missing
// (404, or the 400 some endpoints give) or 403 itself. Called with s.mu held.
func (s *Server) findSession(w http.ResponseWriter, who owner, id string, missing int) (*session, bool) {
	sess, ok := s.st.sessions[id]
	if !ok {
		writeError(w, missing, "Session not found: "+id)
		return nil, false
	}
	if sess.owner.id != who.id {
		writeError(w, http.StatusForbidden, "You are not authorized to access this session")
		return nil, false
	}
	return sess, true
}
