// Package tmuxtest drives programs in a real terminal for end-to-end
// tests: each Pane is a private tmux server (its own socket, removed with
// the test) with one window, read as text and typed into as a person
// would.
package tmuxtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Need skips a test without tmux, or fails it on CI (CI set), where a
// skipped real-terminal test would look green without having run.
func Need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range append([]string{"tmux"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required on CI (CI=%s) for the real-terminal tests: %v", tool, os.Getenv("CI"), err)
			}
			t.Skipf("%s not installed (CI would fail here)", tool)
		}
	}
}

// ExitMarker is printed by the pane's shell once the command returns,
// followed by its exit status.
const ExitMarker = "COMMAND-EXITED-WITH-"

// Pane is one tmux window running a command.
type Pane struct {
	t      testing.TB
	socket string
	env    []string
	tmpdir string
}

// TempDir is the window's TMPDIR, for a test to count what the command
// leaves there.
func (p *Pane) TempDir() string { return p.tmpdir }

// Start runs command in a width×height window with a clean environment
// (PATH, a HOME of its own with no config in it, TERM with colours) plus
// env; the server is killed when the test ends (a hang-up for the
// command), before cleanups registered earlier run.
func Start(t testing.TB, width, height int, command string, env ...string) *Pane {
	t.Helper()
	home := t.TempDir()
	p := &Pane{t: t, socket: fmt.Sprintf("gavel-tmuxtest-%d-%d", os.Getpid(), time.Now().UnixNano()), tmpdir: filepath.Join(home, "tmp"),
		env: append([]string{
			"PATH=" + os.Getenv("PATH"),
			"HOME=" + home,
			"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
			"XDG_STATE_HOME=" + filepath.Join(home, ".state"),
			"SHELL=/bin/sh",
			"TERM=xterm-256color",
			"LANG=C.UTF-8",
			"LC_ALL=C.UTF-8",
			"TMUX_TMPDIR=" + home,
			"TMPDIR=" + filepath.Join(home, "tmp"),
		}, env...)}
	if err := os.Mkdir(p.tmpdir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd("kill-server").Run() })
	script := command + `; echo "` + ExitMarker + `$?"; sleep 600`
	if out, err := p.cmd("-f", "/dev/null", "new-session", "-d", "-x", strconv.Itoa(width), "-y", strconv.Itoa(height), script).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return p
}

func (p *Pane) cmd(args ...string) *exec.Cmd {
	c := exec.Command("tmux", append([]string{"-L", p.socket}, args...)...)
	c.Env = p.env
	return c
}

// Capture is the window's text, a line per row, without attributes.
func (p *Pane) Capture() string {
	p.t.Helper()
	out, err := p.cmd("capture-pane", "-p", "-t", "0").Output()
	if err != nil {
		p.t.Fatalf("tmux capture-pane: %v", err)
	}
	return string(out)
}

// CaptureANSI is the window's text with its colours and attributes, as
// escape sequences.
func (p *Pane) CaptureANSI() string {
	p.t.Helper()
	out, err := p.cmd("capture-pane", "-p", "-e", "-t", "0").Output()
	if err != nil {
		p.t.Fatalf("tmux capture-pane -e: %v", err)
	}
	return string(out)
}

// Keys sends tmux key names (Enter, Escape, Up, q, /).
func (p *Pane) Keys(keys ...string) {
	p.t.Helper()
	if out, err := p.cmd(append([]string{"send-keys", "-t", "0"}, keys...)...).CombinedOutput(); err != nil {
		p.t.Fatalf("tmux send-keys %q: %v\n%s", keys, err, out)
	}
}

// Literal types text as is.
func (p *Pane) Literal(text string) {
	p.t.Helper()
	if out, err := p.cmd("send-keys", "-t", "0", "-l", text).CombinedOutput(); err != nil {
		p.t.Fatalf("tmux send-keys -l %q: %v\n%s", text, err, out)
	}
}

// WaitFor polls the window until ok says the screen is right, and
// returns it; it fails the test with the screen after timeout.
func (p *Pane) WaitFor(timeout time.Duration, what string, ok func(screen string) bool) string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		screen := p.Capture()
		if ok(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("after %v, still waiting for %s; the screen:\n%s", timeout, what, screen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Footer is the screen's last non-blank line.
func Footer(screen string) string {
	lines := strings.Split(strings.TrimRight(screen, "\n "), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
