package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/gavelhq/gavel/opentok"
	"github.com/spf13/cobra"
)

func broadcastCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "broadcast",
		Short: "Stream sessions live over HLS and RTMP: start, stop, get, list",
	}
	cmd.AddCommand(broadcastStartCmd(env), broadcastStopCmd(env), broadcastGetCmd(env), broadcastListCmd(env))
	return cmd
}

func broadcastStartCmd(env *Env) *cobra.Command {
	var (
		opts                 opentok.BroadcastOptions
		hls, dvr, lowLatency bool
		rtmp                 []string
		layout, streamMode   string
	)
	cmd := &cobra.Command{
		Use:   "start SESSION",
		Short: "Start a live broadcast of a routed session",
		Long: "Start a broadcast to HLS and/or up to 5 RTMP targets. An RTMP target is written\n" +
			"SERVER_URL/STREAM_NAME: everything after the last '/' is the stream name.",
		Example: "  gavel broadcast start 1_MX4… --hls --low-latency\n" +
			"  gavel broadcast start 1_MX4… --rtmp rtmp://live.example.com/app/streamkey",
		Args: exactArgs("SESSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.SessionID = args[0]
			if hls || dvr || lowLatency {
				opts.Outputs.HLS = &opentok.HLSOutput{DVR: dvr, LowLatency: lowLatency}
			}
			for i, target := range rtmp {
				cut := strings.LastIndex(target, "/")
				// The cut must come after the host: in rtmp://host it would split "rtmp:/" from "host".
				scheme := strings.Index(target, "://")
				if cut <= 0 || cut == len(target)-1 || scheme >= 0 && cut <= scheme+3 {
					return usagef("--rtmp %q: expected SERVER_URL/STREAM_NAME, e.g. rtmp://host/app/key", target)
				}
				opts.Outputs.RTMP = append(opts.Outputs.RTMP, opentok.RTMPOutput{
					ID: fmt.Sprintf("rtmp%d", i+1), ServerURL: target[:cut], StreamName: target[cut+1:],
				})
			}
			if layout != "" {
				opts.Layout = &opentok.Layout{Type: opentok.LayoutType(layout)}
			}
			opts.StreamMode = opentok.StreamMode(streamMode)
			c, err := env.client()
			if err != nil {
				return err
			}
			b, err := c.Broadcasts.Start(ctx(cmd), opts)
			if err != nil {
				return err
			}
			return env.emit(b, func(w io.Writer) { broadcastTable(w, []opentok.Broadcast{*b}) })
		},
	}
	f := cmd.Flags()
	f.BoolVar(&hls, "hls", false, "broadcast over HLS")
	f.BoolVar(&dvr, "dvr", false, "HLS with rewind (not with --low-latency)")
	f.BoolVar(&lowLatency, "low-latency", false, "low-latency HLS (not with --dvr)")
	f.StringArrayVar(&rtmp, "rtmp", nil, "RTMP target SERVER_URL/STREAM_NAME (repeatable, at most 5)")
	f.StringVar(&opts.Resolution, "resolution", "", "e.g. 1280x720")
	f.StringVar(&layout, "layout", "", "bestFit, pip, verticalPresentation or horizontalPresentation")
	f.IntVar(&opts.MaxDuration, "max-duration", 0, "stop after this many seconds (default: the service's)")
	f.StringVar(&streamMode, "stream-mode", "", "auto (the default) or manual")
	f.StringVar(&opts.MultiBroadcastTag, "multi-broadcast-tag", "", "tag that allows several simultaneous broadcasts of one session")
	return cmd
}

func broadcastStopCmd(env *Env) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "stop BROADCAST",
		Short: "Stop a live broadcast",
		Args:  exactArgs("BROADCAST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := env.confirm(ctx(cmd), yes, "stop broadcast "+args[0]); err != nil {
				return err
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			b, err := c.Broadcasts.Stop(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			return env.emit(b, func(w io.Writer) { broadcastTable(w, []opentok.Broadcast{*b}) })
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func broadcastGetCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "get BROADCAST",
		Short: "Show one broadcast and its output URLs",
		Args:  exactArgs("BROADCAST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			b, err := c.Broadcasts.Get(ctx(cmd), args[0])
			if err != nil {
				return err
			}
			return env.emit(b, func(w io.Writer) {
				broadcastTable(w, []opentok.Broadcast{*b})
				if b.BroadcastURLs.HLS != "" {
					fmt.Fprintf(w, "hls: %s (%s)\n", b.BroadcastURLs.HLS, orDash(b.BroadcastURLs.HLSStatus))
				}
				for _, r := range b.BroadcastURLs.RTMP {
					fmt.Fprintf(w, "rtmp %s: %s/%s (%s)\n", r.ID, r.ServerURL, r.StreamName, orDash(r.Status))
				}
			})
		},
	}
}

func broadcastListCmd(env *Env) *cobra.Command {
	var opts opentok.ListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List broadcasts, newest first",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			list, err := c.Broadcasts.List(ctx(cmd), opts)
			if err != nil {
				return err
			}
			return env.emit(list, func(w io.Writer) {
				broadcastTable(w, list.Items)
				fmt.Fprintf(w, "%d of %d broadcast(s)\n", len(list.Items), list.Count)
			})
		},
	}
	listFlags(cmd, &opts)
	return cmd
}

func broadcastTable(w io.Writer, bs []opentok.Broadcast) {
	rows := make([][]string, 0, len(bs))
	for _, b := range bs {
		rows = append(rows, []string{b.ID, string(b.Status), orDash(b.Resolution), millis(b.CreatedAt), b.SessionID})
	}
	table(w, []string{"broadcast", "status", "resolution", "created", "session"}, rows)
}
