package opentoktest

// DispatchStats counts what the callback sender has done since it started.
// Delivered + Failed + Dropped = Enqueued + Duplicated once everything is
// flushed; every received request is a delivery, a failed try or a retry.
type DispatchStats struct {
	// Enqueued counts callbacks the emulator emitted.
	Enqueued uint64
	// Delivered counts callbacks (duplicate copies included) that got a
	// 2xx answer.
	Delivered uint64
	// Retried counts requests after the first for the same callback.
	Retried uint64
	// Failed counts callbacks given up: retries exhausted, or a URL that
	// cannot be requested at all.
	Failed uint64
	// Dropped counts callbacks never sent because of Faults.Drop.
	Dropped uint64
	// Duplicated counts extra copies sent because of Faults.Duplicate.
	Duplicated uint64
	// Reordered counts callbacks held back because of Faults.Reorder.
	Reordered uint64
	// Delayed counts callbacks delayed because of Faults.Delay.
	Delayed uint64
}

// Stats returns the counters. Each is read atomically; the set is not a
// consistent snapshot while callbacks are flowing.
func (d *dispatcher) Stats() DispatchStats {
	return DispatchStats{
		Enqueued:   d.enqueued.Load(),
		Delivered:  d.delivered.Load(),
		Retried:    d.retried.Load(),
		Failed:     d.failed.Load(),
		Dropped:    d.dropped.Load(),
		Duplicated: d.duplicated.Load(),
		Reordered:  d.reordered.Load(),
		Delayed:    d.delayed.Load(),
	}
}
