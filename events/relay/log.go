// Package relay is gavel's relay: it receives the Video API's callbacks,
// appends them to a durable JetStream log, keeps every session's state and
// fans it out to consoles over WebSockets, and executes their moderation
// commands.
package relay

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of LogConfig.
const (
	DefaultStream          = "GAVEL"
	DefaultDuplicateWindow = 2 * time.Hour
	DefaultMaxAge          = 7 * 24 * time.Hour
)

// embeddedStartTimeout bounds how long the embedded server may take to
// accept connections once started (it replays its store first; a 2 h
// dedup window means reading every message of the last two hours).
const embeddedStartTimeout = 30 * time.Second

// closeTimeout bounds Close's wait for the connection to drain.
const closeTimeout = 10 * time.Second

// LogConfig says where the log lives and how long it keeps records.
type LogConfig struct {
	// DataDir holds the embedded server's file store, under DataDir/nats
	// (the server itself appends /jetstream to that). Required unless
	// NatsURL is set.
	DataDir string
	// NatsURL is an external NATS server or cluster with JetStream; ""
	// runs an embedded nats-server in this process: no listener, an
	// in-process connection, and SyncAlways (every append fsynced before
	// it is acknowledged, so "200 = durable" holds through a power cut).
	//
	// With NatsURL the client cannot enforce or even see the server's
	// fsync policy: a single external server must be configured with
	// `jetstream { sync_interval: always }` for the same guarantee; a
	// cluster with R3 streams gets it from replication instead.
	NatsURL string
	// Stream is the JetStream stream's name (default "GAVEL"). Callbacks go
	// to subjects "<stream>.cb.<group>", audit entries to "<stream>.audit".
	Stream string
	// DuplicateWindow is how long a message id is remembered for
	// de-duplication (default 2 h). It must not exceed MaxAge. The server
	// rebuilds the window's ids at start by reading every message inside
	// it, so a wider window costs start-up time and memory; Vonage's later
	// retries (up to 24 h) get a seq of their own, and the hub marks them
	// duplicate (lateRetries) from an index it saves with its state.
	DuplicateWindow time.Duration
	// MaxAge is how long records are kept (default 7 days; 0 = default).
	// Older ones are trimmed from the head, which moves the first sequence:
	// consoles asking for an older seq get a snapshot.
	MaxAge time.Duration
	// Logger receives the log's and the embedded server's diagnostics
	// (nil = discard).
	Logger *slog.Logger
}

// ErrTrimmed says records a reader needed have aged out of the log
// (MaxAge): the oldest one still there is First. A reader that must see
// every record starts again from a snapshot.
type ErrTrimmed struct {
	First uint64
}

func (e *ErrTrimmed) Error() string {
	return fmt.Sprintf("log: records before seq %d have been trimmed from the log", e.First)
}

// ErrRecordTooLarge is returned by Append for a record bigger than the
// NATS server's maximum payload: storing it can never succeed, so callers
// should refuse it rather than ask for a retry.
var ErrRecordTooLarge = errors.New("log: record exceeds the NATS maximum payload")

// Log is the relay's durable, ordered log: one JetStream stream whose
// stream sequence is the gap-free seq consoles see. Every accepted
// callback and every audit entry is appended to it; nothing deletes from
// it except MaxAge trimming the head.
//
// A Log is safe for concurrent use.
type Log struct {
	cfg      LogConfig
	logger   *slog.Logger
	ns       *server.Server // nil with an external server
	nc       *nats.Conn
	closed   chan struct{} // closed by the connection's ClosedHandler
	js       jetstream.JetStream
	stream   jetstream.Stream
	epoch    string
	subjects []string

	closeOnce sync.Once
	closeErr  error
}

// OpenLog starts (or connects to) NATS and creates the stream, or binds to
// it if it exists, making sure its configuration is what the relay
// relies on: file storage, limits retention, DenyDelete and DenyPurge (so
// nothing can punch a hole in the sequence), the duplicate window and
// MaxAge asked for.
func OpenLog(ctx context.Context, cfg LogConfig) (*Log, error) {
	if cfg.Stream == "" {
		cfg.Stream = DefaultStream
	}
	if !validToken(cfg.Stream) {
		return nil, fmt.Errorf("log: stream name %q: expected letters, digits, - or _", cfg.Stream)
	}
	if cfg.MaxAge == 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.DuplicateWindow == 0 {
		cfg.DuplicateWindow = DefaultDuplicateWindow
	}
	if cfg.MaxAge < 0 || cfg.DuplicateWindow < 0 {
		return nil, fmt.Errorf("log: max age %s, duplicate window %s: expected positive durations", cfg.MaxAge, cfg.DuplicateWindow)
	}
	if cfg.DuplicateWindow > cfg.MaxAge {
		return nil, fmt.Errorf("log: duplicate window %s exceeds max age %s: JetStream requires window ≤ max age", cfg.DuplicateWindow, cfg.MaxAge)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{
		cfg:      cfg,
		logger:   cfg.Logger.With("component", "log"),
		closed:   make(chan struct{}),
		subjects: []string{cfg.Stream + ".cb.*", cfg.Stream + ".audit"},
	}
	opts := []nats.Option{
		nats.Name("gavel-relay"),
		nats.ClosedHandler(func(*nats.Conn) { close(l.closed) }),
	}
	var err error
	if cfg.NatsURL == "" {
		if cfg.DataDir == "" {
			return nil, errors.New("log: data dir is required for the embedded NATS server")
		}
		if l.ns, err = startEmbedded(ctx, filepath.Join(cfg.DataDir, "nats"), cfg.Logger); err != nil {
			return nil, err
		}
		opts = append(opts, nats.InProcessServer(l.ns))
	} else {
		if err := checkNatsURL(cfg.NatsURL); err != nil {
			return nil, fmt.Errorf("log: NATS URL %w", err)
		}
		// An external server may restart or fail over: keep reconnecting
		// for ever, and let the ordered consumers in Follow resume.
		opts = append(opts, nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
	}
	if l.nc, err = nats.Connect(cfg.NatsURL, opts...); err != nil {
		l.shutdownServer()
		return nil, fmt.Errorf("log: connect to NATS %s: %w", l.where(), err)
	}
	if l.js, err = jetstream.New(l.nc); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("log: jetstream: %w", err)
	}
	if err := l.bindStream(ctx); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

// startEmbedded runs a nats-server with JetStream in this process. Each
// option below avoids a trap of embedding (nats-server's server.Options:
// https://pkg.go.dev/github.com/nats-io/nats-server/v2/server#Options): no listener
// (DontListen, and Port -1 rather than 0, which means 4222), no signal
// handlers (by default the server traps SIGINT/SIGTERM and calls os.Exit on
// the whole process), fsync on every write, and a logger whose Fatalf
// reports instead of calling os.Exit.
func startEmbedded(ctx context.Context, storeDir string, logger *slog.Logger) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "gavel-relay",
		JetStream:  true,
		StoreDir:   storeDir,
		SyncAlways: true,
		DontListen: true,
		Port:       -1,
		NoSigs:     true,
		HTTPPort:   0, // no monitoring listener
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("log: embedded NATS: %w", err)
	}
	nl := &natsLogger{logger: logger.With("component", "nats")}
	ns.SetLoggerV2(nl, false, false, false)
	// Start enables JetStream synchronously; a failure there (an
	// unwritable store dir) reaches nl.Fatalf and Start returns.
	ns.Start()
	if err := nl.fatalErr(); err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("log: embedded NATS in %s: %w", storeDir, err)
	}
	deadline := time.Now().Add(embeddedStartTimeout)
	for !ns.ReadyForConnections(100 * time.Millisecond) {
		err := nl.fatalErr()
		switch {
		case err != nil:
		case ctx.Err() != nil:
			err = ctx.Err()
		case time.Now().After(deadline):
			err = fmt.Errorf("not ready after %s", embeddedStartTimeout)
		default:
			continue
		}
		ns.Shutdown()
		return nil, fmt.Errorf("log: embedded NATS in %s: %w", storeDir, err)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		return nil, fmt.Errorf("log: embedded NATS in %s: JetStream did not start", storeDir)
	}
	return ns, nil
}

// natsLogger sends the embedded server's log to slog. Its Fatalf records
// the error rather than exiting: nats-server's own loggers call os.Exit(1)
// there, which would take the whole relay down on a bad data dir.
type natsLogger struct {
	logger *slog.Logger
	mu     sync.Mutex
	fatal  error
}

// Noticef goes to debug: the server's notices are its start-up banner,
// which the relay's own "listening" line supersedes.
func (n *natsLogger) Noticef(format string, v ...any) { n.logger.Debug(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Warnf(format string, v ...any)   { n.logger.Warn(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Errorf(format string, v ...any)  { n.logger.Error(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Debugf(format string, v ...any)  { n.logger.Debug(fmt.Sprintf(format, v...)) }
func (n *natsLogger) Tracef(format string, v ...any)  {}
func (n *natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	n.logger.Error(msg, "fatal", true)
	n.mu.Lock()
	if n.fatal == nil {
		n.fatal = errors.New(msg)
	}
	n.mu.Unlock()
}

func (n *natsLogger) fatalErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fatal
}

// bindStream creates the stream or brings an existing one to the
// configuration the relay relies on, then derives the epoch.
func (l *Log) bindStream(ctx context.Context) error {
	want := jetstream.StreamConfig{
		Name:        l.cfg.Stream,
		Description: "gavel relay: Video API callbacks and moderation audit entries",
		Subjects:    l.subjects,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      l.cfg.MaxAge,
		MaxMsgs:     -1,
		MaxBytes:    -1,
		Duplicates:  l.cfg.DuplicateWindow,
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}
	stream, err := l.js.CreateStream(ctx, want)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		// It exists with another configuration (another relay's, or an
		// older one of ours): bind, and fix what we depend on.
		stream, err = l.js.Stream(ctx, l.cfg.Stream)
		if err == nil {
			stream, err = l.reconcileConfig(ctx, stream, want)
		}
	}
	if err != nil {
		return fmt.Errorf("log: stream %s on %s: %w", l.cfg.Stream, l.where(), err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("log: stream %s info: %w", l.cfg.Stream, err)
	}
	if info.Config.Storage != jetstream.FileStorage {
		l.logger.Warn("stream is not file-backed: the log will not survive a server restart", "stream", l.cfg.Stream)
	}
	l.stream = stream
	l.epoch = epochOf(info.Config.Name, info.Created)
	l.logger.Info("log open", "stream", l.cfg.Stream, "nats", l.where(), "epoch", l.epoch,
		"first_seq", info.State.FirstSeq, "last_seq", info.State.LastSeq)
	return nil
}

// reconcileConfig updates an existing stream's settings that the relay
// depends on, keeping everything else (replicas, placement, limits an
// operator added) as the operator left it.
func (l *Log) reconcileConfig(ctx context.Context, stream jetstream.Stream, want jetstream.StreamConfig) (jetstream.Stream, error) {
	cur := stream.CachedInfo().Config
	next := cur
	for _, s := range want.Subjects {
		if !slices.Contains(next.Subjects, s) {
			next.Subjects = append(next.Subjects, s)
		}
	}
	next.MaxAge, next.Duplicates = want.MaxAge, want.Duplicates
	next.DenyDelete, next.DenyPurge, next.AllowDirect = true, true, true
	if next.Retention != jetstream.LimitsPolicy {
		return nil, fmt.Errorf("retention is %s: the relay needs limits retention (a work queue or interest stream loses records)", next.Retention)
	}
	if slices.Equal(next.Subjects, cur.Subjects) && next.MaxAge == cur.MaxAge && next.Duplicates == cur.Duplicates &&
		cur.DenyDelete && cur.DenyPurge && cur.AllowDirect {
		return stream, nil
	}
	l.logger.Info("updating stream configuration", "stream", cur.Name, "max_age", next.MaxAge, "duplicate_window", next.Duplicates)
	return l.js.UpdateStream(ctx, next)
}

// epochOf names one incarnation of a stream: the same stream seen from any
// relay gives the same epoch (its name and creation time are stored with
// it), and a stream deleted and created again gives another, so a console
// holding a seq from the old one knows it means nothing now.
func epochOf(name string, created time.Time) string {
	var ns [8]byte
	binary.BigEndian.PutUint64(ns[:], uint64(created.UnixNano()))
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(ns[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// Epoch identifies this log's incarnation; see epochOf.
func (l *Log) Epoch() string { return l.epoch }

// Append stores rec and returns its seq once the server has acknowledged
// it: durable (fsynced with the embedded server). A msgID already stored
// within the duplicate window is not stored again: duplicate is true and
// seq is the original's. An empty msgID disables de-duplication.
func (l *Log) Append(ctx context.Context, rec events.Record, msgID string) (seq uint64, duplicate bool, err error) {
	subject, err := l.subjectOf(rec)
	if err != nil {
		return 0, false, err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, false, fmt.Errorf("log: encode record: %w", err)
	}
	if limit := l.nc.MaxPayload(); limit > 0 && int64(len(data)) > limit {
		return 0, false, fmt.Errorf("%w: %d bytes, limit %d", ErrRecordTooLarge, len(data), limit)
	}
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(l.cfg.Stream)}
	if msgID != "" {
		opts = append(opts, jetstream.WithMsgID(msgID))
	}
	ack, err := l.js.Publish(ctx, subject, data, opts...)
	if err != nil {
		return 0, false, fmt.Errorf("log: append to %s: %w", subject, err)
	}
	return ack.Sequence, ack.Duplicate, nil
}

// subjectOf routes a record: audit entries to <stream>.audit, events to
// <stream>.cb.<group>.
func (l *Log) subjectOf(rec events.Record) (string, error) {
	switch rec.Type {
	case events.FrameAudit:
		if rec.Audit == nil {
			return "", errors.New("log: audit record without an audit entry")
		}
		return l.cfg.Stream + ".audit", nil
	case events.FrameEvent:
		g := string(rec.Group)
		if g == "" {
			g = "none"
		}
		if !validToken(g) {
			return "", fmt.Errorf("log: group %q cannot name a subject", rec.Group)
		}
		return l.cfg.Stream + ".cb." + g, nil
	}
	return "", fmt.Errorf("log: record type %q: expected %q or %q", rec.Type, events.FrameEvent, events.FrameAudit)
}

// validToken reports whether s is one NATS subject token the relay
// accepts: letters, digits, - and _ (no dots, wildcards or spaces).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Bounds returns the first and last seq in the log. An empty log follows
// JetStream's convention: first = last + 1 (a new log gives 1, 0; a log
// whose records all aged out gives last+1, last).
func (l *Log) Bounds(ctx context.Context) (first, last uint64, err error) {
	info, err := l.stream.Info(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("log: bounds: %w", err)
	}
	st := info.State
	if st.Msgs == 0 {
		return st.LastSeq + 1, st.LastSeq, nil
	}
	return st.FirstSeq, st.LastSeq, nil
}

// Follow calls fn for every record from seq from (≥ 1) on, in seq order,
// the ones already stored and then each new one as it is appended, until
// ctx ends (it returns ctx.Err()) or fn fails (it returns fn's error).
//
// Delivery is gap-free: if records from `from` on are no longer there, or
// the log is trimmed under a slow reader so that the next record it gets
// is not the one after the last, Follow returns *ErrTrimmed with the first
// seq it can still deliver. A from beyond the last seq waits for that seq.
//
// It reads with an ordered consumer, which the client recreates from the
// last seq delivered after a reconnect or a missed heartbeat.
func (l *Log) Follow(ctx context.Context, from uint64, fn func(seq uint64, rec events.Record) error) error {
	if from < 1 {
		return fmt.Errorf("log: follow from %d: sequences start at 1", from)
	}
	first, _, err := l.Bounds(ctx)
	if err != nil {
		return err
	}
	if from < first {
		return &ErrTrimmed{First: first}
	}
	cons, err := l.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   from,
	})
	if err != nil {
		return fmt.Errorf("log: follow from %d: %w", from, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("log: follow from %d: %w", from, err)
	}
	defer it.Stop()
	next := from
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("log: follow at %d: %w", next, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("log: follow at %d: %w", next, err)
		}
		seq := meta.Sequence.Stream
		switch {
		case seq < next:
			continue // already delivered (cannot happen with an ordered consumer; cheap to guard)
		case seq > next:
			return &ErrTrimmed{First: seq}
		}
		rec, err := decodeRecord(seq, msg.Data())
		if err != nil {
			// Not a record this relay wrote (corruption, or another writer on
			// the subject). Retrying would stall every console here and
			// skipping would cut a gap into the sequence, so it is delivered
			// as an event with no body, which every reducer ignores.
			l.logger.Error("unreadable record in the log", "seq", seq, "err", err)
			rec = events.Record{Type: events.FrameEvent, Source: SourceUnreadable, Event: json.RawMessage("null")}
		}
		if err := fn(seq, rec); err != nil {
			return err
		}
		next++
	}
}

// SourceUnreadable marks the placeholder Follow delivers for a record it
// cannot decode, so the sequence stays gap-free.
const SourceUnreadable = "unreadable"

// Get reads the record at seq.
func (l *Log) Get(ctx context.Context, seq uint64) (events.Record, error) {
	m, err := l.stream.GetMsg(ctx, seq)
	if err != nil {
		return events.Record{}, fmt.Errorf("log: get %d: %w", seq, err)
	}
	return decodeRecord(seq, m.Data)
}

func decodeRecord(seq uint64, data []byte) (events.Record, error) {
	var rec events.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		// Only Append writes to the stream's subjects; an undecodable
		// record means someone else published there.
		return events.Record{}, fmt.Errorf("log: record %d is not a gavel record: %w", seq, err)
	}
	return rec, nil
}

// Close drains the connection (publishes in flight finish, consumers
// stop) and shuts the embedded server down, which flushes its store.
// Calling it again returns the first result.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		if l.nc != nil {
			if err := l.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				l.closeErr = fmt.Errorf("log: drain: %w", err)
				l.nc.Close()
			}
			select {
			case <-l.closed:
			case <-time.After(closeTimeout):
				l.nc.Close()
				if l.closeErr == nil {
					l.closeErr = fmt.Errorf("log: drain: not done after %s", closeTimeout)
				}
			}
		}
		l.shutdownServer()
	})
	return l.closeErr
}

func (l *Log) shutdownServer() {
	if l.ns != nil {
		l.ns.Shutdown()
		l.ns.WaitForShutdown()
	}
}

// where names the NATS server for error messages, without credentials a
// URL might carry.
func (l *Log) where() string {
	if l.cfg.NatsURL == "" {
		return "embedded server in " + l.cfg.DataDir
	}
	return redactURL(l.cfg.NatsURL)
}

// checkNatsURL checks each URL of a comma-separated list as nats.Connect
// reads it (no scheme means nats://), so a typo is told from an
// unreachable server. Its errors show the URL redacted, never url.Parse's
// message, which quotes the URL password and all.
func checkNatsURL(urls string) error {
	for _, p := range strings.Split(urls, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		full := p
		if !strings.Contains(full, "://") {
			full = "nats://" + full
		}
		u, err := url.Parse(full)
		if err != nil || u.Hostname() == "" {
			return fmt.Errorf("%s: expected nats://[USER:PASSWORD@]HOST[:PORT]", redactURL(p))
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Errorf("%s: scheme %q: expected nats, tls, ws or wss", redactURL(p), u.Scheme)
		}
	}
	return nil
}

// redactURL drops user:password@ from each URL of a comma-separated list.
func redactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			scheme := ""
			if j := strings.Index(p, "://"); j >= 0 && j < at {
				scheme = p[:j+3]
			}
			parts[i] = scheme + "***@" + p[at+1:]
		}
	}
	return strings.Join(parts, ",")
}

// outbox is the durable consumer name reads the log's audit entries with,
// in order and acknowledged one at a time: a webhook's delivery queue.
// Created, it starts at the entries appended from then on (a webhook
// added today is not sent last week's alerts); it lives in JetStream, so
// a restarted relay, or another on the same NATS, carries on where it
// was.
func (l *Log) outbox(ctx context.Context, name string) (jetstream.Consumer, error) {
	cons, err := l.stream.Consumer(ctx, name)
	if err == nil {
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("log: outbox %s: %w", name, err)
	}
	cons, err = l.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "gavel relay: webhook deliveries",
		FilterSubject: l.cfg.Stream + ".audit",
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxAckPending: 1, // in order: the next waits for this one
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("log: outbox %s: %w", name, err)
	}
	return cons, nil
}
