package opentoktest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
	"github.com/golang-jwt/jwt/v5"
)

// These tests check the emulator's client-token validation (what the
// service does at session.connect) with tokens from gavel's own generator,
// hand-made tokens in the shapes other SDKs produce, and forgeries.

var allRoles = []opentok.Role{opentok.RoleSubscriber, opentok.RolePublisher, opentok.RolePublisherOnly, opentok.RoleModerator}

// tokKinds are the two credential kinds.
var tokKinds = []struct {
	name        string
	application bool
}{{"legacy", false}, {"unified", true}}

// tokOtherKey is an RSA key that is not the emulator's application key.
var tokOtherKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func tokServer(t *testing.T, opts ...Option) *Server {
	t.Helper()
	srv, err := NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func tokClient(t *testing.T, srv *Server, application bool, opts ...opentok.Option) *opentok.Client {
	t.Helper()
	c, err := srv.Client(application, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tokSession(t *testing.T, c *opentok.Client) string {
	t.Helper()
	s, err := c.Sessions.Create(t.Context(), opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

func tokMint(t *testing.T, c *opentok.Client, sessionID string, opts opentok.TokenOptions) string {
	t.Helper()
	tok, err := c.Token(sessionID, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

// wantTokenError requires Join to refuse the token with a *TokenError
// whose reason mentions phrase.
func wantTokenError(t *testing.T, srv *Server, sessionID, token, phrase string) {
	t.Helper()
	p, err := srv.Join(sessionID, token)
	var te *TokenError
	if !errors.As(err, &te) {
		if p != nil {
			_ = p.Leave()
		}
		t.Fatalf("join: got %v, want a *TokenError", err)
	}
	if !strings.Contains(te.Reason, phrase) {
		t.Errorf("token refused for %q, want a reason mentioning %q", te.Reason, phrase)
	}
	if st, _ := srv.Session(sessionID); len(st.Connections) != 0 {
		t.Errorf("a refused token left connections behind: %+v", st.Connections)
	}
}

// signHS and signRS hand-make client JWTs with exactly the claims given.
func signHS(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signRS(t *testing.T, key *rsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// legacyClaims and unifiedClaims are the claims the OpenTok SDKs (legacy)
// and vonage-node (unified) put in a client JWT (client JWTs as opentok-node builds them:
// https://github.com/opentok/opentok-node/blob/main/lib/generateJwt.js).
func legacyClaims(srv *Server, sessionID string, role string, exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": srv.APIKey, "ist": "project", "iat": time.Now().Unix(), "exp": exp.Unix(),
		"scope": "session.connect", "session_id": sessionID, "role": role, "nonce": "0.123",
	}
}

func unifiedClaims(srv *Server, sessionID string, role string, exp time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"application_id": srv.ApplicationID, "iat": time.Now().Unix(), "exp": exp.Unix(), "jti": "3f9c5b1e-0000-4000-8000-000000000001",
		"sub": "video", "acl": map[string]any{"paths": map[string]any{"/session/**": map[string]any{}}},
		"scope": "session.connect", "session_id": sessionID, "role": role, "initial_layout_class_list": "",
	}
}

func TestTokensFromOurGeneratorAreAccepted(t *testing.T) {
	for _, k := range tokKinds {
		t.Run(k.name, func(t *testing.T) {
			srv := tokServer(t)
			c := tokClient(t, srv, k.application)
			sid := tokSession(t, c)
			formats := []bool{false}
			if !k.application {
				formats = append(formats, true) // T1 needs the API secret
			}
			for _, legacy := range formats {
				for _, role := range allRoles {
					opts := opentok.TokenOptions{Role: role, Data: "name=Ada Lovelace&x=1", Legacy: legacy,
						InitialLayoutClassList: []string{"focus", "full"}, TTL: time.Hour}
					p, err := srv.Join(sid, tokMint(t, c, sid, opts))
					if err != nil {
						t.Fatalf("legacy=%v role %s: %v", legacy, role, err)
					}
					if p.Role() != role || p.SessionID() != sid {
						t.Errorf("legacy=%v role %s: joined as %s in %s", legacy, role, p.Role(), p.SessionID())
					}
					st, _ := srv.Session(sid)
					if len(st.Connections) != 1 || st.Connections[0].Data != opts.Data || st.Connections[0].Role != role {
						t.Errorf("legacy=%v role %s: ground truth %+v", legacy, role, st.Connections)
					}
					if err := p.Leave(); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The zero options are a publisher token.
			p, err := srv.Join(sid, tokMint(t, c, sid, opentok.TokenOptions{}))
			if err != nil || p.Role() != opentok.RolePublisher {
				t.Errorf("default token: %v, role %v", err, p)
			}
		})
	}
}

func TestForgedTokensAreRefused(t *testing.T) {
	srv := tokServer(t)
	legacy, unified := tokClient(t, srv, false), tokClient(t, srv, true)
	sid, appSid := tokSession(t, legacy), tokSession(t, unified)

	otherSecret, err := opentok.ProjectCredentials(srv.APIKey, "another-secret-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	forger, err := opentok.New(otherSecret, opentok.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := opentok.ApplicationCredentials(srv.ApplicationID, tokOtherKey())
	if err != nil {
		t.Fatal(err)
	}
	appForger, err := opentok.New(otherKey, opentok.WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("JWT signed with another secret", func(t *testing.T) {
		wantTokenError(t, srv, sid, tokMint(t, forger, sid, opentok.TokenOptions{}), "signature")
	})
	t.Run("T1 signed with another secret", func(t *testing.T) {
		wantTokenError(t, srv, sid, tokMint(t, forger, sid, opentok.TokenOptions{Legacy: true}), "signature does not verify")
	})
	t.Run("JWT signed with another RSA key", func(t *testing.T) {
		wantTokenError(t, srv, appSid, tokMint(t, appForger, appSid, opentok.TokenOptions{}), "signature")
	})
	t.Run("application JWT signed with the project secret", func(t *testing.T) {
		// alg confusion: HS256 claims of the application must not pass.
		wantTokenError(t, srv, appSid, signHS(t, srv.APISecret, unifiedClaims(srv, appSid, "publisher", time.Now().Add(time.Hour))), "not this project")
	})
	t.Run("project JWT signed with the application key", func(t *testing.T) {
		wantTokenError(t, srv, sid, signRS(t, srv.PrivateKey, legacyClaims(srv, sid, "publisher", time.Now().Add(time.Hour))), "not this application")
	})
	t.Run("tampered T1", func(t *testing.T) {
		tok := tokMint(t, legacy, sid, opentok.TokenOptions{Legacy: true, Role: opentok.RoleSubscriber})
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(tok, "T1=="))
		if err != nil {
			t.Fatal(err)
		}
		meta, data, _ := strings.Cut(string(raw), ":")
		// Flip one character of the signed data: subscriber -> Subscriber.
		i := strings.Index(data, "role=subscriber") + len("role=")
		flipped := data[:i] + "S" + data[i+1:]
		forged := "T1==" + base64.StdEncoding.EncodeToString([]byte(meta+":"+flipped))
		wantTokenError(t, srv, sid, forged, "signature does not verify")
		// The untampered token still works, so the flip is what was refused.
		p, err := srv.Join(sid, tok)
		if err != nil {
			t.Fatalf("untampered T1: %v", err)
		}
		_ = p.Leave()
	})
	t.Run("T1 of another partner", func(t *testing.T) {
		tok := tokMint(t, legacy, sid, opentok.TokenOptions{Legacy: true})
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(tok, "T1=="))
		forged := "T1==" + base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(raw), "partner_id="+srv.APIKey, "partner_id=12345", 1)))
		wantTokenError(t, srv, sid, forged, "partner_id")
	})
	t.Run("not a token", func(t *testing.T) {
		wantTokenError(t, srv, sid, "hello", "")
		wantTokenError(t, srv, sid, "T1==!!!", "base64")
	})
}

func TestExpiredTokensAreRefused(t *testing.T) {
	for _, k := range tokKinds {
		t.Run(k.name, func(t *testing.T) {
			srv := tokServer(t)
			c := tokClient(t, srv, k.application)
			sid := tokSession(t, c)
			// A client whose clock is two hours behind mints one-hour tokens
			// that expired an hour ago.
			stale := tokClient(t, srv, k.application, opentok.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }))
			wantTokenError(t, srv, sid, tokMint(t, stale, sid, opentok.TokenOptions{TTL: time.Hour}), "expired")
			if !k.application {
				wantTokenError(t, srv, sid, tokMint(t, stale, sid, opentok.TokenOptions{TTL: time.Hour, Legacy: true}), "expired")
			}
			past := time.Now().Add(-time.Minute)
			if k.application {
				wantTokenError(t, srv, sid, signRS(t, srv.PrivateKey, unifiedClaims(srv, sid, "publisher", past)), "expired")
			} else {
				wantTokenError(t, srv, sid, signHS(t, srv.APISecret, legacyClaims(srv, sid, "publisher", past)), "expired")
			}
			// Control: the same hand-made token valid for a minute joins.
			future := time.Now().Add(time.Minute)
			tok := signHS(t, srv.APISecret, legacyClaims(srv, sid, "publisher", future))
			if k.application {
				tok = signRS(t, srv.PrivateKey, unifiedClaims(srv, sid, "publisher", future))
			}
			if _, err := srv.Join(sid, tok); err != nil {
				t.Fatalf("hand-made token valid for a minute: %v", err)
			}
		})
	}
}

func TestTokensForAnotherSessionAreRefused(t *testing.T) {
	for _, k := range tokKinds {
		t.Run(k.name, func(t *testing.T) {
			srv := tokServer(t)
			c := tokClient(t, srv, k.application)
			a, b := tokSession(t, c), tokSession(t, c)
			wantTokenError(t, srv, b, tokMint(t, c, a, opentok.TokenOptions{}), "not")
			if !k.application {
				wantTokenError(t, srv, b, tokMint(t, c, a, opentok.TokenOptions{Legacy: true}), "not")
			}
			// A session the service never created.
			other := tokServer(t, WithApplication(srv.ApplicationID, srv.PrivateKey))
			ghost := tokSession(t, tokClient(t, other, k.application))
			wantTokenError(t, srv, ghost, tokMint(t, c, ghost, opentok.TokenOptions{}), "never created")
		})
	}
	t.Run("session of another project", func(t *testing.T) {
		srv := tokServer(t)
		legacy, unified := tokClient(t, srv, false), tokClient(t, srv, true)
		projSid, appSid := tokSession(t, legacy), tokSession(t, unified)
		// gavel's generator refuses these itself, so they are hand-made:
		// each validly signed by one project for the other's session.
		hour := time.Now().Add(time.Hour)
		wantTokenError(t, srv, appSid, signHS(t, srv.APISecret, legacyClaims(srv, appSid, "publisher", hour)), "another project")
		wantTokenError(t, srv, projSid, signRS(t, srv.PrivateKey, unifiedClaims(srv, projSid, "publisher", hour)), "another project")
	})
}

func TestHandMadeTokenClaims(t *testing.T) {
	srv := tokServer(t)
	sid, appSid := tokSession(t, tokClient(t, srv, false)), tokSession(t, tokClient(t, srv, true))
	hour := time.Now().Add(time.Hour)
	join := func(t *testing.T, session, tok string) *Participant {
		t.Helper()
		p, err := srv.Join(session, tok)
		if err != nil {
			t.Fatalf("join: %v", err)
		}
		t.Cleanup(func() { _ = p.Leave() })
		return p
	}

	t.Run("unknown role", func(t *testing.T) {
		wantTokenError(t, srv, sid, signHS(t, srv.APISecret, legacyClaims(srv, sid, "admin", hour)), "role")
		wantTokenError(t, srv, appSid, signRS(t, srv.PrivateKey, unifiedClaims(srv, appSid, "owner", hour)), "role")
	})
	t.Run("scope other than session.connect", func(t *testing.T) {
		claims := legacyClaims(srv, sid, "publisher", hour)
		claims["scope"] = "session.admin"
		wantTokenError(t, srv, sid, signHS(t, srv.APISecret, claims), "scope")
	})
	t.Run("no exp", func(t *testing.T) {
		claims := legacyClaims(srv, sid, "publisher", hour)
		delete(claims, "exp")
		wantTokenError(t, srv, sid, signHS(t, srv.APISecret, claims), "")
	})
	t.Run("Python SDKs: subject instead of sub, layout classes as an array", func(t *testing.T) {
		claims := unifiedClaims(srv, appSid, "moderator", hour)
		delete(claims, "sub")
		claims["subject"] = "video"
		claims["initial_layout_class_list"] = []string{"focus", "full"}
		claims["connection_data"] = "from=python"
		p := join(t, appSid, signRS(t, srv.PrivateKey, claims))
		if p.Role() != opentok.RoleModerator {
			t.Errorf("role %s, want moderator", p.Role())
		}
	})
	t.Run("OpenTok Python in Vonage mode: no iss, ist project, no layout classes", func(t *testing.T) {
		claims := unifiedClaims(srv, appSid, "publisher", hour)
		delete(claims, "initial_layout_class_list")
		claims["ist"] = "project"
		join(t, appSid, signRS(t, srv.PrivateKey, claims))
	})
	t.Run("legacy JWT with layout classes as an array and Node's extra claims", func(t *testing.T) {
		claims := legacyClaims(srv, sid, "subscriber", hour)
		claims["initial_layout_class_list"] = []string{"focus"}
		claims["create_time"] = time.Now().Unix()
		claims["expire_time"] = hour.Unix()
		claims["nonce"] = 0.3942609881050885
		p := join(t, sid, signHS(t, srv.APISecret, claims))
		if p.Role() != opentok.RoleSubscriber {
			t.Errorf("role %s, want subscriber", p.Role())
		}
	})
	t.Run("no role means publisher", func(t *testing.T) {
		claims := legacyClaims(srv, sid, "", hour)
		delete(claims, "role")
		if p := join(t, sid, signHS(t, srv.APISecret, claims)); p.Role() != opentok.RolePublisher {
			t.Errorf("role %s, want publisher", p.Role())
		}
	})
	t.Run("T1 with Java's URL-safe base64", func(t *testing.T) {
		tok := tokMint(t, tokClient(t, srv, false), sid, opentok.TokenOptions{Legacy: true, Data: "??>>??>>"})
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(tok, "T1=="))
		join(t, sid, "T1=="+base64.URLEncoding.EncodeToString(raw))
	})
}

// tokCallbacks collects session-monitoring callbacks.
type tokCallbacks struct {
	mu     sync.Mutex
	events []monitoringEvent
}

func (cb *tokCallbacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev monitoringEvent
	if err := json.Unmarshal(body, &ev); err == nil {
		cb.mu.Lock()
		cb.events = append(cb.events, ev)
		cb.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

// reason returns the reason of the first event of that kind about id.
func (cb *tokCallbacks) reason(event, id string) (string, bool) {
	cb.mu.Lock()
	defer cb.mu.Unlock()
	for _, ev := range cb.events {
		if ev.Event != event {
			continue
		}
		if ev.Connection != nil && ev.Connection.ID == id || ev.Stream != nil && ev.Stream.ID == id {
			return ev.Reason, true
		}
	}
	return "", false
}

func TestRoleRules(t *testing.T) {
	for _, k := range tokKinds {
		t.Run(k.name, func(t *testing.T) {
			cb := &tokCallbacks{}
			hook := httptest.NewServer(cb)
			t.Cleanup(hook.Close)
			srv := tokServer(t, WithCallbackURL(GroupSession, hook.URL))
			c := tokClient(t, srv, k.application)
			sid := tokSession(t, c)
			joinAs := func(role opentok.Role) *Participant {
				p, err := srv.Join(sid, tokMint(t, c, sid, opentok.TokenOptions{Role: role}))
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			sub, pub, only, mod := joinAs(opentok.RoleSubscriber), joinAs(opentok.RolePublisher), joinAs(opentok.RolePublisherOnly), joinAs(opentok.RoleModerator)

			if _, err := sub.Publish(PublishOptions{}); !errors.Is(err, ErrForbidden) {
				t.Errorf("subscriber publish: %v, want ErrForbidden", err)
			}
			pubStream, err := pub.Publish(PublishOptions{Name: "pub"})
			if err != nil {
				t.Fatal(err)
			}
			onlyStream, err := only.Publish(PublishOptions{Name: "only"})
			if err != nil {
				t.Fatalf("publisheronly publish: %v", err)
			}
			if err := only.Subscribe(pubStream); !errors.Is(err, ErrForbidden) {
				t.Errorf("publisheronly subscribe: %v, want ErrForbidden", err)
			}
			for _, p := range []*Participant{sub, pub, mod} {
				if err := p.Subscribe(onlyStream); err != nil {
					t.Errorf("%s subscribe: %v", p.Role(), err)
				}
			}
			for _, p := range []*Participant{sub, pub, only} {
				if err := p.ForceDisconnect(mod.ConnectionID()); !errors.Is(err, ErrForbidden) {
					t.Errorf("%s force disconnect: %v, want ErrForbidden", p.Role(), err)
				}
				if err := p.ForceUnpublish(pubStream); !errors.Is(err, ErrForbidden) {
					t.Errorf("%s force unpublish: %v, want ErrForbidden", p.Role(), err)
				}
			}
			if st, _ := srv.Session(sid); len(st.Connections) != 4 || len(st.Streams) != 2 {
				t.Fatalf("refused moderation changed the session: %+v", st)
			}

			if err := mod.ForceUnpublish(pubStream); err != nil {
				t.Fatalf("moderator force unpublish: %v", err)
			}
			if err := mod.ForceDisconnect(only.ConnectionID()); err != nil {
				t.Fatalf("moderator force disconnect: %v", err)
			}
			if ok, reason := only.Connected(); ok || reason != ReasonForceDisconnected {
				t.Errorf("publisheronly after force disconnect: connected=%v reason %q", ok, reason)
			}
			if ok, _ := pub.Connected(); !ok {
				t.Error("force unpublish disconnected the publisher")
			}
			if err := mod.ForceUnpublish(pubStream); !errors.Is(err, ErrNoSuchStream) {
				t.Errorf("second force unpublish: %v, want ErrNoSuchStream", err)
			}
			if err := mod.ForceDisconnect(only.ConnectionID()); !errors.Is(err, ErrNoSuchClient) {
				t.Errorf("second force disconnect: %v, want ErrNoSuchClient", err)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.FlushCallbacks(ctx); err != nil {
				t.Fatal(err)
			}
			for _, want := range []struct{ event, id, reason string }{
				{"streamDestroyed", pubStream, ReasonForceUnpublished},
				{"streamDestroyed", onlyStream, ReasonForceDisconnected},
				{"connectionDestroyed", only.ConnectionID(), ReasonForceDisconnected},
			} {
				if got, ok := cb.reason(want.event, want.id); !ok || got != want.reason {
					t.Errorf("%s %s: reason %q (seen %v), want %q", want.event, want.id, got, ok, want.reason)
				}
			}
		})
	}
}
