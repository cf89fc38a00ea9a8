package actors

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// Fleet is the state the nodes of a cluster share (SPEC 8.4): the
// fleet-wide connection cap, model rate limit and token budget. Package
// cluster implements it over Redis.
//
// Every method but Unlease does network I/O, so none is called inside
// Receive: Lease from the goroutine that loads the account, Gate and Spend
// from the goroutine of the model call. An error means the fleet could not
// be asked (Redis unreachable, or known to be); the node then applies its
// own cap, bucket and budget alone, never "no limit" and never refusing
// everyone, and the implementation keeps count of how often.
type Fleet interface {
	// Lease takes one of the user's max slots for session across the
	// fleet. ok false with a nil error means every slot is taken. With
	// the slot come the user's answers detached on live nodes, for the
	// connected frame (in the same round trip).
	Lease(ctx context.Context, userID, sessionID string, max int) (ok bool, pending []PendingAnswer, err error)
	// Unlease gives the session's slot back, whether or not Lease has
	// returned yet. It never blocks.
	Unlease(userID, sessionID string)
	// Gate is asked before a model call: it refuses the call when the
	// user's budget for today is spent (overBudget), and otherwise spends
	// one token of the user's rate limit, refusing when there is none
	// (retryAfter is how long until there will be). One round trip.
	Gate(ctx context.Context, userID string, l GateLimits) (g GateResult, err error)
	// Spend adds tokens to the user's spend on now's UTC day.
	Spend(ctx context.Context, userID string, tokens int, now time.Time) error

	// ShareAnswer tells the fleet that this node holds the user's detached
	// answer e until its resume window ends; ForgetAnswer that it no
	// longer does (resumed, or ended). Neither blocks.
	ShareAnswer(userID string, e PendingAnswer, until time.Time)
	ForgetAnswer(userID, answerID string)
	// Locate names the live node holding the user's detached answer, ""
	// when none does.
	Locate(ctx context.Context, userID, answerID string) (node string, err error)
	// Relay sends m to node, which hands it to its Node.Deliver: in order
	// with this node's earlier messages to it, at most once. It never
	// blocks.
	Relay(node string, m *RelayMessage)
}

// GateLimits are the limits Fleet.Gate applies, those of ChatOptions.
type GateLimits struct {
	PerMinute   float64
	Burst       int
	DailyTokens int // 0: no budget
}

// GateResult is Fleet.Gate's answer.
type GateResult struct {
	Allowed    bool
	OverBudget bool
	RetryAfter time.Duration // until the rate limit has a token, when refused by it
}

// fleetSpendTimeout bounds counting a call's tokens in the fleet, which
// happens after the answer whatever its end: the session's context may be
// gone by then.
const fleetSpendTimeout = 2 * time.Second

// fleetLease takes the session's fleet-wide slot, from the account-load
// goroutine. It reports false when the fleet refused; an unreachable fleet
// grants the slot on the node's own cap, which the registry has already
// checked.
func (n *Node) fleetLease(ctx context.Context, userID, sessionID string) (bool, []PendingAnswer) {
	f := n.opts.Fleet
	if f == nil {
		return true, nil
	}
	ok, pending, err := f.Lease(ctx, userID, sessionID, n.opts.MaxConnectionsPerUser)
	if err != nil {
		n.warnEvery("fleet-lease", "fleet unreachable: connection cap applied per node", slog.String("error", err.Error()))
		return true, nil
	}
	return ok, pending
}

// mergePending adds to the registry's list of a user's interrupted answers
// those the fleet knows of on other nodes. The registry's own entries are
// the fresher ones.
func mergePending(local, fleet []PendingAnswer) []PendingAnswer {
	for _, p := range fleet {
		if !slices.ContainsFunc(local, func(l PendingAnswer) bool { return l.ID == p.ID }) {
			local = append(local, p)
		}
	}
	return local
}

// fleetGate decides a model call in the fleet, from the call's goroutine.
// It falls back on the node's own budget (over, as the model actor read it
// before the call) and the actor's local bucket, which is safe to spend
// from any goroutine.
func (m *modelActor) fleetGate(ask *modelAsk, over bool, overWait time.Duration) (ok bool, rej *modelRejected) {
	n := m.node
	o := &n.opts.Chat
	g, err := n.opts.Fleet.Gate(ask.ctx, m.userID, GateLimits{PerMinute: o.RatePerMinute, Burst: o.Burst, DailyTokens: o.DailyTokens})
	if err != nil {
		if ask.ctx.Err() != nil {
			// The session gave up on the answer: nothing was spent, and
			// the call it would have made is not made.
			return false, nil
		}
		n.warnEvery("fleet-gate", "fleet unreachable: rate limit and budget applied per node", slog.String("error", err.Error()))
		if over {
			return false, &modelRejected{seq: ask.seq, retryAfter: overWait, budget: true}
		}
		allowed, wait, _ := m.limit.Allow(ask.ctx, time.Now())
		if !allowed {
			n.stats.LLMRateLimited.Add(1)
			return false, &modelRejected{seq: ask.seq, retryAfter: wait}
		}
		return true, nil
	}
	switch {
	case g.OverBudget:
		now := n.now()
		next := time.Unix((utcDay(now)+1)*86400, 0)
		return false, &modelRejected{seq: ask.seq, retryAfter: next.Sub(now), budget: true}
	case !g.Allowed:
		n.stats.LLMRateLimited.Add(1)
		return false, &modelRejected{seq: ask.seq, retryAfter: g.RetryAfter}
	}
	return true, nil
}

// fleetSpend counts a finished call's tokens in the fleet, when a budget
// is set: the node counts them in its own budget as well, for the days
// the fleet cannot be reached.
func (n *Node) fleetSpend(userID string, tokens int) {
	if n.opts.Fleet == nil || n.opts.Chat.DailyTokens <= 0 || tokens <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, fleetSpendTimeout)
	defer cancel()
	if err := n.opts.Fleet.Spend(ctx, userID, tokens, n.now()); err != nil {
		n.warnEvery("fleet-spend", "fleet unreachable: tokens counted per node only", slog.String("error", err.Error()))
	}
}
