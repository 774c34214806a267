package opentok

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// RetryPolicy governs retries of idempotent calls (GETs, layout PUTs, mutes,
// deletes, force disconnects) after 429, 5xx or a transport error. Calls that
// could act twice — signals, session create, archive/broadcast/render/SIP
// starts and stops — are never retried, whatever the policy says.
type RetryPolicy struct {
	// MaxAttempts counts the first try; 1 disables retries.
	MaxAttempts int
	// BaseDelay is the ceiling of the first backoff; it doubles each attempt,
	// and each wait is drawn uniformly below the ceiling ("full jitter").
	BaseDelay time.Duration
	// MaxDelay caps one wait. A Retry-After longer than MaxDelay is not
	// waited for: the error is returned with RetryAfter set instead.
	MaxDelay time.Duration
}

// DefaultRetryPolicy is three attempts, 250 ms first ceiling, 5 s cap.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, BaseDelay: 250 * time.Millisecond, MaxDelay: 5 * time.Second}
}

// wait returns how long to sleep before attempt+1, and false when the
// service asked for a longer pause than the policy allows.
func (p RetryPolicy) wait(attempt int, lastErr error) (time.Duration, bool) {
	var apiErr *APIError
	if errors.As(lastErr, &apiErr) && apiErr.RetryAfter > 0 {
		if apiErr.RetryAfter > p.MaxDelay {
			return 0, false
		}
		return apiErr.RetryAfter, true
	}
	ceiling := p.BaseDelay << (attempt - 1)
	if ceiling > p.MaxDelay || ceiling <= 0 {
		ceiling = p.MaxDelay
	}
	if ceiling <= 0 {
		return 0, true
	}
	return rand.N(ceiling) + 1, true
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
