// Package cli holds gavel's scriptable one-shot commands over the opentok
// client: session create, token, signal, disconnect, mute, streams,
// connections, archive and broadcast. Each prints a human table by default
// and the API's own JSON with --json, and reports failure through exitcode.Code:
// 0 ok, 1 the API or the network failed, 2 the command line or config was wrong.
//
// It knows nothing of config files or the console: main hands it a way to
// build a client and the streams to write to.
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
	"github.com/spf13/cobra"
)

// Env is what the commands need from the program around them.
type Env struct {
	// Client builds the API client on first use, so commands that make no
	// call (help, session info) work without credentials.
	Client func() (*opentok.Client, error)
	Stdin  io.Reader
	Stdout io.Writer
	// Stderr takes the (y/N) prompts, so that stdout carries only the
	// command's result (a table, or JSON a script reads); nil means Stdout.
	Stderr io.Writer
	// StdinIsTerminal says whether a person can answer a (y/N) prompt.
	StdinIsTerminal bool
	// JSON is bound to the global --json flag.
	JSON *bool
}

// Commands returns the one-shot commands, ready to add to the root.
func Commands(env *Env) []*cobra.Command {
	return []*cobra.Command{
		sessionCmd(env),
		tokenCmd(env),
		signalCmd(env),
		disconnectCmd(env),
		muteCmd(env),
		streamsCmd(env),
		connectionsCmd(env),
		archiveCmd(env),
		broadcastCmd(env),
	}
}

func usagef(format string, args ...any) error {
	return &exitcode.UsageError{Err: fmt.Errorf(format, args...)}
}

// client builds the API client, marking its failures as configuration errors.
func (env *Env) client() (*opentok.Client, error) {
	c, err := env.Client()
	if err != nil {
		return nil, &exitcode.ConfigError{Err: err}
	}
	return c, nil
}

// emit writes v as indented JSON with --json, or calls human otherwise.
func (env *Env) emit(v any, human func(w io.Writer)) error {
	if *env.JSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		return nil
	}
	human(env.Stdout)
	return nil
}

// table writes aligned columns; the header row is upper-cased like kubectl's.
func table(w io.Writer, header []string, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(header, "\t")))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

// confirm asks a person before a destructive action. Without a terminal to
// ask on it refuses, unless --yes was given: a script must say it means it.
func (env *Env) confirm(ctx context.Context, yes bool, prompt string) error {
	if yes {
		return nil
	}
	if !env.StdinIsTerminal {
		return usagef("%s needs confirmation: pass --yes when running without a terminal", prompt)
	}
	w := env.Stderr
	if w == nil {
		w = env.Stdout
	}
	fmt.Fprintf(w, "%s? (y/N) ", prompt)
	// Read in the background so that Ctrl-C (which cancels ctx) ends the
	// prompt as a No instead of waiting for a line that never comes.
	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(env.Stdin).ReadString('\n')
		answer <- line
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(w)
		return usagef("not confirmed: %s (interrupted)", prompt)
	case line := <-answer:
		switch strings.ToLower(strings.TrimSpace(line)) {
		case "y", "yes":
			return nil
		}
		return usagef("not confirmed: %s", prompt)
	}
}

// exactArgs is cobra.ExactArgs with a message that names what is missing
// and an error that exits 2.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			for i, a := range args {
				if strings.TrimSpace(a) == "" {
					return usagef("%s must not be empty", names[i])
				}
			}
			return nil
		}
		if len(args) < len(names) {
			return usagef("missing %s (usage: %s)", strings.Join(names[len(args):], " and "), cmd.UseLine())
		}
		return usagef("too many arguments: expected %s (usage: %s)", strings.Join(names, " "), cmd.UseLine())
	}
}

// ctx is the command's context; cobra leaves it nil when none was given.
func ctx(cmd *cobra.Command) context.Context {
	if c := cmd.Context(); c != nil {
		return c
	}
	return context.Background()
}
