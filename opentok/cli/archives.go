package cli

import (
	"fmt"
	"io"
	"strconv"

	"github.com/gavelhq/gavel/opentok"
	"github.com/spf13/cobra"
)

func archiveCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "archive",
		Short: "Record sessions: start, stop, get, list, delete archives",
	}
	cmd.AddCommand(archiveStartCmd(env), archiveStopCmd(env), archiveGetCmd(env), archiveListCmd(env), archiveDeleteCmd(env))
	return cmd
}

func archiveStartCmd(env *Env) *cobra.Command {
	var (
		opts                   opentok.ArchiveOptions
		outputMode, streamMode string
		layout, stylesheet     string
		noAudio, noVideo       bool
	)
	cmd := &cobra.Command{
		Use:   "start SESSION",
		Short: "Start recording a routed session",
		Long: "Start an archive. The session must be routed and have someone connected. Composed\n" +
			"archives mix every stream into one file (--resolution, --layout); individual archives\n" +
			"keep one file per stream. A second simultaneous archive needs its own --multi-archive-tag.",
		Example: "  gavel archive start 1_MX4… --name standup --resolution 1280x720 --layout bestFit",
		Args:    exactArgs("SESSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.SessionID = args[0]
			opts.OutputMode = opentok.OutputMode(outputMode)
			opts.StreamMode = opentok.StreamMode(streamMode)
			if noAudio {
				opts.HasAudio = new(false)
			}
			if noVideo {
				opts.HasVideo = new(false)
			}
			if layout != "" {
				opts.Layout = &opentok.Layout{Type: opentok.LayoutType(layout), Stylesheet: stylesheet}
			} else if stylesheet != "" {
				return usagef("--stylesheet needs --layout custom")
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			a, err := c.Archives.Start(ctx(cmd), opts)
			if err != nil {
				return err
			}
			return env.emit(a, func(w io.Writer) { archiveTable(w, []opentok.Archive{*a}) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Name, "name", "", "archive name")
	f.StringVar(&outputMode, "output-mode", "", "composed (one mixed file, the default) or individual (a file per stream)")
	f.StringVar(&opts.Resolution, "resolution", "", "composed only: 640x480, 480x640, 1280x720, 720x1280, 1920x1080 or 1080x1920")
	f.StringVar(&layout, "layout", "", "composed only: bestFit, pip, verticalPresentation, horizontalPresentation or custom")
	f.StringVar(&stylesheet, "stylesheet", "", "CSS for --layout custom")
	f.StringVar(&streamMode, "stream-mode", "", "auto (every stream, the default) or manual (add streams with the API)")
	f.StringVar(&opts.MultiArchiveTag, "multi-archive-tag", "", "tag that allows several simultaneous archives of one session")
	f.BoolVar(&noAudio, "no-audio", false, "record video only")
	f.BoolVar(&noVideo, "no-video", false, "record audio only")
	return cmd
}

func archiveStopCmd(env *Env) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "stop ARCHIVE",
		Short: "Stop a recording archive",
		Args:  exactArgs("ARCHIVE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := env.confirm(ctx(cmd), yes, "stop recording archive "+args[0]); err != nil {
				return err
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			a, err := c.Archives.Stop(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			return env.emit(a, func(w io.Writer) { archiveTable(w, []opentok.Archive{*a}) })
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func archiveGetCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "get ARCHIVE",
		Short: "Show one archive",
		Args:  exactArgs("ARCHIVE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			a, err := c.Archives.Get(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			return env.emit(a, func(w io.Writer) {
				archiveTable(w, []opentok.Archive{*a})
				if a.URL != "" {
					fmt.Fprintf(w, "download (valid for minutes): %s\n", a.URL)
				}
			})
		},
	}
}

func archiveListCmd(env *Env) *cobra.Command {
	var opts opentok.ListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List archives, newest first",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			list, err := c.Archives.List(ctx(cmd), opts)
			if err != nil {
				return err
			}
			return env.emit(list, func(w io.Writer) {
				archiveTable(w, list.Items)
				fmt.Fprintf(w, "%d of %d archive(s)\n", len(list.Items), list.Count)
			})
		},
	}
	listFlags(cmd, &opts)
	return cmd
}

func archiveDeleteCmd(env *Env) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "delete ARCHIVE",
		Short: "Delete an available or uploaded archive",
		Args:  exactArgs("ARCHIVE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := env.confirm(ctx(cmd), yes, "delete archive "+args[0]); err != nil {
				return err
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := c.Archives.Delete(ctx(cmd), args[0]); err != nil {
				return err
			}
			return env.emit(map[string]any{"ok": true, "action": "archive_delete", "archive_id": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "deleted archive %s\n", args[0])
			})
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// listFlags binds --session, --offset and --count, shared by archive and broadcast lists.
func listFlags(cmd *cobra.Command, opts *opentok.ListOptions) {
	f := cmd.Flags()
	f.StringVar(&opts.SessionID, "session", "", "only this session's items")
	f.IntVar(&opts.Offset, "offset", 0, "skip this many of the newest items")
	f.IntVar(&opts.Count, "count", 0, "page size, 1–1000 (default: the service's 50)")
}

func archiveTable(w io.Writer, archives []opentok.Archive) {
	rows := make([][]string, 0, len(archives))
	for _, a := range archives {
		rows = append(rows, []string{a.ID, string(a.Status), orDash(a.Name), orDash(string(a.OutputMode)),
			strconv.Itoa(a.Duration) + "s", strconv.FormatInt(a.Size, 10), millis(a.CreatedAt), a.SessionID})
	}
	table(w, []string{"archive", "status", "name", "output", "duration", "bytes", "created", "session"}, rows)
}
