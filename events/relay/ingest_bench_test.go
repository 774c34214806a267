package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// callbackBodyBytes is the size of a realistic callback: a
// connectionCreated with a little connection data is 300–450 bytes.
const callbackBodyBytes = 400

// benchBody returns a unique connectionCreated callback of exactly
// callbackBodyBytes, numbered i (the padding is connection data).
func benchBody(i uint64) []byte {
	head := fmt.Sprintf(`{"sessionId":"2_MX40NjAwMDAwMH5-MTcwMDAwMDAwMDAwMH5iZW5jaG1hcmt-fg","projectId":"46000000","event":"connectionCreated","timestamp":%d,"connection":{"id":"c053fcc8-c681-41d5-8ec2-%012d","createdAt":%d,"data":"`, 1700000000000+i, i, 1700000000000+i)
	tail := `"}}`
	pad := callbackBodyBytes - len(head) - len(tail)
	return []byte(head + string(bytes.Repeat([]byte("x"), pad)) + tail)
}

// BenchmarkIngest measures durable ingest through the receiver — an HTTP
// POST on loopback, signature check when signed, decode, append with
// fsync (SyncAlways), 200 — against raw JetStream: a synchronous publish
// with a message id to the same embedded, fsyncing server, same payload
// size, in the same run. Rates move with the host's fsync latency, so the
// figure to read is the ratio (goal ≥ 0.8): what the receiver costs on
// top of the durable write it cannot avoid.
//
// Each sub-benchmark times raw publishes and callbacks in alternating
// rounds of a few operations each, so that the drift in the machine's
// fsync latency (large on a VM) hits both alike. Run it with
//
//	go test -run '^$' -bench BenchmarkIngest -benchtime 3000x ./events/relay/
//
// Metrics:
//   - raw_pub/s, ingest/s: the two rates; ratio = ingest/s ÷ raw_pub/s
//     with the same number of requests in flight on both sides;
//   - floor_ratio: an HTTP handler that does nothing but the raw publish,
//     timed in the same rounds, ÷ raw — the best any HTTP receiver can do
//     on this host — and ratio_vs_floor = ingest ÷ that floor, what the
//     receiver's own work (limit, signature, decode, record) costs;
//   - for the concurrent cases, serial_raw_pub/s and ratio_vs_serial_raw:
//     ingest against one synchronous publisher at a time, the baseline
//     as the design states it (Vonage sends callbacks concurrently).
//
// In serial the ratio is bounded by (fsync + in-process round trip) ÷
// (fsync + loopback HTTP round trip + the handler's work): a receiver
// cannot answer before the fsync, and its client cannot send the next
// callback before the answer. floor_ratio measures that bound.
func BenchmarkIngest(b *testing.B) {
	for _, c := range []struct {
		name        string
		concurrency int
		signed      bool
	}{
		{"serial", 1, false},
		{"serial-signed", 1, true},
		{"concurrent4-signed", 4, true},
		{"concurrent64-signed", 64, true},
	} {
		b.Run(c.name, func(b *testing.B) { benchIngest(b, c.concurrency, c.signed) })
	}
}

func benchIngest(b *testing.B, concurrency int, signed bool) {
	l := openTestLog(b, LogConfig{})
	cfg := ReceiverConfig{Log: l}
	if signed {
		cfg.SignatureSecret = testCallbackSecret
	}
	fx := newReceiverFixture(b, cfg)
	url := fx.url + "/v1/callbacks/session"
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = concurrency
	tr.DisableCompression = true
	client := &http.Client{Transport: tr}
	b.Cleanup(tr.CloseIdleConnections)
	ctx := context.Background()
	subject := DefaultStream + ".cb." + string(events.GroupSession)

	var (
		mu  sync.Mutex
		seq uint64 // numbers bodies: unique across raw and receiver
	)
	nextID := func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		seq++
		return seq
	}
	rawOp := func(id uint64, body []byte, _ string) error {
		_, err := l.js.Publish(ctx, subject, body, jetstream.WithMsgID("raw-"+strconv.FormatUint(id, 10)))
		return err
	}
	// The floor: an HTTP handler that does nothing but the raw publish.
	// No receiver can beat it, so ingest ÷ floor is what the receiver's
	// own work costs, and floor ÷ raw what HTTP on this host costs.
	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err == nil {
			_, err = l.js.Publish(r.Context(), subject, body, jetstream.WithMsgID("floor-"+r.Header.Get("X-Id")))
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(floor.Close)
	post := func(target string, id uint64, body []byte, auth string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		req.Header.Set("X-Id", strconv.FormatUint(id, 10))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("callback answered %s", resp.Status)
		}
		return nil
	}
	ingestOp := func(id uint64, body []byte, auth string) error { return post(url, id, body, auth) }
	floorOp := func(id uint64, body []byte, _ string) error { return post(floor.URL, id, body, "") }

	// Warm up both paths: connections, the stream's first block, lazy
	// initialisation in the HTTP and JWT code.
	for range 20 {
		runRound(b, concurrency, concurrency, nextID, false, rawOp)
		runRound(b, concurrency, concurrency, nextID, signed, ingestOp)
		runRound(b, concurrency, concurrency, nextID, false, floorOp)
	}

	round := 4 * concurrency
	var rawTime, serialRawTime, ingestTime, floorTime time.Duration
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(round, b.N-done)
		rawTime += runRound(b, concurrency, k, nextID, false, rawOp)
		ingestTime += runRound(b, concurrency, k, nextID, signed, ingestOp)
		floorTime += runRound(b, concurrency, k, nextID, false, floorOp)
		if concurrency > 1 {
			serialRawTime += runRound(b, 1, k, nextID, false, rawOp)
		}
		done += k
	}
	b.StopTimer()
	rate := func(d time.Duration) float64 { return float64(b.N) / d.Seconds() }
	b.ReportMetric(rate(rawTime), "raw_pub/s")
	b.ReportMetric(rate(ingestTime), "ingest/s")
	b.ReportMetric(rate(ingestTime)/rate(rawTime), "ratio")
	b.ReportMetric(rate(floorTime)/rate(rawTime), "floor_ratio")
	b.ReportMetric(rate(ingestTime)/rate(floorTime), "ratio_vs_floor")
	if concurrency > 1 {
		b.ReportMetric(rate(serialRawTime), "serial_raw_pub/s")
		b.ReportMetric(rate(ingestTime)/rate(serialRawTime), "ratio_vs_serial_raw")
	}
}

// runRound prepares k unique bodies (signed if asked: the sender's cost,
// not the relay's), then times op over them on concurrency goroutines.
func runRound(b *testing.B, concurrency, k int, nextID func() uint64, signed bool, op func(id uint64, body []byte, auth string) error) time.Duration {
	type job struct {
		id   uint64
		body []byte
		auth string
	}
	jobs := make([]job, k)
	for i := range jobs {
		id := nextID()
		jobs[i] = job{id: id, body: benchBody(id)}
		if signed {
			jobs[i].auth = signBody(b, jobs[i].body)
		}
	}
	if concurrency == 1 {
		start := time.Now()
		for _, j := range jobs {
			if err := op(j.id, j.body, j.auth); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var wg sync.WaitGroup
	errs := make(chan error, concurrency)
	start := time.Now()
	for w := range concurrency {
		wg.Go(func() {
			for i := w; i < k; i += concurrency {
				if err := op(jobs[i].id, jobs[i].body, jobs[i].auth); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
	return elapsed
}

// BenchmarkAtomicBatchPublish is why the log does not group callbacks
// into JetStream atomic batches: nats-server coalesces a batch's fsyncs
// into one, but stages every batch in a store of its own first. msgs/s
// is against size 1, a plain synchronous publish, on the same fsyncing
// server:
//
//	go test ./events/relay -run '^$' -bench AtomicBatchPublish -benchtime 4096x
func BenchmarkAtomicBatchPublish(b *testing.B) {
	for _, size := range []int{1, 2, 4, 8, 16, 32} {
		b.Run("size"+strconv.Itoa(size), func(b *testing.B) {
			l := openTestLog(b, LogConfig{})
			ctx := context.Background()
			info, err := l.stream.Info(ctx)
			if err != nil {
				b.Fatal(err)
			}
			cfg := info.Config
			cfg.AllowAtomicPublish = true
			if _, err := l.js.UpdateStream(ctx, cfg); err != nil {
				b.Fatal(err)
			}
			subject := DefaultStream + ".cb." + string(events.GroupSession)
			var id uint64
			b.ResetTimer()
			start := time.Now()
			for done := 0; done < b.N; done += size {
				if size == 1 {
					id++
					if _, err := l.js.Publish(ctx, subject, benchBody(id), jetstream.WithMsgID(strconv.FormatUint(id, 10))); err != nil {
						b.Fatal(err)
					}
					continue
				}
				publishAtomicBatch(b, l, subject, size, &id)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// publishAtomicBatch sends size messages as one atomic batch (the
// Nats-Batch-* headers; only the commit is acknowledged) and checks the
// acknowledgement counts them all.
func publishAtomicBatch(b *testing.B, l *Log, subject string, size int, id *uint64) {
	batch := "b" + strconv.FormatUint(*id, 10)
	for seq := 1; seq <= size; seq++ {
		*id++
		m := nats.NewMsg(subject)
		m.Data = benchBody(*id)
		m.Header.Set(jetstream.MsgIDHeader, strconv.FormatUint(*id, 10))
		m.Header.Set("Nats-Batch-Id", batch)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(seq))
		if seq < size {
			if err := l.nc.PublishMsg(m); err != nil {
				b.Fatal(err)
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		resp, err := l.nc.RequestMsgWithContext(context.Background(), m)
		if err != nil {
			b.Fatal(err)
		}
		var ack struct {
			Count int             `json:"count"`
			Error json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(resp.Data, &ack); err != nil || ack.Error != nil || ack.Count != size {
			b.Fatalf("batch commit answered %s", resp.Data)
		}
	}
}
