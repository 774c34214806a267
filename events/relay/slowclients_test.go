package relay_test

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
)

// TestSlowSendersAreCutOffAndDoNotHoldTheRelay: clients that trickle a
// callback body a byte at a time are cut off after the read timeout
// instead of holding a connection and a goroutine each for ever, and a
// genuine callback is stored and answered while they trickle.
func TestSlowSendersAreCutOffAndDoNotHoldTheRelay(t *testing.T) {
	ln := listenLoopback(t)
	r := startRelay(t, ln, relay.Config{Name: "relay-slow-senders", ReadTimeout: 2 * time.Second}, nil)
	base := httpBase(ln)

	const senders = 40
	var wg sync.WaitGroup
	cut := make(chan time.Duration, senders)
	for range senders {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		// A body of 400 bytes at 5 a second would take 80 s to arrive.
		if _, err := fmt.Fprintf(conn, "POST /v1/callbacks/session HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		wg.Add(2)
		go func() { // trickle until the relay hangs up
			defer wg.Done()
			for range 399 {
				time.Sleep(200 * time.Millisecond)
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
		go func() { // wait for the relay's answer or hang-up
			defer wg.Done()
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, _ = bufio.NewReader(conn).ReadByte()
			cut <- time.Since(start)
			conn.Close()
		}()
	}

	// Meanwhile a genuine callback is stored and answered.
	postCallback(t, base, events.GroupSession, `{"sessionId":"1_MX40NjAwMDAwMH5-slow","projectId":"46000000","event":"connectionCreated","timestamp":1000,"connection":{"id":"c-real","createdAt":1000,"data":""}}`)
	waitFor(t, 10*time.Second, "the genuine callback to be applied", func() bool { return r.srv.Hub().Applied() >= 1 })

	wg.Wait()
	close(cut)
	for d := range cut {
		if d > 20*time.Second {
			t.Fatalf("a slow sender held its connection for %s; the read timeout is 2 s", d.Round(time.Second))
		}
	}
}
