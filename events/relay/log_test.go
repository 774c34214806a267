package relay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// openTestLog opens an embedded log in dir (a fresh temp dir if "") and
// closes it when the test ends.
func openTestLog(t testing.TB, cfg LogConfig) *Log {
	t.Helper()
	if cfg.DataDir == "" && cfg.NatsURL == "" {
		cfg.DataDir = t.TempDir()
	}
	l, err := OpenLog(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// testRecord is a small session callback numbered i.
func testRecord(i int) events.Record {
	body := fmt.Sprintf(`{"sessionId":"2_test","projectId":"123456","event":"connectionCreated","timestamp":%d,"connection":{"id":"conn-%d","createdAt":%d,"data":""}}`, 1700000000000+i, i, 1700000000000+i)
	return events.Record{Type: events.FrameEvent, ReceivedAt: time.Unix(1700000000, 0).UTC(), Source: events.SourceCallback, Group: events.GroupSession, Event: json.RawMessage(body)}
}

func mustAppend(t testing.TB, l *Log, rec events.Record, id string) uint64 {
	t.Helper()
	seq, dup, err := l.Append(context.Background(), rec, id)
	if err != nil {
		t.Fatal(err)
	}
	if dup {
		t.Fatalf("append %s: unexpected duplicate (seq %d)", id, seq)
	}
	return seq
}

func checkBounds(t testing.TB, l *Log, wantFirst, wantLast uint64) {
	t.Helper()
	first, last, err := l.Bounds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if first != wantFirst || last != wantLast {
		t.Fatalf("bounds = %d, %d; want %d, %d", first, last, wantFirst, wantLast)
	}
}

// checkRecord compares a record read back with what was appended; the
// event bytes are compared as JSON values (the log stores them compacted).
func checkRecord(t testing.TB, seq uint64, got, want events.Record) {
	t.Helper()
	if got.Type != want.Type || got.Source != want.Source || got.Group != want.Group || !got.ReceivedAt.Equal(want.ReceivedAt) {
		t.Fatalf("record %d = %+v; want %+v", seq, got, want)
	}
	if !sameJSON(got.Event, want.Event) {
		t.Fatalf("record %d event = %s; want %s", seq, got.Event, want.Event)
	}
}

func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func TestLogEmptyBounds(t *testing.T) {
	l := openTestLog(t, LogConfig{})
	checkBounds(t, l, 1, 0)
	if l.Epoch() == "" {
		t.Fatal("empty epoch")
	}
}

// TestEmbeddedLogFsyncsEveryWrite: "200 = durable" rests on the embedded
// server fsyncing every write (nats-server's SyncAlways), and the store
// living where the data dir says. A killed process cannot show the fsync
// (the page cache outlives it): this is its check.
func TestEmbeddedLogFsyncsEveryWrite(t *testing.T) {
	l := openTestLog(t, LogConfig{})
	jc := l.ns.JetStreamConfig()
	if jc == nil || !jc.SyncAlways {
		t.Fatalf("embedded JetStream config %+v: want SyncAlways", jc)
	}
	if want := filepath.Join(l.cfg.DataDir, "nats", "jetstream"); jc.StoreDir != want {
		t.Fatalf("store dir %s; want %s", jc.StoreDir, want)
	}
}

func TestLogAppendGapFree(t *testing.T) {
	l := openTestLog(t, LogConfig{})
	for i := 1; i <= 50; i++ {
		if seq := mustAppend(t, l, testRecord(i), fmt.Sprintf("id-%d", i)); seq != uint64(i) {
			t.Fatalf("append %d got seq %d", i, seq)
		}
	}
	audit := events.Record{Type: events.FrameAudit, Audit: &events.Audit{At: time.Unix(1700000001, 0).UTC(), Actor: "alice", Action: events.ActionMute, OK: true}}
	if seq := mustAppend(t, l, audit, "audit-1"); seq != 51 {
		t.Fatalf("audit got seq %d", seq)
	}
	checkBounds(t, l, 1, 51)
	for _, i := range []int{1, 17, 50} {
		got, err := l.Get(t.Context(), uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		checkRecord(t, uint64(i), got, testRecord(i))
	}
	got, err := l.Get(t.Context(), 51)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != events.FrameAudit || got.Audit == nil || got.Audit.Actor != "alice" || got.Audit.Action != events.ActionMute {
		t.Fatalf("audit record = %+v", got)
	}
	if _, err := l.Get(t.Context(), 52); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("get past the end: %v, want ErrMsgNotFound", err)
	}
}

func TestLogAppendRefusesBadRecords(t *testing.T) {
	l := openTestLog(t, LogConfig{})
	for name, rec := range map[string]events.Record{
		"no type":         {Event: json.RawMessage(`{}`)},
		"audit, no entry": {Type: events.FrameAudit},
		"group with dot":  {Type: events.FrameEvent, Group: "a.b", Event: json.RawMessage(`{}`)},
	} {
		if _, _, err := l.Append(t.Context(), rec, ""); err == nil {
			t.Errorf("%s: appended", name)
		}
	}
	big := testRecord(1)
	big.Event = json.RawMessage(`"` + strings.Repeat("x", 2<<20) + `"`)
	if _, _, err := l.Append(t.Context(), big, "big"); !errors.Is(err, ErrRecordTooLarge) {
		t.Errorf("2 MiB record: %v, want ErrRecordTooLarge", err)
	}
	// Nothing refused took a sequence number.
	checkBounds(t, l, 1, 0)
	if seq := mustAppend(t, l, testRecord(1), "ok"); seq != 1 {
		t.Fatalf("first good append got seq %d", seq)
	}
}

func TestLogDuplicate(t *testing.T) {
	l := openTestLog(t, LogConfig{})
	mustAppend(t, l, testRecord(1), "a")
	mustAppend(t, l, testRecord(2), "b")
	for range 3 {
		seq, dup, err := l.Append(t.Context(), testRecord(1), "a")
		if err != nil {
			t.Fatal(err)
		}
		if !dup || seq != 1 {
			t.Fatalf("retry of a: seq %d duplicate %v; want 1 true", seq, dup)
		}
	}
	if seq := mustAppend(t, l, testRecord(3), "c"); seq != 3 {
		t.Fatalf("after duplicates, new record got seq %d; want 3", seq)
	}
	checkBounds(t, l, 1, 3)
}

// follow runs Follow in a goroutine, sending what it delivers on a
// channel; stop cancels it and returns Follow's error.
func followLog(t *testing.T, l *Log, from uint64) (<-chan followed, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ch := make(chan followed, 1024)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, from, func(seq uint64, rec events.Record) error {
			ch <- followed{seq, rec}
			return nil
		})
	}()
	return ch, func() error { cancel(); return <-done }
}

type followed struct {
	seq uint64
	rec events.Record
}

func receiveFollowed(t *testing.T, ch <-chan followed) followed {
	t.Helper()
	select {
	case f := <-ch:
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("nothing followed in 10 s")
		return followed{}
	}
}

func TestLogFollowExistingThenLive(t *testing.T) {
	l := openTestLog(t, LogConfig{})
	for i := 1; i <= 5; i++ {
		mustAppend(t, l, testRecord(i), strconv.Itoa(i))
	}
	ch, stop := followLog(t, l, 1)
	for i := 1; i <= 5; i++ {
		f := receiveFollowed(t, ch)
		if f.seq != uint64(i) {
			t.Fatalf("followed seq %d; want %d", f.seq, i)
		}
		checkRecord(t, f.seq, f.rec, testRecord(i))
	}
	// Live: appended after the follower caught up.
	for i := 6; i <= 10; i++ {
		mustAppend(t, l, testRecord(i), strconv.Itoa(i))
		f := receiveFollowed(t, ch)
		if f.seq != uint64(i) {
			t.Fatalf("followed seq %d; want %d", f.seq, i)
		}
		checkRecord(t, f.seq, f.rec, testRecord(i))
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("follow returned %v; want context.Canceled", err)
	}
	select {
	case f := <-ch:
		t.Fatalf("extra record %d", f.seq)
	default:
	}
}

func TestLogFollowFromMiddleStopsOnCallbackError(t *testing.T) {
	l := openTestLog(t, LogConfig{})
	for i := 1; i <= 10; i++ {
		mustAppend(t, l, testRecord(i), strconv.Itoa(i))
	}
	stopErr := errors.New("enough")
	var got []uint64
	err := l.Follow(t.Context(), 6, func(seq uint64, rec events.Record) error {
		got = append(got, seq)
		checkRecord(t, seq, rec, testRecord(int(seq)))
		if seq == 9 {
			return stopErr
		}
		return nil
	})
	if !errors.Is(err, stopErr) {
		t.Fatalf("follow returned %v; want the callback's error", err)
	}
	if fmt.Sprint(got) != "[6 7 8 9]" {
		t.Fatalf("followed %v; want [6 7 8 9]", got)
	}
	if err := l.Follow(t.Context(), 0, func(uint64, events.Record) error { return nil }); err == nil {
		t.Fatal("follow from 0 accepted")
	}
}

func TestLogFollowFromTheFuture(t *testing.T) {
	l := openTestLog(t, LogConfig{})
	mustAppend(t, l, testRecord(1), "1")
	ch, stop := followLog(t, l, 2) // the next record, not yet written
	mustAppend(t, l, testRecord(2), "2")
	if f := receiveFollowed(t, ch); f.seq != 2 {
		t.Fatalf("followed %d; want 2", f.seq)
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func TestLogFollowTrimmed(t *testing.T) {
	l := openTestLog(t, LogConfig{MaxAge: time.Second, DuplicateWindow: 500 * time.Millisecond})
	for i := 1; i <= 3; i++ {
		mustAppend(t, l, testRecord(i), strconv.Itoa(i))
	}
	// Wait for MaxAge to trim them (polled, not slept on).
	deadline := time.Now().Add(20 * time.Second)
	for {
		first, last, err := l.Bounds(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if first == 4 && last == 3 {
			break // all aged out: empty, first = last + 1
		}
		if time.Now().After(deadline) {
			t.Fatalf("records not trimmed after 20 s: bounds %d, %d", first, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	err := l.Follow(t.Context(), 2, func(uint64, events.Record) error { return nil })
	var trimmed *ErrTrimmed
	if !errors.As(err, &trimmed) || trimmed.First != 4 {
		t.Fatalf("follow from a trimmed seq returned %v; want ErrTrimmed{First: 4}", err)
	}
	// The next append continues the sequence.
	if seq := mustAppend(t, l, testRecord(4), "4"); seq != 4 {
		t.Fatalf("append after trim got seq %d", seq)
	}
}

func TestLogEpoch(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenLog(t.Context(), LogConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	epoch := a.Epoch()
	mustAppend(t, a, testRecord(1), "1")
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := openTestLog(t, LogConfig{DataDir: dir})
	if b.Epoch() != epoch {
		t.Fatalf("reopened log has epoch %q; want %q", b.Epoch(), epoch)
	}
	c := openTestLog(t, LogConfig{})
	if c.Epoch() == epoch {
		t.Fatalf("a fresh log has the same epoch %q", epoch)
	}
}

func TestLogDurableAcrossClose(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenLog(t.Context(), LogConfig{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := 1; i <= n; i++ {
		mustAppend(t, a, testRecord(i), strconv.Itoa(i))
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	b := openTestLog(t, LogConfig{DataDir: dir})
	checkBounds(t, b, 1, n)
	checkAll(t, b, n)
	if seq := mustAppend(t, b, testRecord(n+1), strconv.Itoa(n+1)); seq != n+1 {
		t.Fatalf("append after reopen got seq %d", seq)
	}
}

// checkAll follows the log from 1 and checks records 1..n.
func checkAll(t *testing.T, l *Log, n int) {
	t.Helper()
	errDone := errors.New("done")
	next := uint64(1)
	err := l.Follow(t.Context(), 1, func(seq uint64, rec events.Record) error {
		if seq != next {
			return fmt.Errorf("got seq %d; want %d", seq, next)
		}
		checkRecord(t, seq, rec, testRecord(int(seq)))
		next++
		if seq == uint64(n) {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatal(err)
	}
}

// crashDirEnv makes TestLogCrashHelper, run in a child process, append to
// the log in that dir and wait to be killed.
const crashDirEnv = "GAVEL_RELAY_TEST_CRASH_DIR"

// TestLogCrashHelper is the child half of TestLogKeepsAcknowledgedRecordsAcrossAProcessKill.
func TestLogCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestLogKeepsAcknowledgedRecordsAcrossAProcessKill")
	}
	n, _ := strconv.Atoi(os.Getenv(crashDirEnv + "_N"))
	l, err := OpenLog(context.Background(), LogConfig{DataDir: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := 1; i <= n; i++ {
		if _, _, err := l.Append(context.Background(), testRecord(i), strconv.Itoa(i)); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
	}
	fmt.Println("appended", n)
	// Wait to be killed; exit by ourselves if the parent went away.
	time.Sleep(time.Minute)
	os.Exit(2)
}

// TestLogKeepsAcknowledgedRecordsAcrossAProcessKill appends in a child process, kills it with SIGKILL
// right after the last append was acknowledged (no Close, no shutdown of
// the embedded server), and reopens the same data dir: every acknowledged
// record must be there, and the dedup window must have been rebuilt. The
// kernel's page cache survives a killed process, so this shows what a
// crash of the relay keeps, not of the machine: whether writes are
// fsynced is TestEmbeddedLogFsyncsEveryWrite's check.
func TestLogKeepsAcknowledgedRecordsAcrossAProcessKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	const n = 200
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestLogCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashDirEnv+"_N="+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "appended "+strconv.Itoa(n) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child said %q (%v)", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	l := openTestLog(t, LogConfig{DataDir: dir})
	checkBounds(t, l, 1, n)
	checkAll(t, l, n)
	seq, dup, err := l.Append(t.Context(), testRecord(n), strconv.Itoa(n))
	if err != nil || !dup || seq != n {
		t.Fatalf("retry of the last record after the crash: seq %d duplicate %v err %v; want %d true", seq, dup, err, n)
	}
}

func TestOpenLogBadDataDirIsAnError(t *testing.T) {
	dir := t.TempDir()
	// A file where the store's directory should be: JetStream cannot
	// start. The default nats-server logger would os.Exit the test binary.
	if err := os.WriteFile(filepath.Join(dir, "nats"), []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := OpenLog(t.Context(), LogConfig{DataDir: dir})
	if err == nil {
		_ = l.Close()
		t.Fatal("OpenLog succeeded on an unusable data dir")
	}
	t.Logf("error, as expected: %v", err)
}

func TestOpenLogConfigErrors(t *testing.T) {
	for name, cfg := range map[string]LogConfig{
		"no data dir":       {},
		"window > max age":  {DataDir: t.TempDir(), MaxAge: time.Hour, DuplicateWindow: 2 * time.Hour},
		"bad stream name":   {DataDir: t.TempDir(), Stream: "a.b"},
		"negative max age":  {DataDir: t.TempDir(), MaxAge: -time.Hour},
		"unreachable NATS ": {NatsURL: "nats://127.0.0.1:1"},
	} {
		if l, err := OpenLog(t.Context(), cfg); err == nil {
			_ = l.Close()
			t.Errorf("%s: opened", name)
		}
	}
}

// TestOpenLogMalformedNatsURL: a NATS URL that cannot be one is refused
// by name before any connection, showing the URL without its password
// (url.Parse's own message quotes it whole).
func TestOpenLogMalformedNatsURL(t *testing.T) {
	for _, u := range []string{"nats://bob:pw-s3cr3t@127.0.0.1:x", "nats://bob:pw-s3cr3t@[::1", "http://bob:pw-s3cr3t@127.0.0.1:4222", "nats://bob:pw-s3cr3t@"} {
		l, err := OpenLog(t.Context(), LogConfig{NatsURL: "nats://127.0.0.1:4222, " + u})
		if err == nil {
			_ = l.Close()
			t.Errorf("%s: opened", u)
			continue
		}
		if !strings.Contains(err.Error(), "log: NATS URL ") || !strings.Contains(err.Error(), "***@") || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error %q, want it to name the URL without the password", u, err)
		}
	}
}

// startNATS runs a standalone-style nats-server with JetStream on a free
// loopback port, fsyncing every write, as the relays' "external" server.
func startExternalNATS(t testing.TB) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		SyncAlways: true, NoSigs: true, NoLog: true, HTTPPort: 0,
	})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

func TestLogTwoRelaysOnOneServer(t *testing.T) {
	ns := startExternalNATS(t)
	a := openTestLog(t, LogConfig{NatsURL: ns.ClientURL()})
	b := openTestLog(t, LogConfig{NatsURL: ns.ClientURL()})
	if a.Epoch() != b.Epoch() {
		t.Fatalf("epochs differ: %q, %q", a.Epoch(), b.Epoch())
	}

	// Both append at once; the seqs they get are one gap-free sequence.
	const each = 100
	seqs := make([][]uint64, 2)
	var wg sync.WaitGroup
	for r, l := range []*Log{a, b} {
		wg.Go(func() {
			for i := range each {
				k := r*each + i + 1 // record k's body says k
				seq, dup, err := l.Append(context.Background(), testRecord(k), strconv.Itoa(k))
				if err != nil || dup {
					t.Errorf("relay %d append %d: %v dup %v", r, k, err, dup)
					return
				}
				seqs[r] = append(seqs[r], seq)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	seen := map[uint64]bool{}
	for _, s := range seqs {
		for _, q := range s {
			if seen[q] || q < 1 || q > 2*each {
				t.Fatalf("seq %d twice or out of range", q)
			}
			seen[q] = true
		}
	}
	checkBounds(t, a, 1, 2*each)

	// A retry landing on the other relay is still a duplicate.
	seq, dup, err := b.Append(t.Context(), testRecord(1), "1")
	if err != nil || !dup || seq != seqs[0][0] {
		t.Fatalf("retry via b: seq %d dup %v err %v; want %d true", seq, dup, err, seqs[0][0])
	}

	// Each sees every record, the same record at the same seq.
	read := func(l *Log) map[uint64]string {
		got := map[uint64]string{}
		errDone := errors.New("done")
		err := l.Follow(t.Context(), 1, func(seq uint64, rec events.Record) error {
			got[seq] = string(rec.Event)
			if seq == 2*each {
				return errDone
			}
			return nil
		})
		if !errors.Is(err, errDone) {
			t.Fatal(err)
		}
		return got
	}
	fromA, fromB := read(a), read(b)
	for q := uint64(1); q <= 2*each; q++ {
		if fromA[q] == "" || fromA[q] != fromB[q] {
			t.Fatalf("seq %d: a read %s, b read %s", q, fromA[q], fromB[q])
		}
	}
}

func TestLogEpochChangesWhenStreamRecreated(t *testing.T) {
	ns := startExternalNATS(t)
	a, err := OpenLog(t.Context(), LogConfig{NatsURL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	old := a.Epoch()
	_ = a.Close()

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(t.Context(), DefaultStream); err != nil {
		t.Fatal(err)
	}
	// nats-server removes a deleted stream's files after answering; a
	// create in that moment fails with "error creating store for stream"
	// (10049). An operator retrying is what a relay's restart does; so
	// does the test, briefly.
	var b *Log
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		b, err = OpenLog(t.Context(), LogConfig{NatsURL: ns.ClientURL()})
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "err_code=10049") {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if b.Epoch() == old {
		t.Fatalf("recreated stream kept epoch %q", old)
	}
	checkBounds(t, b, 1, 0)
}

func TestLogBindsAndFixesExistingStream(t *testing.T) {
	ns := startExternalNATS(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// An operator created the stream by hand, with the default 2 min
	// window and deletes allowed.
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: DefaultStream, Subjects: []string{DefaultStream + ".cb.*"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	l := openTestLog(t, LogConfig{NatsURL: ns.ClientURL()})
	s, err := js.Stream(t.Context(), DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if !cfg.DenyDelete || !cfg.DenyPurge || cfg.Duplicates != DefaultDuplicateWindow || cfg.MaxAge != DefaultMaxAge || len(cfg.Subjects) != 2 {
		t.Fatalf("stream config not fixed: %+v", cfg)
	}
	seq := mustAppend(t, l, testRecord(1), "1")
	if err := s.DeleteMsg(t.Context(), seq); err == nil {
		t.Fatal("DeleteMsg allowed on the relay's stream")
	}
}

// TestLogFollowReportsTrimUnderASlowReader trims the log under a follower
// stuck in its callback (an operator's MaxMsgs limit stands in for MaxAge,
// which would take a while): when it resumes, the records it had not
// fetched are gone, and Follow must say so rather than skip them.
func TestLogFollowReportsTrimUnderASlowReader(t *testing.T) {
	ns := startExternalNATS(t)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: DefaultStream, Subjects: []string{DefaultStream + ".cb.*"}, Storage: jetstream.FileStorage, MaxMsgs: 5}); err != nil {
		t.Fatal(err)
	}
	l := openTestLog(t, LogConfig{NatsURL: ns.ClientURL()})
	mustAppend(t, l, testRecord(1), "1")

	const total = 1500 // more than the consumer fetches ahead (500)
	stuck, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	next := uint64(1)
	go func() {
		done <- l.Follow(t.Context(), 1, func(seq uint64, rec events.Record) error {
			if seq != next {
				return fmt.Errorf("delivered %d after %d", seq, next-1)
			}
			next++
			if seq == 1 {
				close(stuck)
				<-release
			}
			return nil
		})
	}()
	<-stuck
	for i := 2; i <= total; i++ {
		mustAppend(t, l, testRecord(i), strconv.Itoa(i))
	}
	checkBounds(t, l, total-4, total)
	close(release)
	err = <-done
	var trimmed *ErrTrimmed
	if !errors.As(err, &trimmed) || trimmed.First <= next || trimmed.First > total-4 {
		t.Fatalf("follow returned %v after delivering up to %d; want ErrTrimmed past it, at most %d", err, next-1, total-4)
	}
	t.Logf("delivered 1..%d, then %v", next-1, err)
}

// TestFollowPassesAnUnreadableRecord: a message on the stream that is not a
// record (another writer, corruption) must neither stall Follow nor cut a
// gap: it is delivered as a placeholder and the next record follows.
func TestFollowPassesAnUnreadableRecord(t *testing.T) {
	ctx := context.Background()
	ns := startExternalNATS(t)
	l := openTestLog(t, LogConfig{NatsURL: ns.ClientURL()})
	good := events.Record{Type: events.FrameEvent, Source: events.SourceCallback, Group: events.GroupSession, Event: json.RawMessage(`{"event":"sessionCreated","sessionId":"s"}`)}
	if _, _, err := l.Append(ctx, good, "a"); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish(DefaultStream+".cb.session", []byte("not a record")); err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	if _, _, err := l.Append(ctx, good, "b"); err != nil {
		t.Fatal(err)
	}
	var got []string
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = l.Follow(fctx, 1, func(seq uint64, rec events.Record) error {
		got = append(got, fmt.Sprintf("%d:%s", seq, rec.Source))
		if seq == 3 {
			cancel()
		}
		return nil
	})
	want := []string{"1:callback", "2:" + SourceUnreadable, "3:callback"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("followed %v, want %v", got, want)
	}
}
