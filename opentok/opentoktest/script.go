package opentoktest

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// The machinery scenarios are written in: a script of actions in
// scenario time, a cast of people with names, and the steps they take
// through the Participant API.

// Typical human delays, in scenario time.
const (
	cameraDelayMin = 1 * time.Second // from connecting to the camera being allowed
	cameraDelayMax = 4 * time.Second
)

// plan schedules a scenario's opening actions on a script; the actions
// schedule what follows them.
type plan func(m *script) error

func runScenario(ctx context.Context, srv *Server, name string, speed float64, duration time.Duration, p plan) error {
	switch {
	case speed == 0:
		speed = 1
	case speed < 0 || math.IsNaN(speed):
		return fmt.Errorf("%s: speed %v: expected a positive factor (1 = real time)", name, speed)
	}
	if duration < 0 {
		return fmt.Errorf("%s: duration %v: expected 0 (until cancelled) or a positive duration", name, duration)
	}
	client, err := srv.Client(srv.cfg.scenarioOwner == OwnerApplication)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	m := &script{srv: srv, client: client, speed: speed}
	if err := p(m); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := m.run(ctx, duration); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// script is the discrete-event loop a scenario runs on.
type script struct {
	srv    *Server
	client *opentok.Client
	speed  float64
	now    time.Duration // scenario time of the action running
	seq    uint64
	agenda agenda
}

type action struct {
	at  time.Duration
	seq uint64 // ties break in scheduling order, so the order is deterministic
	fn  func(context.Context) error
}

// agenda is a min-heap of actions by time, then scheduling order.
type agenda []action

func (a agenda) Len() int { return len(a) }
func (a agenda) Less(i, j int) bool {
	if a[i].at != a[j].at {
		return a[i].at < a[j].at
	}
	return a[i].seq < a[j].seq
}
func (a agenda) Swap(i, j int) { a[i], a[j] = a[j], a[i] }
func (a *agenda) Push(x any)   { *a = append(*a, x.(action)) }
func (a *agenda) Pop() any {
	old := *a
	x := old[len(old)-1]
	*a = old[:len(old)-1]
	return x
}

// after schedules fn d of scenario time after the current action.
func (m *script) after(d time.Duration, fn func(context.Context) error) {
	m.seq++
	heap.Push(&m.agenda, action{at: m.now + max(d, 0), seq: m.seq, fn: fn})
}

// run plays the agenda until it is empty, end (if positive) is reached, or
// ctx is done. Each action waits for its wall-clock deadline, measured from
// the start, so a slow action does not push every later one back.
func (m *script) run(ctx context.Context, end time.Duration) error {
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := func(at time.Duration) error {
		wall := min(float64(at)/m.speed, 1<<62) // a crawling speed must not overflow
		d := time.Until(start.Add(time.Duration(wall)))
		if d <= 0 {
			return ctx.Err()
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return nil
		}
	}
	for m.agenda.Len() > 0 {
		a := heap.Pop(&m.agenda).(action)
		if end > 0 && a.at > end {
			break
		}
		if err := wait(a.at); err != nil {
			return err
		}
		m.now = a.at
		if err := a.fn(ctx); err != nil {
			return err
		}
	}
	if end > 0 {
		return wait(end)
	}
	return nil
}

// between draws a duration uniformly from [lo, hi).
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)))
}

// exponential draws the wait until the next event of a Poisson process
// with the given mean.
func exponential(rng *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(rng.ExpFloat64() * float64(mean))
}

func newScenarioRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))
}

// Names people get: varied, so a console's columns see accents,
// apostrophes and different lengths. Constants, split per scenario, so the
// package holds no mutable state.
const (
	firstNames = "Ana Ben Chen Dara Elif Farah Gabriel Hana Ivan Jun Kofi Lena Mateo Nadia Omar Priya Quinn Rosa " +
		"Sven Tariq Uma Viktor Wen Ximena Yusuf Zofia Aiko Bruno Chiara Diego Emeka Freya Giulia Hamid Ingrid José " +
		"Kateryna Liam Maya Nikhil Olu Pablo Rania Sakura Tomás Valentina William Zainab"
	lastNames = "Kowalski Okafor Nakamura García Müller Haddad Silva Johansson Novak Kim Rossi Dubois Patel Nguyen " +
		"Fischer Mensah O'Brien Costa Yılmaz Andersen Horváth Ibrahim Lindqvist Moreau Petrov Santos Tanaka Walsh " +
		"Zhang Adeyemi Berg Castillo Dlamini Eriksen Ferreira Gupta Hoffmann Ivanova Jensen Kaur López Mwangi " +
		"Nowak Olsen Park Quispe Romero Schmidt"
)

// cast hands out names in a seeded random order without repeating one
// until all 2,304 are used, so a town hall's viewers are told apart.
type cast struct {
	first, last []string
	order       []int
	next        int
}

func newCast(rng *rand.Rand) *cast {
	c := &cast{first: strings.Fields(firstNames), last: strings.Fields(lastNames)}
	c.order = rng.Perm(len(c.first) * len(c.last))
	return c
}

func (c *cast) name() string {
	i := c.order[c.next%len(c.order)]
	c.next++
	return c.first[i/len(c.last)] + " " + c.last[i%len(c.last)]
}

// room is a session a scenario created; its ID is known once the create
// action has run.
type room struct{ id string }

// person is someone a scenario moves in and out of a session. While
// connected, p is their participant; a moderator may disconnect them
// behind the script's back, which the script notices and tolerates.
type person struct {
	name      string
	data      string // connection data, {"name":…,"role":…}
	tokenRole opentok.Role
	room      *room
	p         *Participant
}

// person makes up someone for room r, with the cast's next name.
func (c *cast) person(r *room, appRole string, tokenRole opentok.Role) *person {
	name := c.name()
	data, _ := json.Marshal(struct {
		Name string `json:"name"`
		Role string `json:"role"`
	}{name, appRole})
	return &person{name: name, data: string(data), tokenRole: tokenRole, room: r}
}

// createSession creates a session through the REST client.
func (m *script) createSession(ctx context.Context, opts opentok.SessionOptions) (string, error) {
	s, err := m.client.Sessions.Create(ctx, opts)
	if err != nil {
		return "", err
	}
	return s.ID, nil
}

// join connects a person with a freshly minted client token, as an app's
// server hands one to each client that asks.
func (m *script) join(who *person) error {
	tok, err := m.client.Token(who.room.id, opentok.TokenOptions{Role: who.tokenRole, Data: who.data})
	if err != nil {
		return fmt.Errorf("token for %s: %w", who.name, err)
	}
	p, err := m.srv.Join(who.room.id, tok.Value)
	if err != nil {
		return fmt.Errorf("join %s: %w", who.name, err)
	}
	who.p = p
	return nil
}

// present reports whether the person is connected, forgetting a
// participant a moderator disconnected.
func (m *script) present(who *person) bool {
	if who.p == nil {
		return false
	}
	if ok, _ := who.p.Connected(); !ok {
		who.p = nil
		return false
	}
	return true
}

// publish starts a stream; it returns "" if the person is not connected.
func (m *script) publish(who *person, opts PublishOptions) (string, error) {
	if !m.present(who) {
		return "", nil
	}
	id, err := who.p.Publish(opts)
	if errors.Is(err, ErrNotConnected) {
		who.p = nil
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s publishes %q: %w", who.name, opts.Name, err)
	}
	return id, nil
}

// leave disconnects the person, cleanly or by losing the network.
func (m *script) leave(who *person, dropNetwork bool) error {
	if !m.present(who) {
		return nil
	}
	var err error
	if dropNetwork {
		err = who.p.DropNetwork()
	} else {
		err = who.p.Leave()
	}
	who.p = nil
	if err != nil && !errors.Is(err, ErrNotConnected) {
		return fmt.Errorf("%s leaves: %w", who.name, err)
	}
	return nil
}

// orDefault returns def for a zero count and refuses a negative one.
func orDefault(field string, n, def int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("%s %d: expected 0 (the default, %d) or more", field, n, def)
	case n == 0:
		return def, nil
	}
	return n, nil
}
