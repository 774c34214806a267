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
	"context"
	"fmt"
	"strings"
	"time"
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
