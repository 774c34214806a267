package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/nats-io/nats.go/jetstream"
)

// Two moderators on one event will press d on the same troll within a
// second, or start the same recording twice. The relay lets one of them
// act: before a destructive command reaches the Video API, the gateway
// claims its target in a JetStream key-value bucket with Create, which
// succeeds for exactly one writer on the whole NATS — this relay's
// consoles and every other relay's. The other is refused with 409 and
// the name of whoever holds the target. A claim outlives its command
// (claimTTL) so that the second press a moment after the first does not
// act again on what the first has done; a command that failed lets go at
// once, so a retry can.
//
// https://docs.nats.io/nats-concepts/jetstream/key-value-store (Create:
// "only if the key does not exist"; per-key TTL with LimitMarkerTTL).

// claimTTL is how long a claim lives: longer than a command may take
// (commandTimeout plus the audit's deadline), so no claim ends under a
// command still running.
const claimTTL = commandTimeout + auditTimeout + 5*time.Second

// claim is who holds a target, as the bucket stores it.
type claim struct {
	Name    string    `json:"name"`    // the console's user, or rule:<name>
	Console string    `json:"console"` // which of their consoles: the one whose question or command it is
	Action  string    `json:"action"`
	Session string    `json:"session,omitempty"`
	Target  string    `json:"target,omitempty"` // the connection, stream, archive or identity
	At      time.Time `json:"at"`
}

// targetClaims is the bucket; nil claims nothing (a gateway without a log).
type targetClaims struct{ kv jetstream.KeyValue }

// claimsBucket is the key-value bucket claims live in, next to the log's
// stream (its name derives from the stream's, so two logs on one NATS do
// not share claims). Memory storage: a claim is worth seconds.
func (l *Log) claimsBucket(ctx context.Context) (*targetClaims, error) {
	// The bucket's TTL is a backstop: every claim carries its own.
	kv, err := l.bucket(ctx, "claims", "who is acting on which target (moderators' and rules' destructive commands)", time.Hour)
	if err != nil {
		return nil, err
	}
	return &targetClaims{kv: kv}, nil
}

// bucket creates (or binds) the key-value bucket <stream>_<name>: memory
// storage, the latest value only, entries expiring after ttl, and a
// delete marker when one expires, which watchers see (and which lets
// an entry carry a TTL of its own).
func (l *Log) bucket(ctx context.Context, name, description string, ttl time.Duration) (jetstream.KeyValue, error) {
	kv, err := l.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         l.cfg.Stream + "_" + name,
		Description:    "gavel relay: " + description,
		History:        1,
		TTL:            ttl,
		Storage:        jetstream.MemoryStorage,
		LimitMarkerTTL: time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("log: %s bucket: %w", name, err)
	}
	return kv, nil
}

// claimKey is the key of what cmd acts on, for the commands two
// moderators must not both run; ok is false for the others. Keys hash the
// ids (session ids hold characters keys may not).
func claimKey(cmd events.Command, p events.CommandParams) (key string, ok bool) {
	var parts []string
	switch cmd.Action {
	case events.ActionDisconnect:
		parts = []string{cmd.Session, cmd.Connection}
	case events.ActionUnpublish:
		parts = []string{cmd.Session, cmd.Stream}
	case events.ActionMuteAll, events.ActionMuteAllOff, events.ActionArchiveStart:
		parts = []string{cmd.Session}
	case events.ActionArchiveStop:
		parts = []string{cmd.Session, p.Archive}
	case events.ActionBan:
		parts = []string{cmd.Session, cmd.Connection, p.Match}
	default:
		return "", false
	}
	h := sha256.New()
	for _, s := range parts {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return cmd.Action + "." + hex.EncodeToString(h.Sum(nil)[:12]), true
}

// take claims key for c. It answers the holder and false when someone
// else (another user, or another console of the same user) has it; the
// same console may take its own claim again (its question, then its
// command).
func (tc *targetClaims) take(ctx context.Context, key string, c claim) (holder claim, ok bool, err error) {
	if tc == nil {
		return claim{}, true, nil
	}
	value, _ := json.Marshal(c)
	_, err = tc.kv.Create(ctx, key, value, jetstream.KeyTTL(claimTTL))
	if err == nil {
		return c, true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return claim{}, false, fmt.Errorf("claim %s: %w", key, err)
	}
	entry, gerr := tc.kv.Get(ctx, key)
	if gerr != nil {
		// Gone between the two calls: its holder let go. Try once more.
		if errors.Is(gerr, jetstream.ErrKeyNotFound) {
			if _, err = tc.kv.Create(ctx, key, value, jetstream.KeyTTL(claimTTL)); err == nil {
				return c, true, nil
			}
		}
		return claim{}, false, fmt.Errorf("claim %s: %w", key, err)
	}
	if err := json.Unmarshal(entry.Value(), &holder); err != nil {
		return claim{}, false, fmt.Errorf("claim %s: unreadable holder: %w", key, err)
	}
	if holder.Console != "" && holder.Console == c.Console {
		return holder, true, nil
	}
	return holder, false, nil
}

// release lets go of key, held by console: only its holder may.
func (tc *targetClaims) release(ctx context.Context, key, console string) {
	if tc == nil {
		return
	}
	entry, err := tc.kv.Get(ctx, key)
	if err != nil {
		return
	}
	var holder claim
	if json.Unmarshal(entry.Value(), &holder) != nil || holder.Console != console {
		return
	}
	// Only the revision read: a claim taken since by someone else stays.
	_ = tc.kv.Delete(ctx, key, jetstream.LastRevision(entry.Revision()))
}
