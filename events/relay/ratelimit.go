package relay

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// commandLimiters gives each console token (its jti) one command budget, a
// token bucket shared by every connection that presents the token. Per
// connection, a console could multiply its rate — and with it how fast its
// refused commands are audited into every console's trail — by opening
// more connections, or start a fresh burst by reconnecting.
type commandLimiters struct {
	rate  rate.Limit
	burst int

	mu      sync.Mutex
	byToken map[string]*tokenBudget
}

type tokenBudget struct {
	lim   *rate.Limiter
	conns int // connections holding it now
}

func newCommandLimiters(perSecond float64, burst int) *commandLimiters {
	return &commandLimiters{rate: rate.Limit(perSecond), burst: burst, byToken: map[string]*tokenBudget{}}
}

// acquire returns the budget of the token with id jti for one connection;
// call release when the connection ends. A token without a jti (gavel
// never mints one, but another holder of the secret might) gets a budget
// of its own per connection.
func (c *commandLimiters) acquire(jti string) (lim *rate.Limiter, release func()) {
	if jti == "" {
		return rate.NewLimiter(c.rate, c.burst), func() {}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetIdle(time.Now())
	b := c.byToken[jti]
	if b == nil {
		b = &tokenBudget{lim: rate.NewLimiter(c.rate, c.burst)}
		c.byToken[jti] = b
	}
	b.conns++
	return b.lim, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		b.conns--
		c.forgetIdle(time.Now())
	}
}

// forgetIdle drops the budgets no connection holds whose bucket has filled
// up again: a new one would start full too, so forgetting changes nothing
// a console can tell, and the map holds only tokens used in the last few
// seconds (burst/rate) or connected now. Called with c.mu held.
func (c *commandLimiters) forgetIdle(now time.Time) {
	for jti, b := range c.byToken {
		if b.conns == 0 && b.lim.TokensAt(now) >= float64(c.burst) {
			delete(c.byToken, jti)
		}
	}
}
