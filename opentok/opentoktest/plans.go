package opentoktest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// What each scenario does: its plan, which schedules its opening actions.

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
		m.after(rejoinSweep, func(ctx context.Context) error { return comeBack(ctx, m, rng, audience) })
		return nil
	})
	return nil
}

// rejoinSweep is how often, in scenario time, the town hall looks for
// viewers a moderator (or a rule) removed.
const rejoinSweep = 5 * time.Second

// comeBack rejoins, a few seconds later, each viewer who was disconnected
// behind the script's back, as a reconnecting app does (the reason a ban
// must stick), and looks again after rejoinSweep until the script ends. A script nobody moderates draws nothing here, so
// its seeded run is unchanged.
func comeBack(_ context.Context, m *script, rng *rand.Rand, audience []*person) error {
	for _, who := range audience {
		if who.p != nil && !m.present(who) {
			m.after(between(rng, 3*time.Second, 10*time.Second), func(context.Context) error {
				if who.p != nil {
					return nil
				}
				return m.join(who)
			})
		}
	}
	m.after(rejoinSweep, func(ctx context.Context) error { return comeBack(ctx, m, rng, audience) })
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
