package relaycmd

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/tui"
	"github.com/gavelhq/gavel/tui/sshconsole"
)

// sshPlan is [relay.ssh] checked and listening, before the relay starts:
// a mistake in it stops `gavel relay` before the log is opened.
type sshPlan struct {
	cfg     sshconsole.Config
	console tui.Options
	ln      net.Listener // nil: no SSH
	srv     *sshconsole.Server
	dataDir string
}

// sshOf checks [relay.ssh] and listens on its address, if it has one.
func sshOf(env Env, cfg config.Config, dataDir string) (*sshPlan, error) {
	sc, err := sshconsole.FromConfig(cfg.Relay.SSH, dataDir)
	if err != nil || sc.Listen == "" {
		return &sshPlan{}, err
	}
	p := &sshPlan{cfg: sc, dataDir: dataDir}
	if env.Console != nil {
		if p.console, err = env.Console(cfg.Console); err != nil {
			return nil, err
		}
	}
	if p.ln, err = net.Listen("tcp", sc.Listen); err != nil {
		return nil, listenError("ssh", sc.Listen, err)
	}
	return p, nil
}

func (p *sshPlan) close() {
	if p.ln != nil {
		_ = p.ln.Close()
	}
}

// start serves the SSH console of r until ctx ends, and prints how to
// reach it: the ssh line and the host key's fingerprint, which a user
// compares with what ssh shows the first time. The channel has Serve's
// error once it has returned (nil at once when there is no SSH).
func (p *sshPlan) start(ctx context.Context, r *relay.Server, out io.Writer, logger *slog.Logger) (<-chan error, error) {
	done := make(chan error, 1)
	if p.ln == nil {
		done <- nil
		return done, nil
	}
	srv, err := sshconsole.New(p.cfg, r, p.console, logger)
	if err != nil {
		p.close()
		return nil, err
	}
	p.srv = srv
	a := p.ln.Addr().(*net.TCPAddr)
	host, _ := advertisedHost(a)
	h, _, _ := net.SplitHostPort(host)
	fmt.Fprintf(out, "  ssh:       ssh -p %s %s   (host key %s; users in [[relay.ssh.users]])\n", strconv.Itoa(a.Port), h, srv.Fingerprint())
	go func() { done <- srv.Serve(ctx, p.ln) }()
	return done, nil
}

// reload reads [[relay.ssh.users]] again (SIGHUP): a user whose key went
// is closed out, saying why; a config that does not read keeps the users
// in force, and says so in the log. Only the users change: listen and
// the host key take a restart.
func (p *sshPlan) reload(load func() (config.Config, error), logger *slog.Logger) {
	if p.srv == nil {
		return
	}
	cfg, err := load()
	if err == nil {
		var sc sshconsole.Config
		if sc, err = sshconsole.FromConfig(cfg.Relay.SSH, p.dataDir); err == nil {
			p.srv.SetUsers(sc.Users)
			logger.Info("ssh users reloaded", "users", len(sc.Users))
			return
		}
	}
	logger.Error("config reload refused: the ssh users in force stay", "err", err)
}
