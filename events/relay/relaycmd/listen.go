package relaycmd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
)

// listenError is a failed net.Listen on addr (relay.listen or --listen):
// an address that cannot be one (no port, a port out of range, a host
// that does not exist) is a configuration mistake, exit 2; one the system
// refuses (in use, not this machine's) is a failure, exit 1.
func listenError(what, addr string, err error) error {
	err = fmt.Errorf("%s: listen on %s (relay.listen or --listen): %w", what, addr, err)
	var ae *net.AddrError
	var de *net.DNSError
	if errors.As(err, &ae) || errors.As(err, &de) && de.IsNotFound {
		return &exitcode.ConfigError{Err: err}
	}
	return err
}

// advertisedHost is host:port for the URLs a relay listening on a prints:
// a's own, or when a is every interface (0.0.0.0, ::), which nobody can
// dial or register, this machine's name, else localhost.
func advertisedHost(a *net.TCPAddr) (hostPort string, everyInterface bool) {
	port := strconv.Itoa(a.Port)
	if !a.IP.IsUnspecified() {
		return net.JoinHostPort(a.IP.String(), port), false
	}
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = "localhost"
	}
	return net.JoinHostPort(name, port), true
}

// hostsOf is for the embedded relay: its console dials it on loopback
// when it listens on every interface; the callback URL names it as
// advertisedHost does.
func hostsOf(a *net.TCPAddr) (dial, callback string) {
	callback, every := advertisedHost(a)
	if !every {
		return callback, callback
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(a.Port)), callback
}

// OtherCallbackPaths names the callback URLs besides the session one, as
// "and /archive, /broadcast, …": every group the relay mounts, so the
// list cannot fall behind the routes.
func OtherCallbackPaths() string {
	var paths []string
	for _, g := range events.Groups() {
		if g != events.GroupSession {
			paths = append(paths, "/"+string(g))
		}
	}
	return "and " + strings.Join(paths, ", ")
}

// printListening is `gavel relay`'s first words on stdout: where it
// listens and the URLs to use. The exact address is also in the log
// ("relay listening", addr).
func printListening(w io.Writer, a *net.TCPAddr) {
	host, every := advertisedHost(a)
	if every {
		fmt.Fprintf(w, "relay listening on %s (every interface)\n", a)
	} else {
		fmt.Fprintf(w, "relay listening on %s\n", a)
	}
	fmt.Fprintf(w, "  callbacks: http://%s/v1/callbacks/session (%s)\n  consoles:  ws://%s%s\n", host, OtherCallbackPaths(), host, events.StreamPath)
	if every {
		fmt.Fprintf(w, "  The Video API calls back from the internet: register this relay's public https:// name\n"+
			"  (a TLS proxy or tunnel in front of port %d), e.g. https://relay.example.com/v1/callbacks/session\n", a.Port)
	}
}
