// Package sshconsole serves the console over SSH from the relay itself
// (charm.land/wish/v2): a moderator types `ssh -p 2222 relay.example.com`
// and their public key decides who they are. Each SSH session runs its
// own console attached to the relay in-process — no token, no socket —
// as the configured user and role, so the audit trail names them; an exec
// request `events` streams the relay's frames as JSON lines, as `gavel
// events` does.
package sshconsole

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"charm.land/wish/v2"
	"charm.land/wish/v2/bubbletea"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/tui"
)

// userKey is where authentication leaves the user in the SSH context, and
// pubKey the key they logged in with.
type (
	userKey struct{}
	pubKey  struct{}
)

// Server is the SSH console of one relay.
type Server struct {
	cfg     Config
	relay   *relay.Server
	console tui.Options // [console] settings every SSH console starts from
	logger  *slog.Logger
	ssh     *ssh.Server
	open    atomic.Int64 // sessions open

	mu       sync.Mutex
	users    []User                       // who may log in; SetUsers replaces them
	sessions map[ssh.Session]User         // open, with the user they logged in as
	programs map[ssh.Session]*tea.Program // the consoles among them
	closing  atomic.Bool                  // the relay is shutting down
}

// New builds the SSH console for r. console carries the look every
// session starts from (theme, keys, aliases); who and what it connects to
// is set per session. The host key is created at cfg.HostKeyFile (0600,
// ed25519) when it does not exist.
func New(cfg Config, r *relay.Server, console tui.Options, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, relay: r, console: console, logger: logger.With("component", "ssh"),
		users: cfg.Users, sessions: map[ssh.Session]User{}, programs: map[ssh.Session]*tea.Program{}}
	srv, err := wish.NewServer(
		wish.WithHostKeyPath(cfg.HostKeyFile),
		wish.WithPublicKeyAuth(s.authenticate),
		// A console's idle time is its person's (idleWatch); this drops
		// a connection with no traffic at all — a client gone, an events
		// stream with nothing to say — after twice that.
		wish.WithIdleTimeout(2*cfg.IdleTimeout),
		// wish composes the last middleware outermost: the session count
		// runs first, then an exec request's answer, then the console.
		wish.WithMiddleware(
			bubbletea.MiddlewareWithProgramHandler(s.program),
			s.exec,
			s.limit,
		),
	)
	if err != nil {
		return nil, fmt.Errorf("ssh: host key %s: %w", cfg.HostKeyFile, err)
	}
	s.ssh = srv
	return s, nil
}

// Fingerprint is the host key's SHA256 fingerprint, as ssh shows it on
// first connection.
func (s *Server) Fingerprint() string {
	if len(s.ssh.HostSigners) == 0 {
		return ""
	}
	return gossh.FingerprintSHA256(s.ssh.HostSigners[0].PublicKey())
}

// Serve serves on ln until ctx ends, then closes every session.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() {
		// Consoles quit as if their person pressed q, and are told why
		// (limit): a console killed mid-frame leaves a terminal in the
		// alternate screen, and wish logs it as an error.
		s.closing.Store(true)
		// Quit blocks until the program takes it: never under the lock.
		s.mu.Lock()
		for _, p := range s.programs {
			go p.Quit()
		}
		s.mu.Unlock()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := s.ssh.Shutdown(sctx); err != nil {
			_ = s.ssh.Close()
		}
	})
	defer stop()
	err := s.ssh.Serve(ln)
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return err
}

// authenticate lets in a key a user is listed with; any other is refused
// here, before a session exists, logged by fingerprint (a key's comment is
// the client's to say, never an identity) and counted.
func (s *Server) authenticate(ctx ssh.Context, key ssh.PublicKey) bool {
	s.mu.Lock()
	u, ok := userOf(s.users, key)
	s.mu.Unlock()
	if !ok {
		s.logger.Warn("ssh key refused", "fingerprint", gossh.FingerprintSHA256(key), "remote", ctx.RemoteAddr().String(), "login", ctx.User())
		s.relay.Metrics().SSHKeyRefused()
		return false
	}
	ctx.SetValue(userKey{}, u)
	ctx.SetValue(pubKey{}, key)
	return true
}

// SetUsers replaces who may log in (a config reload), and closes the
// open sessions of anyone whose key is no longer listed, or whose name or
// role changed, saying why: they log in again as what the config says.
func (s *Server) SetUsers(users []User) {
	s.mu.Lock()
	s.users = users
	var gone []ssh.Session
	var why []string
	for sess, u := range s.sessions {
		key, _ := sess.Context().Value(pubKey{}).(ssh.PublicKey)
		now, ok := userOf(users, key)
		switch {
		case !ok:
			gone, why = append(gone, sess), append(why, "your key is no longer listed in relay.ssh.users")
		case now.Name != u.Name || now.Role != u.Role:
			gone, why = append(gone, sess), append(why, fmt.Sprintf("your key is now %s's, as %s: log in again", now.Name, now.Role))
		}
	}
	s.mu.Unlock()
	for i, sess := range gone {
		s.logger.Info("ssh session closed: its user changed", "user", userOfSession(sess).Name, "why", why[i])
		wish.Fatalf(sess, "\r\ngavel: %s; closing this session\r\n", why[i])
	}
}

// track counts a session in while it runs, for SetUsers.
func (s *Server) track(sess ssh.Session) func() {
	s.mu.Lock()
	s.sessions[sess] = userOfSession(sess)
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
	}
}

func userOfSession(sess ssh.Session) User {
	u, _ := sess.Context().Value(userKey{}).(User)
	return u
}

// claims is who a user's consoles are to the relay: their name, their
// role, and a rate budget shared by all their sessions.
func claims(u User) relay.Claims {
	return relay.Claims{Name: u.Name, Role: u.Role, ID: "ssh:" + u.Name}
}

// limit turns away sessions past max_sessions, saying why.
func (s *Server) limit(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		if n := s.open.Add(1); n > int64(s.cfg.MaxSessions) {
			s.open.Add(-1)
			s.logger.Warn("ssh session refused: too many", "user", userOfSession(sess).Name, "max_sessions", s.cfg.MaxSessions)
			wish.Fatalf(sess, "gavel: %d sessions are open already (relay.ssh.max_sessions): try again later\r\n", s.cfg.MaxSessions)
			return
		}
		defer s.open.Add(-1)
		defer s.track(sess)()
		next(sess)
		if s.closing.Load() {
			wish.Println(sess, "gavel: the relay is shutting down; ssh in again in a moment")
		}
	}
}

// program is the console of one SSH session: the configured look, the
// user's identity, the session's terminal and environment, and a link to
// the relay in this process.
func (s *Server) program(sess ssh.Session) *tea.Program {
	u := userOfSession(sess)
	opts := s.console
	opts.RelayURL, opts.Token = "", ""
	opts.Connect = connector(s.relay.Hub(), claims(u))
	opts.Getenv = envOf(sess.Environ())
	if opts.Title == "" {
		opts.Title = s.relay.Name()
	}
	idle := newIdleWatch(time.Now())
	// MakeOptions' own filter turns a suspend (ctrl+z) into a resume: an
	// SSH session has no shell to suspend to. Ours does that too, after
	// noting the person's input (a later WithFilter replaces the earlier).
	popts := append(bubbletea.MakeOptions(sess), tea.WithFilter(func(_ tea.Model, msg tea.Msg) tea.Msg {
		switch msg.(type) {
		case tea.SuspendMsg:
			return tea.ResumeMsg{}
		case tea.KeyPressMsg, tea.MouseMsg, tea.PasteMsg:
			idle.touch(time.Now())
		}
		return msg
	}))
	p, err := tui.NewProgram(sess.Context(), opts, popts...)
	if err != nil {
		wish.Fatalln(sess, "gavel: "+err.Error())
		return nil
	}
	go idle.watch(sess, s.cfg.IdleTimeout, s.logger.With("user", u.Name))
	s.logger.Info("ssh console opened", "user", u.Name, "role", u.Role, "remote", sess.RemoteAddr().String())
	m := s.relay.Metrics()
	m.SSHSession("console", 1)
	s.mu.Lock()
	s.programs[sess] = p
	s.mu.Unlock()
	if s.closing.Load() {
		go p.Quit() // a console that opened as the relay began to stop; Run has not started
	}
	context.AfterFunc(sess.Context(), func() {
		s.mu.Lock()
		delete(s.programs, sess)
		s.mu.Unlock()
		m.SSHSession("console", -1)
		s.logger.Info("ssh console closed", "user", u.Name)
	})
	return p
}

// envOf reads a session's environment (the client's, as sent).
func envOf(env []string) func(string) string {
	return func(key string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
				return v
			}
		}
		return ""
	}
}

// idleWatch ends a console nobody has typed into for idle_timeout. The
// SSH server's own idle timeout counts any traffic, and a console draws
// every second: only the person's input says someone is there.
type idleWatch struct{ last atomic.Int64 } // unix nanoseconds of the last input

func newIdleWatch(now time.Time) *idleWatch {
	w := &idleWatch{}
	w.touch(now)
	return w
}

func (w *idleWatch) touch(now time.Time) { w.last.Store(now.UnixNano()) }

// watch closes sess, saying why, once idle for d; it returns when the
// session ends.
func (w *idleWatch) watch(sess ssh.Session, d time.Duration, logger *slog.Logger) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-sess.Context().Done():
			return
		case <-t.C:
		}
		left := d - time.Since(time.Unix(0, w.last.Load()))
		if left > 0 {
			t.Reset(left)
			continue
		}
		logger.Info("ssh console closed: idle", "idle_timeout", d)
		wish.Fatalf(sess, "\r\ngavel: no key pressed for %s (relay.ssh.idle_timeout): closing\r\n", d)
		return
	}
}
