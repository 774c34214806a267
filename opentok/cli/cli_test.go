package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok/cli/exitcode"
)

// noRead is a stdin that must not be read.
type noRead struct{ t *testing.T }

func (r noRead) Read([]byte) (int, error) {
	r.t.Error("stdin was read")
	return 0, io.EOF
}

func TestConfirm(t *testing.T) {
	const prompt = "delete archive A"
	cases := []struct {
		name     string
		terminal bool
		yes      bool
		input    string // what the person types; "" is EOF
		ok       bool
		asks     bool   // the (y/N) prompt is shown
		want     string // in the refusal
	}{
		{name: "y", terminal: true, input: "y\n", ok: true, asks: true},
		{name: "yes", terminal: true, input: "yes\n", ok: true, asks: true},
		{name: "YES, spaced", terminal: true, input: "  YES \n", ok: true, asks: true},
		{name: "enter is the default, no", terminal: true, input: "\n", asks: true, want: "not confirmed: " + prompt},
		{name: "n", terminal: true, input: "n\n", asks: true, want: "not confirmed: " + prompt},
		{name: "Y es", terminal: true, input: "Y es\n", asks: true, want: "not confirmed: " + prompt},
		{name: "EOF", terminal: true, input: "", asks: true, want: "not confirmed: " + prompt},
		{name: "no terminal", want: prompt + " needs confirmation: pass --yes when running without a terminal"},
		{name: "--yes on a terminal", terminal: true, yes: true, ok: true},
		{name: "--yes without a terminal", yes: true, ok: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			var stdin io.Reader = strings.NewReader(tc.input)
			if !tc.asks {
				stdin = noRead{t}
			}
			env := &Env{Stdin: stdin, Stdout: &stdout, Stderr: &stderr, StdinIsTerminal: tc.terminal}
			err := env.confirm(context.Background(), tc.yes, prompt)
			if tc.ok != (err == nil) {
				t.Fatalf("confirm: %v, want confirmed %v", err, tc.ok)
			}
			if err != nil {
				if exitcode.Code(err) != 2 || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("refusal %q (exit %d), want exit 2 and %q", err, exitcode.Code(err), tc.want)
				}
			}
			wantPrompt := ""
			if tc.asks {
				wantPrompt = prompt + "? (y/N) "
			}
			if stderr.String() != wantPrompt {
				t.Errorf("stderr %q, want the prompt %q", stderr.String(), wantPrompt)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q: the prompt belongs on stderr, stdout carries the result", stdout.String())
			}
		})
	}
}

// TestConfirmWithoutStderr: an Env with no Stderr still shows the prompt.
func TestConfirmWithoutStderr(t *testing.T) {
	var stdout bytes.Buffer
	env := &Env{Stdin: strings.NewReader("y\n"), Stdout: &stdout, StdinIsTerminal: true}
	if err := env.confirm(context.Background(), false, "stop broadcast B"); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "stop broadcast B? (y/N) " {
		t.Errorf("stdout %q", stdout.String())
	}
}

// TestConfirmInterrupted: Ctrl-C at the prompt (a cancelled context) is a
// No, at once, even though no line was typed.
func TestConfirmInterrupted(t *testing.T) {
	stdin, _ := io.Pipe() // never written: a person who has not answered
	var out bytes.Buffer
	env := &Env{Stdin: stdin, Stdout: &out, StdinIsTerminal: true}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.confirm(ctx, false, "disconnect c1") }()
	cancel()
	select {
	case err := <-done:
		if err == nil || exitcode.Code(err) != 2 || !strings.Contains(err.Error(), "interrupted") {
			t.Errorf("interrupted prompt: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the prompt ignored the interrupt")
	}
}
