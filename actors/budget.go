package actors

import (
	"fmt"
	"sync"
	"time"
)

// budget is a user's daily token budget (SPEC 8.5): the tokens the model
// reported for the user's answers today, UTC, against ChatOptions.DailyTokens.
// The model actor owns it, as it owns the rate limit, and touches it only in
// Receive. The request that crosses the budget is answered: usage is known
// only when a call ends, so the check is on what was spent before the ask.
// Calls already in flight are not counted until they end.
type budget struct {
	limit int   // tokens a day; 0 is no budget
	day   int64 // the UTC day spent counts, as days since the Unix epoch
	spent int
}

// utcDay is the UTC day t falls on, as days since the Unix epoch.
func utcDay(t time.Time) int64 {
	d := t.Unix() / 86400
	if t.Unix() < 0 && t.Unix()%86400 != 0 {
		d-- // floor, not truncation
	}
	return d
}

// roll starts a new day's count when now is past the day counted.
func (b *budget) roll(now time.Time) {
	if d := utcDay(now); d != b.day {
		b.day, b.spent = d, 0
	}
}

// over reports whether the budget is spent at now and, when it is, how long
// until it resets at the next 00:00 UTC.
func (b *budget) over(now time.Time) (bool, time.Duration) {
	if b.limit <= 0 {
		return false, 0
	}
	b.roll(now)
	if b.spent < b.limit {
		return false, 0
	}
	return true, time.Unix((b.day+1)*86400, 0).Sub(now)
}

// add counts the tokens of a call that ended at now.
func (b *budget) add(now time.Time, tokens int) {
	b.roll(now)
	b.spent += tokens
}

// today is the tokens spent on now's UTC day.
func (b *budget) today(now time.Time) int {
	b.roll(now)
	return b.spent
}

// spendBook keeps, for this node, today's spend of the users whose model
// actor has stopped, so that a user who leaves and comes back the same day
// keeps their count: without it, waiting for the rate-limit bucket to
// refill (seconds) would reset the budget. A model actor parks its spend
// each time it reports itself idle (the last moment before the registry
// stops it) and a new actor of the user takes it when it starts. It holds
// one entry per user who spent tokens today and then went idle, and is
// cleared when the UTC day changes.
//
// The count is per node: a user whose sessions land on two nodes has two
// budgets until the budget moves to the fleet's shared store.
type spendBook struct {
	mu    sync.Mutex
	day   int64
	spent map[string]int
}

// sync moves the book to day d, clearing it when d is a later day. It
// reports whether d is the book's day (false for a day already past).
func (s *spendBook) sync(d int64) bool {
	if s.spent == nil {
		s.spent = make(map[string]int)
	}
	if d > s.day {
		clear(s.spent)
		s.day = d
	}
	return d == s.day
}

// park records a user's spend on day d.
func (s *spendBook) park(userID string, d int64, spent int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sync(d) {
		return
	}
	if spent <= 0 {
		delete(s.spent, userID)
		return
	}
	s.spent[userID] = spent
}

// take removes and returns a user's spend on day d.
func (s *spendBook) take(userID string, d int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sync(d) {
		return 0
	}
	n := s.spent[userID]
	delete(s.spent, userID)
	return n
}

// peek returns a user's spend on day d, leaving it parked.
func (s *spendBook) peek(userID string, d int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.sync(d) {
		return 0
	}
	return s.spent[userID]
}

// now is the node's clock: ChatOptions.Now, or time.Now.
func (n *Node) now() time.Time {
	if n.opts.Chat.Now != nil {
		return n.opts.Chat.Now()
	}
	return time.Now()
}

// newBudget makes the budget of a user's model actor, with what the user
// already spent today on this node.
func (n *Node) newBudget(userID string) budget {
	now := n.now()
	d := utcDay(now)
	return budget{limit: n.opts.Chat.DailyTokens, day: d, spent: n.spends.take(userID, d)}
}

// userSpend asks for a user's spend today: the registry forwards it to the
// user's model actor, or answers from the spend book when none runs. The
// answer is an int.
type userSpend struct{ userID string }

// Spend is a user's token spend today (UTC) on this node.
type Spend struct {
	TokensToday int
	Budget      int // ChatOptions.DailyTokens; 0 when there is no budget
}

// UserSpend returns a user's token spend today on this node. It waits at
// most timeout; use it from operator endpoints, never from an actor.
func (n *Node) UserSpend(userID string, timeout time.Duration) (Spend, error) {
	res, err := n.root.RequestFuture(n.registry, &userSpend{userID: userID}, timeout).Result()
	if err != nil {
		return Spend{}, fmt.Errorf("ask user spend: %w", err)
	}
	return Spend{TokensToday: res.(int), Budget: n.opts.Chat.DailyTokens}, nil
}
