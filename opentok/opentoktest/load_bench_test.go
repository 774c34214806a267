package opentoktest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// BenchmarkTownHallLoad is the emulator's load figure: one emulator holding a
// 10,000-viewer town hall plus 200 small sessions, churning participants,
// while every callback is POSTed to a receiver on loopback. Each iteration
// is one participant coming or going (a viewer of the town hall, or a
// publisher in a small session); the figure is callbacks delivered per second.
//
//	go test ./opentok/opentoktest -run '^$' -bench TownHallLoad -benchtime 20000x
func BenchmarkTownHallLoad(b *testing.B) {
	var received atomic.Int64
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received.Add(1)
	}))
	defer rc.Close()
	srv, err := NewServer(WithCallbackURL(GroupSession, rc.URL), WithCallbackURL(GroupArchive, rc.URL))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	client, err := srv.Client(false)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	newSession := func() string {
		s, err := client.Sessions.Create(ctx, opentok.SessionOptions{MediaMode: opentok.Routed})
		if err != nil {
			b.Fatal(err)
		}
		return s.ID
	}
	join := func(sid string, role opentok.Role, data string) *Participant {
		tok, err := client.Token(sid, opentok.TokenOptions{Role: role, Data: data})
		if err != nil {
			b.Fatal(err)
		}
		p, err := srv.Join(sid, tok.Value)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}

	// Set up: the town hall (host, 4 panelists, 10,000 viewers) and 200
	// small sessions of 3 publishers each.
	hall := newSession()
	host := join(hall, opentok.RoleModerator, `{"name":"Host"}`)
	_, _ = host.Publish(PublishOptions{Name: "Host"})
	_, _ = host.Publish(PublishOptions{Name: "Slides", VideoType: "screen"})
	for i := range 4 {
		p := join(hall, opentok.RolePublisher, fmt.Sprintf(`{"name":"Panelist %d"}`, i))
		_, _ = p.Publish(PublishOptions{Name: fmt.Sprintf("Panelist %d", i)})
	}
	viewers := make([]*Participant, 10000)
	for i := range viewers {
		viewers[i] = join(hall, opentok.RoleSubscriber, fmt.Sprintf(`{"name":"Viewer %d"}`, i))
	}
	small := make([]string, 200)
	members := make([][]*Participant, 200)
	for i := range small {
		small[i] = newSession()
		for j := range 3 {
			p := join(small[i], opentok.RolePublisher, fmt.Sprintf(`{"name":"Caller %d-%d"}`, i, j))
			_, _ = p.Publish(PublishOptions{})
			members[i] = append(members[i], p)
		}
	}
	flushCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := srv.FlushCallbacks(flushCtx); err != nil {
		b.Fatal(err)
	}
	before := srv.CallbackStats().Delivered

	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		// Three viewer moves for every small-session move, the town hall
		// being where the traffic is.
		if i%4 != 3 {
			v := i % len(viewers)
			_ = viewers[v].Leave()
			viewers[v] = join(hall, opentok.RoleSubscriber, fmt.Sprintf(`{"name":"Viewer %d"}`, v))
			continue
		}
		s := (i / 4) % len(small)
		m := members[s][0]
		_ = m.Leave() // connection and stream destroyed
		p := join(small[s], opentok.RolePublisher, `{"name":"Caller"}`)
		_, _ = p.Publish(PublishOptions{})
		members[s] = append(members[s][1:], p)
	}
	if err := srv.FlushCallbacks(flushCtx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	st := srv.CallbackStats()
	delivered := st.Delivered - before
	if st.Failed > 0 {
		b.Fatalf("%d callbacks were given up", st.Failed)
	}
	b.ReportMetric(float64(delivered)/elapsed.Seconds(), "callbacks/s")
	b.ReportMetric(float64(len(srv.Sessions())), "sessions")
}
