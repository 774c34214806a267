package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func streamsCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "streams SESSION",
		Short: "List the streams published in a session",
		Long: "List a session's streams: ID, video type (camera, screen, custom; blank for audio-only),\n" +
			"the publisher's name and layout classes. The API does not say which connection publishes a\n" +
			"stream or whether it is muted; the live console learns that from callbacks.",
		Args: exactArgs("SESSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			streams, err := c.Streams.List(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			return env.emit(streams, func(w io.Writer) {
				rows := make([][]string, 0, len(streams))
				for _, s := range streams {
					rows = append(rows, []string{s.ID, orDash(string(s.VideoType)), orDash(s.Name), orDash(strings.Join(s.LayoutClassList, ","))})
				}
				table(w, []string{"stream", "type", "name", "layout classes"}, rows)
				fmt.Fprintf(w, "%d stream(s)\n", len(streams))
			})
		},
	}
}

func connectionsCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "connections SESSION",
		Short: "List the connections of a session",
		Args:  exactArgs("SESSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			list, err := c.Connections.List(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			return env.emit(list, func(w io.Writer) {
				rows := make([][]string, 0, len(list.Items))
				for _, it := range list.Items {
					rows = append(rows, []string{it.ID, string(it.State), millis(it.CreatedAt)})
				}
				table(w, []string{"connection", "state", "created"}, rows)
				fmt.Fprintf(w, "%d connection(s)\n", len(list.Items))
			})
		},
	}
}

// millis formats a millisecond epoch as local RFC 3339, "-" when unset.
func millis(ms int64) string {
	if ms <= 0 {
		return "-"
	}
	return time.UnixMilli(ms).Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
