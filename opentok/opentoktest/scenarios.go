package opentoktest

// Scenarios are scripted crowds that keep an emulator busy the way real
// applications do: a town hall with thousands of silent viewers, a
// classroom where everyone publishes, many short one-to-one calls, a
// session on a bad network. They go through the real paths: sessions are
// created with the REST client, and participants join with client tokens
// minted by it and act through the Participant API, so every callback a
// scenario causes is one the service would send.
//
// A scenario is a discrete-event script: its actions are scheduled in
// scenario time and run one at a time, in time order, on Run's goroutine.
// Every random choice comes from one generator seeded by the scenario's
// Seed, so the same seed gives the same actions in the same order however
// fast the machine is; Speed only changes how long Run sleeps between them.

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

// Scenario is a scripted workload for an emulator.
type Scenario interface {
	// Name is the scenario's name, as ScenarioByName takes it.
	Name() string
	// Run plays the script against srv. It returns nil when the script
	// ends, ctx.Err() when ctx is done first, or the first error a REST
	// call or participant action failed with unexpectedly. Participants
	// stay connected when it returns, so the ground truth (srv.Sessions)
	// shows where the script stopped; closing the server ends them.
	Run(ctx context.Context, srv *Server) error
}

// TownHall is one large routed session, archived from the start
// (archiveMode always): a host who publishes a camera and a screen share
// (moderator token), panelists who publish cameras (publisher tokens), and
// viewers who only watch (subscriber tokens, no streams) and come and go.
type TownHall struct {
	Seed uint64
	// Viewers is how many viewers join (default 2000).
	Viewers int
	// Panelists is how many panelists publish a camera (default 4).
	Panelists int
	// JoinOver spreads the viewers' arrivals evenly at random over this
	// much scenario time (default 2 minutes).
	JoinOver time.Duration
	// Churn is the fraction of viewers that leave and rejoin per minute
	// (default 0.05); negative turns churn off.
	Churn float64
	// Speed is how much faster than real time the script runs (default 1).
	Speed float64
	// Duration ends the script after this much scenario time; 0 runs
	// until the context is done.
	Duration time.Duration
}

// Classroom is one routed session where a teacher (moderator) and every
// student publish camera and audio, and the teacher shares a screen now and
// then, ending each share as a browser's "Stop sharing" does (mediaStopped).
type Classroom struct {
	Seed uint64
	// Students is how many students join (default 25).
	Students int
	// Speed is how much faster than real time the script runs (default 1).
	Speed float64
	// Duration ends the script after this much scenario time; 0 runs
	// until the context is done.
	Duration time.Duration
}

// OneToOne is many two-person calls coming and going, each in its own
// relayed session created when the call starts, as calling apps do: the
// caller joins and publishes, the callee answers (or not), they talk, one
// hangs up and the other follows.
type OneToOne struct {
	Seed uint64
	// Calls is how many calls are in progress at once (default 20).
	Calls int
	// MeanDuration is the mean length of an answered call (default 4
	// minutes); lengths are exponentially distributed, at least 20 s.
	MeanDuration time.Duration
	// Speed is how much faster than real time the script runs (default 1).
	Speed float64
	// Duration ends the script after this much scenario time; 0 runs
	// until the context is done.
	Duration time.Duration
}

// FlakyNetwork is one routed session whose participants keep losing the
// network (networkDisconnected) and coming back as new connections; some
// come back audio-only.
type FlakyNetwork struct {
	Seed uint64
	// Participants is how many people are in the session (default 6).
	Participants int
	// DropRate is how often each participant loses the network, per
	// minute (default 0.5).
	DropRate float64
	// Speed is how much faster than real time the script runs (default 1).
	Speed float64
	// Duration ends the script after this much scenario time; 0 runs
	// until the context is done.
	Duration time.Duration
}

// Mix runs a smaller town hall, classroom, set of one-to-one calls and
// flaky session together, in one script.
type Mix struct {
	Seed uint64
	// Speed is how much faster than real time the script runs (default 1).
	Speed float64
	// Duration ends the script after this much scenario time; 0 runs
	// until the context is done.
	Duration time.Duration
}

// Name implements Scenario.
func (TownHall) Name() string { return "townhall" }

// Name implements Scenario.
func (Classroom) Name() string { return "classroom" }

// Name implements Scenario.
func (OneToOne) Name() string { return "onetoone" }

// Name implements Scenario.
func (FlakyNetwork) Name() string { return "flaky" }

// Name implements Scenario.
func (Mix) Name() string { return "mix" }

// Run implements Scenario.
func (t TownHall) Run(ctx context.Context, srv *Server) error {
	return runScenario(ctx, srv, t.Name(), t.Speed, t.Duration, t.plan)
}

// Run implements Scenario.
func (c Classroom) Run(ctx context.Context, srv *Server) error {
	return runScenario(ctx, srv, c.Name(), c.Speed, c.Duration, c.plan)
}

// Run implements Scenario.
func (o OneToOne) Run(ctx context.Context, srv *Server) error {
	return runScenario(ctx, srv, o.Name(), o.Speed, o.Duration, o.plan)
}

// Run implements Scenario.
func (f FlakyNetwork) Run(ctx context.Context, srv *Server) error {
	return runScenario(ctx, srv, f.Name(), f.Speed, f.Duration, f.plan)
}

// Run implements Scenario.
func (x Mix) Run(ctx context.Context, srv *Server) error {
	return runScenario(ctx, srv, x.Name(), x.Speed, x.Duration, x.plan)
}

// ScenarioNames lists the names ScenarioByName knows.
func ScenarioNames() []string {
	return []string{"townhall", "classroom", "onetoone", "flaky", "mix"}
}

// ScenarioByName returns a named scenario with its default sizes and rates,
// running in real time (see ScenarioAtSpeed) until its context is done.
func ScenarioByName(name string, seed uint64) (Scenario, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "townhall":
		return TownHall{Seed: seed}, nil
	case "classroom":
		return Classroom{Seed: seed}, nil
	case "onetoone":
		return OneToOne{Seed: seed}, nil
	case "flaky":
		return FlakyNetwork{Seed: seed}, nil
	case "mix":
		return Mix{Seed: seed}, nil
	}
	return nil, fmt.Errorf("scenario %q: expected one of %s", name, strings.Join(ScenarioNames(), ", "))
}

// ScenarioAtSpeed returns sc set to run speed times faster than real time.
// Scenarios of other types are returned unchanged.
func ScenarioAtSpeed(sc Scenario, speed float64) Scenario {
	switch s := sc.(type) {
	case TownHall:
		s.Speed = speed
		return s
	case Classroom:
		s.Speed = speed
		return s
	case OneToOne:
		s.Speed = speed
		return s
	case FlakyNetwork:
		s.Speed = speed
		return s
	case Mix:
		s.Speed = speed
		return s
	}
	return sc
}

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
	client, err := srv.Client(false)
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

func (t TownHall) plan(m *script) error {
	viewers, err := orDefault("viewers", t.Viewers, 2000)
	if err != nil {
		return err
	}
	panelists, err := orDefault("panelists", t.Panelists, 4)
	if err != nil {
		return err
	}
	joinOver := t.JoinOver
	switch {
	case joinOver < 0:
		return fmt.Errorf("join over %v: expected a positive duration", joinOver)
	case joinOver == 0:
		joinOver = 2 * time.Minute
	}
	churn := t.Churn
	switch {
	case math.IsNaN(churn):
		return errors.New("churn: expected a fraction per minute, not NaN")
	case churn == 0:
		churn = 0.05
	}
	rng := newScenarioRand(t.Seed)
	names := newCast(rng)
	r := &room{}
	host := names.person(r, "host", opentok.RoleModerator)
	panel := make([]*person, panelists)
	for i := range panel {
		panel[i] = names.person(r, "panelist", opentok.RolePublisher)
	}
	audience := make([]*person, viewers)
	for i := range audience {
		audience[i] = names.person(r, "viewer", opentok.RoleSubscriber)
	}

	m.after(0, func(ctx context.Context) error {
		id, err := m.createSession(ctx, opentok.SessionOptions{MediaMode: opentok.Routed, ArchiveMode: opentok.ArchiveAlways, ArchiveName: "Town hall"})
		if err != nil {
			return err
		}
		r.id = id
		if err := m.join(host); err != nil {
			return err
		}
		// The host goes live with the camera, then shares the slides.
		m.after(between(rng, cameraDelayMin, cameraDelayMax), func(context.Context) error {
			_, err := m.publish(host, PublishOptions{Name: host.name})
			return err
		})
		m.after(between(rng, 8*time.Second, 15*time.Second), func(context.Context) error {
			_, err := m.publish(host, PublishOptions{Name: host.name + " (screen)", VideoType: "screen", NoAudio: true})
			return err
		})
		for _, who := range panel {
			m.after(between(rng, 2*time.Second, 20*time.Second), func(context.Context) error {
				if err := m.join(who); err != nil {
					return err
				}
				m.after(between(rng, cameraDelayMin, cameraDelayMax), func(context.Context) error {
					_, err := m.publish(who, PublishOptions{Name: who.name})
					return err
				})
				return nil
			})
		}
		for _, who := range audience {
			m.after(between(rng, 0, joinOver), func(context.Context) error { return m.join(who) })
		}
		if churn > 0 && viewers > 0 {
			mean := time.Duration(float64(time.Minute) / (churn * float64(viewers)))
			var next func(context.Context) error
			next = func(context.Context) error {
				// A random viewer who is here steps out (a tenth lose the
				// network instead) and comes back a little later.
				for range 8 {
					who := audience[rng.IntN(len(audience))]
					if !m.present(who) {
						continue
					}
					if err := m.leave(who, rng.Float64() < 0.1); err != nil {
						return err
					}
					m.after(between(rng, 5*time.Second, 90*time.Second), func(context.Context) error { return m.join(who) })
					break
				}
				m.after(exponential(rng, mean), next)
				return nil
			}
			m.after(exponential(rng, mean), next)
		}
		return nil
	})
	return nil
}

func (c Classroom) plan(m *script) error {
	students, err := orDefault("students", c.Students, 25)
	if err != nil {
		return err
	}
	rng := newScenarioRand(c.Seed)
	names := newCast(rng)
	r := &room{}
	teacher := names.person(r, "teacher", opentok.RoleModerator)
	class := make([]*person, students)
	for i := range class {
		class[i] = names.person(r, "student", opentok.RolePublisher)
	}
	m.after(0, func(ctx context.Context) error {
		id, err := m.createSession(ctx, opentok.SessionOptions{MediaMode: opentok.Routed})
		if err != nil {
			return err
		}
		r.id = id
		arrive := func(who *person) func(context.Context) error {
			return func(context.Context) error {
				if err := m.join(who); err != nil {
					return err
				}
				m.after(between(rng, cameraDelayMin, cameraDelayMax), func(context.Context) error {
					_, err := m.publish(who, PublishOptions{Name: who.name})
					return err
				})
				return nil
			}
		}
		if err := arrive(teacher)(ctx); err != nil {
			return err
		}
		// Most students are on time; a few trickle in late.
		for _, who := range class {
			m.after(between(rng, 10*time.Second, 3*time.Minute), arrive(who))
		}
		var share func(context.Context) error
		share = func(context.Context) error {
			id, err := m.publish(teacher, PublishOptions{Name: teacher.name + " (screen)", VideoType: "screen", NoAudio: true})
			if err != nil {
				return err
			}
			if id != "" {
				m.after(between(rng, time.Minute, 4*time.Minute), func(context.Context) error {
					if !m.present(teacher) {
						return nil
					}
					err := teacher.p.StopScreenShare(id)
					if errors.Is(err, ErrNotConnected) || errors.Is(err, ErrNoSuchStream) {
						return nil // a moderator ended it first
					}
					return err
				})
			}
			m.after(between(rng, 3*time.Minute, 8*time.Minute), share)
			return nil
		}
		m.after(between(rng, time.Minute, 3*time.Minute), share)
		return nil
	})
	return nil
}

func (o OneToOne) plan(m *script) error {
	calls, err := orDefault("calls", o.Calls, 20)
	if err != nil {
		return err
	}
	mean := o.MeanDuration
	switch {
	case mean < 0:
		return fmt.Errorf("mean duration %v: expected a positive duration", mean)
	case mean == 0:
		mean = 4 * time.Minute
	}
	rng := newScenarioRand(o.Seed)
	names := newCast(rng)
	// Each line carries one call after another: a call, a pause, the next.
	var call func(context.Context) error
	call = func(ctx context.Context) error {
		r := &room{}
		caller := names.person(r, "caller", opentok.RolePublisher)
		callee := names.person(r, "callee", opentok.RolePublisher)
		id, err := m.createSession(ctx, opentok.SessionOptions{})
		if err != nil {
			return err
		}
		r.id = id
		if err := m.join(caller); err != nil {
			return err
		}
		if _, err := m.publish(caller, PublishOptions{Name: caller.name}); err != nil {
			return err
		}
		hangUp := func(first, second *person) {
			m.after(0, func(context.Context) error { return m.leave(first, rng.Float64() < 0.1) })
			m.after(between(rng, time.Second, 3*time.Second), func(context.Context) error {
				if err := m.leave(second, false); err != nil {
					return err
				}
				m.after(between(rng, 5*time.Second, time.Minute), call)
				return nil
			})
		}
		if rng.Float64() < 0.1 {
			// Nobody answers; the caller gives up.
			m.after(between(rng, 20*time.Second, 40*time.Second), func(context.Context) error {
				if err := m.leave(caller, false); err != nil {
					return err
				}
				m.after(between(rng, 5*time.Second, time.Minute), call)
				return nil
			})
			return nil
		}
		m.after(between(rng, 3*time.Second, 20*time.Second), func(context.Context) error {
			if err := m.join(callee); err != nil {
				return err
			}
			if _, err := m.publish(callee, PublishOptions{Name: callee.name}); err != nil {
				return err
			}
			talk := max(exponential(rng, mean), 20*time.Second)
			m.after(talk, func(context.Context) error {
				if rng.IntN(2) == 0 {
					hangUp(caller, callee)
				} else {
					hangUp(callee, caller)
				}
				return nil
			})
			return nil
		})
		return nil
	}
	for range calls {
		m.after(between(rng, 0, time.Minute), call)
	}
	return nil
}

func (f FlakyNetwork) plan(m *script) error {
	n, err := orDefault("participants", f.Participants, 6)
	if err != nil {
		return err
	}
	rate := f.DropRate
	switch {
	case rate < 0 || math.IsNaN(rate):
		return fmt.Errorf("drop rate %v: expected drops per participant per minute, 0 (the default, 0.5) or more", rate)
	case rate == 0:
		rate = 0.5
	}
	mean := time.Duration(float64(time.Minute) / rate)
	rng := newScenarioRand(f.Seed)
	names := newCast(rng)
	r := &room{}
	people := make([]*person, n)
	for i := range people {
		people[i] = names.person(r, "participant", opentok.RolePublisher)
	}
	m.after(0, func(ctx context.Context) error {
		id, err := m.createSession(ctx, opentok.SessionOptions{MediaMode: opentok.Routed})
		if err != nil {
			return err
		}
		r.id = id
		for _, who := range people {
			var connect func(context.Context) error
			connect = func(context.Context) error {
				if err := m.join(who); err != nil {
					return err
				}
				m.after(between(rng, cameraDelayMin, cameraDelayMax), func(context.Context) error {
					opts := PublishOptions{Name: who.name}
					if rng.Float64() < 0.25 {
						opts.VideoType = AudioOnly // video off to save bandwidth
					}
					_, err := m.publish(who, opts)
					return err
				})
				m.after(exponential(rng, mean), func(context.Context) error {
					// A participant a moderator removed comes back too, as
					// a reconnecting app does.
					if err := m.leave(who, true); err != nil {
						return err
					}
					m.after(between(rng, 2*time.Second, 20*time.Second), connect)
					return nil
				})
				return nil
			}
			m.after(between(rng, 0, 20*time.Second), connect)
		}
		return nil
	})
	return nil
}

// mixSeed derives the seed of the mix's i-th part.
func mixSeed(seed uint64, i int) uint64 { return seed ^ uint64(i+1)*0x9e3779b97f4a7c15 }

func (x Mix) plan(m *script) error {
	parts := []plan{
		TownHall{Seed: mixSeed(x.Seed, 0), Viewers: 150, Panelists: 3, JoinOver: time.Minute}.plan,
		Classroom{Seed: mixSeed(x.Seed, 1), Students: 12}.plan,
		OneToOne{Seed: mixSeed(x.Seed, 2), Calls: 6}.plan,
		FlakyNetwork{Seed: mixSeed(x.Seed, 3), Participants: 5}.plan,
	}
	for _, p := range parts {
		if err := p(m); err != nil {
			return err
		}
	}
	return nil
}
