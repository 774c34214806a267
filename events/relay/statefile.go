package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gavelhq/gavel/events"
)

// The hub's state file: the state as of a seq, saved every
// SnapshotEvery records and at shutdown, so a restart replays only the
// log's tail. Consoles never see this file; they get snapshot frames.

// snapshotVersion is the version of the snapshot file's format. Version
// 2 added the late-retry index; a version 1 file is replayed past, which
// rebuilds the index from the log.
const snapshotVersion = 2

// snapshotFile is what SnapshotPath holds.
type snapshotFile struct {
	Version int             `json:"version"`
	Epoch   string          `json:"epoch"`
	Seq     uint64          `json:"seq"`
	SavedAt time.Time       `json:"saved_at"`
	State   json.RawMessage `json:"state"`
	// Retries is the late-retry index (lateRetries.MarshalBinary,
	// base64 in JSON): a day of callbacks' hashes that a restart loads
	// instead of replaying a day of the log.
	Retries []byte `json:"retries"`
}

// loadSnapshot reads the saved state if it belongs to this log's epoch and
// does not claim records the log does not have. Any problem means
// replaying the log from its head, which is slower but right.
func (h *Hub) loadSnapshot(epoch string, last uint64) (*events.State, *lateRetries, uint64, bool) {
	if h.cfg.SnapshotPath == "" {
		return nil, nil, 0, false
	}
	data, err := os.ReadFile(h.cfg.SnapshotPath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, 0, false
	}
	if err != nil {
		h.logger.Warn("cannot read the state snapshot: replaying the log", "path", h.cfg.SnapshotPath, "err", err)
		return nil, nil, 0, false
	}
	var f snapshotFile
	if err := json.Unmarshal(data, &f); err != nil || f.Version != snapshotVersion {
		h.logger.Warn("the state snapshot is damaged or of another version: replaying the log", "path", h.cfg.SnapshotPath, "err", err, "version", f.Version)
		return nil, nil, 0, false
	}
	if f.Epoch != epoch {
		h.logger.Info("the state snapshot is of another log: replaying the log", "snapshot_epoch", f.Epoch, "epoch", epoch)
		return nil, nil, 0, false
	}
	if f.Seq > last {
		h.logger.Warn("the state snapshot is ahead of the log: replaying the log", "snapshot_seq", f.Seq, "last_seq", last)
		return nil, nil, 0, false
	}
	st := events.NewState()
	if err := st.UnmarshalJSON(f.State); err != nil {
		h.logger.Warn("the state snapshot does not load: replaying the log", "err", err)
		return nil, nil, 0, false
	}
	retries := newLateRetries()
	if err := retries.UnmarshalBinary(f.Retries); err != nil {
		h.logger.Warn("the state snapshot does not load: replaying the log", "err", err)
		return nil, nil, 0, false
	}
	h.logger.Info("state snapshot loaded", "seq", f.Seq, "sessions", st.Len(), "recent_callbacks", retries.Len())
	return st, retries, f.Seq, true
}

// saveSnapshot writes the state as of the applied seq: to a temporary file
// in the same directory, fsynced, then renamed over the old one, so a
// crash leaves either the old snapshot or the new, never half of one.
// Failing to save is logged, not fatal: the log still has everything.
func (h *Hub) saveSnapshot() {
	if h.cfg.SnapshotPath == "" {
		return
	}
	h.saveMu.Lock()
	defer h.saveMu.Unlock()
	h.mu.Lock()
	if h.cfg.PruneAfter > 0 {
		h.state.Prune(h.now().Add(-h.cfg.PruneAfter).UnixMilli())
	}
	state, err := h.state.MarshalJSON()
	retries, _ := h.retries.MarshalBinary() // cannot fail
	seq := h.applied
	h.sinceSnap = 0
	h.mu.Unlock()
	if err != nil {
		h.logger.Error("cannot encode the state snapshot", "err", err)
		return
	}
	data, err := json.Marshal(snapshotFile{Version: snapshotVersion, Epoch: h.log.Epoch(), Seq: seq, SavedAt: h.now().UTC(), State: state, Retries: retries})
	if err != nil {
		h.logger.Error("cannot encode the state snapshot", "err", err)
		return
	}
	if err := writeFileAtomic(h.cfg.SnapshotPath, data); err != nil {
		h.logger.Warn("cannot save the state snapshot", "path", h.cfg.SnapshotPath, "err", err)
		return
	}
	h.logger.Debug("state snapshot saved", "seq", seq, "bytes", len(data))
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("snapshot: rename: %w", err)
	}
	// Make the rename itself durable; not every platform can sync a
	// directory, and the old snapshot is a fine fallback, so best effort.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
