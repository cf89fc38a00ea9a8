package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/wealthwarriors/wealthcoach/actors"
)

// Answers reachable fleet-wide (SPEC 8.3 with 8.4). A detached answer keeps
// running on the node that produces it; the fleet only says where it is and
// carries the resume traffic:
//
//   - a hash per user, {prefix}answers:{user:U}, maps each detached
//     answer's id to the node holding it, its reply_to, latest seq and done
//     flag, each entry ending with the answer's resume window (scripts on
//     the Redis server's clock drop expired ones). The lease script reads it
//     in the same round trip as the lease, for connected.pending;
//   - a channel per node, {prefix}node:<id>, carries actors.RelayMessage
//     values between the relay actors of two nodes.
//
// Pub/sub rather than a stream per answer: the answer's text so far already
// lives in its producing session, which sends it whole in the first frame
// of a resume, and every later frame carries the whole answer too, so a
// lost message costs no text; a stream would write every frame of every
// detached answer to Redis whether or not anybody resumes it, where
// pub/sub costs a round trip only while somebody follows it. What pub/sub
// gives up (delivery to a subscriber that is away) is what a dead
// producing node loses anyway: SPEC 8.3 makes that answer not_found.

// outbound is one write of the fleet's ordered writer.
type outbound struct {
	kind    outKind
	user    string
	id      string
	value   string        // share: the entry; relay: the message
	ttl     time.Duration // share: until the window ends
	channel string        // relay
}

type outKind uint8

const (
	outShare outKind = iota
	outForget
	outRelay
)

const (
	// outQueue bounds the writes waiting for Redis; past it they are
	// dropped and counted (a dropped frame costs a resumer its timing,
	// a dropped share the answer's visibility elsewhere).
	outQueue = 4096
	// outBatch is how many writes share one pipeline.
	outBatch = 256
)

func (f *Fleet) answersKey(user string) string { return f.o.Prefix + "answers:{user:" + user + "}" }
func nodeChannel(prefix, node string) string   { return prefix + "node:" + node }

// answerEntry is what the answers hash holds of one answer, after the
// expiry the scripts write in front of it.
type answerEntry struct {
	Node    string `json:"node"`
	ReplyTo string `json:"reply_to,omitempty"`
	Seq     int    `json:"seq"`
	Done    bool   `json:"done,omitempty"`
}

// ShareAnswer implements actors.Fleet.
func (f *Fleet) ShareAnswer(userID string, e actors.PendingAnswer, until time.Time) {
	ttl := time.Until(until)
	if ttl <= 0 {
		return
	}
	v, _ := json.Marshal(answerEntry{Node: f.o.NodeID, ReplyTo: e.ReplyTo, Seq: e.Seq, Done: e.Done})
	f.enqueue(outbound{kind: outShare, user: userID, id: e.ID, value: string(v), ttl: ttl})
}

// ForgetAnswer implements actors.Fleet.
func (f *Fleet) ForgetAnswer(userID, answerID string) {
	f.enqueue(outbound{kind: outForget, user: userID, id: answerID})
}

// Relay implements actors.Fleet. The message is encoded here, on the
// caller's goroutine: its frame may be reused once Relay returns.
func (f *Fleet) Relay(node string, m *actors.RelayMessage) {
	b, err := json.Marshal(m)
	if err != nil {
		f.log.Error("encode relay message", slog.String("error", err.Error()))
		return
	}
	f.enqueue(outbound{kind: outRelay, channel: nodeChannel(f.o.Prefix, node), value: string(b)})
}

func (f *Fleet) enqueue(o outbound) {
	if f.degraded.Load() {
		f.Stats.Dropped.Add(1)
		return
	}
	select {
	case f.out <- o:
	default:
		f.Stats.Dropped.Add(1)
	}
}

// Locate implements actors.Fleet.
func (f *Fleet) Locate(ctx context.Context, userID, answerID string) (string, error) {
	if f.degraded.Load() {
		f.Stats.Fallbacks.Add(1)
		return "", errDegraded
	}
	v, err := locateScript.Run(ctx, f.rdb, []string{f.answersKey(userID)}, answerID).Text()
	if err == goredis.Nil {
		return "", nil
	}
	if err != nil {
		if ctx.Err() == nil {
			f.failed("locate answer", err)
		}
		return "", fmt.Errorf("locate answer of user %s: %w", userID, err)
	}
	e, ok := parseEntry(v)
	if !ok || !f.alive(e.Node) {
		return "", nil
	}
	return e.Node, nil
}

// parseEntry reads an answers-hash value: "<expiry ms>|<json>".
func parseEntry(v string) (answerEntry, bool) {
	_, js, ok := strings.Cut(v, "|")
	var e answerEntry
	if !ok || json.Unmarshal([]byte(js), &e) != nil || e.Node == "" {
		return e, false
	}
	return e, true
}

// alive reports whether node may hold answers: any node but one whose
// heartbeat this node saw go stale. A node not seen yet (it joined since
// the last read) counts as alive; a resume of an answer on a node that died
// since is refused when that node does not reply.
func (f *Fleet) alive(node string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, dead := f.dead[node]
	return !dead
}

// pendingFrom reads the entries the lease script returned: the user's
// detached answers on other live nodes (this node's own the registry
// lists).
func (f *Fleet) pendingFrom(res []any) []actors.PendingAnswer {
	var out []actors.PendingAnswer
	for i := 0; i+1 < len(res); i += 2 {
		id, _ := res[i].(string)
		v, _ := res[i+1].(string)
		e, ok := parseEntry(v)
		if !ok || id == "" || e.Node == f.o.NodeID || !f.alive(e.Node) {
			continue
		}
		out = append(out, actors.PendingAnswer{ID: id, ReplyTo: e.ReplyTo, Seq: e.Seq, Done: e.Done})
	}
	return out
}

// write sends the queued writes in order, a pipeline per batch, until ctx
// ends.
func (f *Fleet) write(ctx context.Context) {
	loaded := false
	batch := make([]outbound, 0, outBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-f.out:
			batch = append(batch[:0], o)
		}
	drain:
		for len(batch) < outBatch {
			select {
			case o := <-f.out:
				batch = append(batch, o)
			default:
				break drain
			}
		}
		loaded = f.writeBatch(ctx, batch, loaded)
	}
}

// writeBatch sends one batch and reports whether the share script is
// known to be loaded.
func (f *Fleet) writeBatch(ctx context.Context, batch []outbound, loaded bool) bool {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if !loaded {
		if err := shareScript.Load(ctx, f.rdb).Err(); err != nil {
			f.Stats.Dropped.Add(int64(len(batch)))
			f.failed("answer relay", err)
			return false
		}
	}
	_, err := f.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, o := range batch {
			switch o.kind {
			case outShare:
				shareScript.EvalSha(ctx, p, []string{f.answersKey(o.user)}, o.id, o.value, o.ttl.Milliseconds())
			case outForget:
				p.HDel(ctx, f.answersKey(o.user), o.id)
			case outRelay:
				p.Publish(ctx, o.channel, o.value)
			}
		}
		return nil
	})
	if err != nil {
		f.Stats.Dropped.Add(int64(len(batch)))
		if strings.Contains(err.Error(), "NOSCRIPT") {
			return false // Redis restarted: load again on the next batch
		}
		if ctx.Err() == nil || ctx.Err() == context.DeadlineExceeded {
			f.failed("answer relay", err)
		}
	}
	return true
}

// relayed hands a message from another node to Options.Deliver.
func (f *Fleet) relayed(payload string) {
	var m actors.RelayMessage
	if err := json.Unmarshal([]byte(payload), &m); err != nil {
		f.log.Warn("relay message unreadable", slog.Int("bytes", len(payload)), slog.String("error", err.Error()))
		return
	}
	f.o.Deliver(&m)
}
