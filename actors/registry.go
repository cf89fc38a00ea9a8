package actors

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// The registry is one actor per node. It knows every authenticated session
// by user, enforces the per-user connection cap, and owns the lifetime of
// the per-user model actors. The node-wide session cap and the cap on
// unauthenticated connections are enforced before a session exists, by
// Node.Admit, with atomics, so that refusing load never queues on this
// mailbox.

// claim asks the registry for a session slot for a user.
type claim struct {
	userID    string
	sessionID string
	session   *actor.PID
}

// claimResult answers a claim. code is empty when the slot was granted.
type claimResult struct {
	code    Code
	model   *actor.PID      // the user's model actor, if it already runs
	pending []PendingAnswer // the user's interrupted answers, for connected
}

// modelAssigned gives a session the address of its user's model actor.
type modelAssigned struct{ model *actor.PID }

// ensureModel asks the registry for the user's model actor, starting it if
// needed: the one way a session finds it when the claim did not name it.
// A session sends it with its first chat message, so the address is
// usually known by the time the cache has missed. Model actors are started
// on first use so that idle sessions cost one actor, not two.
type ensureModel struct {
	userID  string
	session *actor.PID
}

// release gives a slot back when a session ends.
type release struct {
	userID    string
	sessionID string
}

// modelIdle is sent by a model actor whose user has no sessions and whose
// rate-limit bucket is full again; the registry answers modelStop if the
// user is still gone.
type modelIdle struct{ userID string }

type modelStop struct{}

// userSessions asks the registry for a user's live sessions; the answer is
// a []*actor.PID sent to the requester, who asks each session itself, so
// that keeping the listing current costs the chat path nothing.
type userSessions struct{ userID string }

// revokeUser asks the registry to close every session of a user with
// CodeSessionRevoked; it answers with how many sessions it told, an int.
// Only the sessions live now are told: the user may connect again.
type revokeUser struct{ userID string }

// sessionInfo asks a session to describe itself; it answers SessionInfo.
type sessionInfo struct{}

// SessionInfo describes one live session for operators.
type SessionInfo struct {
	SessionID string    `json:"session_id"`
	State     string    `json:"state"`
	Opened    time.Time `json:"opened"`
	Messages  int       `json:"messages"`
}

type userEntry struct {
	sessions map[string]*actor.PID // by session id
	model    *actor.PID
}

type registry struct {
	node  *Node
	users map[string]*userEntry
	// detached are the answers whose socket dropped, by answer id, and
	// how many each user has.
	detached map[string]*detachedAnswer
	perUser  map[string]int
}

// detachedAnswer is one resumable answer as the registry knows it. Stored
// in Node.resumable too, where sessions read userID and pid: no field
// changes once it is stored.
type detachedAnswer struct {
	userID string
	entry  PendingAnswer // Seq and Done as registered; mark has the latest
	mark   *answerMark
	pid    *actor.PID
	until  time.Time
}

// current is the answer as connected.pending lists it.
func (d *detachedAnswer) current() PendingAnswer {
	e := d.entry
	e.Seq, e.Done = d.mark.get()
	return e
}

func newRegistry(n *Node) *registry {
	return &registry{node: n, users: make(map[string]*userEntry),
		detached: make(map[string]*detachedAnswer), perUser: make(map[string]int)}
}

func (r *registry) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *claim:
		r.claim(c, m)
	case *release:
		r.release(c, m)
	case *ensureModel:
		if model := r.model(c, m.userID); model != nil {
			c.Send(m.session, &modelAssigned{model: model})
		}
	case *modelIdle:
		if e := r.users[m.userID]; e != nil && len(e.sessions) == 0 {
			c.Send(e.model, &modelStop{})
			delete(r.users, m.userID)
		}
	case *userSessions:
		c.Respond(r.sessionsOf(m.userID))
	case *userSpend:
		if e := r.users[m.userID]; e != nil && e.model != nil {
			c.Forward(e.model) // the sender rides along: the actor answers the asker
			return
		}
		c.Respond(r.node.spends.peek(m.userID, utcDay(r.node.now())))
	case *answerDetached:
		r.answerDetached(c, m)
	case *answerProgress:
		if d := r.detached[m.id]; d != nil {
			r.share(d)
		}
	case *answerGone:
		r.forget(m.id)
	case *resumeAsk:
		d := r.detached[m.id]
		if d == nil && r.node.opts.Fleet != nil && !strings.HasPrefix(m.resumer.Id, relayPrefix) {
			// Not here: it may run on another node (an ask from another
			// node is answered here or nowhere).
			r.resumeElsewhere(c, m)
			return
		}
		if d == nil || d.userID != m.userID {
			c.Send(m.resumer, &resumeRefused{id: m.id})
			return
		}
		// The session takes one resumer and then tells us to forget the
		// answer.
		c.Send(d.pid, m)
	case *revokeUser:
		pids := r.sessionsOf(m.userID)
		for _, pid := range pids {
			c.Send(pid, &revokeSession{})
		}
		c.Respond(len(pids))
	}
}

func (r *registry) claim(c actor.Context, m *claim) {
	e := r.users[m.userID]
	if e == nil {
		e = &userEntry{sessions: make(map[string]*actor.PID, 1)}
		r.users[m.userID] = e
	}
	if len(e.sessions) >= r.node.opts.MaxConnectionsPerUser {
		c.Send(m.session, &claimResult{code: CodeMaxConnections})
		return
	}
	if len(e.sessions) == 0 {
		r.node.stats.Users.Add(1)
	}
	e.sessions[m.sessionID] = m.session
	c.Send(m.session, &claimResult{model: e.model, pending: r.pendingOf(m.userID)})
}

// model returns the user's model actor, starting it on first use, or nil
// when the user has no live session (the asking session is gone; its
// context is cancelled and nobody waits).
func (r *registry) model(c actor.Context, userID string) *actor.PID {
	e := r.users[userID]
	if e == nil {
		return nil
	}
	if e.model == nil {
		e.model = c.SpawnPrefix(r.node.modelProps(userID), "model-")
	}
	return e.model
}

func (r *registry) release(c actor.Context, m *release) {
	e := r.users[m.userID]
	if e == nil {
		return
	}
	if _, ok := e.sessions[m.sessionID]; !ok {
		return
	}
	delete(e.sessions, m.sessionID)
	if len(e.sessions) > 0 {
		return
	}
	r.node.stats.Users.Add(-1)
	if e.model == nil {
		delete(r.users, m.userID)
		return
	}
	// The model actor stays until its bucket has refilled, so that
	// reconnecting does not reset the user's rate limit.
	c.Send(e.model, &userGone{})
}

// answerDetached registers a resumable answer, at most as many per user
// as the user may have sessions: past that, the answer ends as a drop did
// in protocol 1.0.
func (r *registry) answerDetached(c actor.Context, m *answerDetached) {
	if _, ok := r.detached[m.entry.ID]; !ok {
		if r.perUser[m.userID] >= r.node.opts.MaxConnectionsPerUser {
			c.Send(m.pid, &detachRefused{})
			return
		}
		r.perUser[m.userID]++
	}
	d := &detachedAnswer{userID: m.userID, entry: m.entry, mark: m.mark, pid: m.pid, until: m.until}
	r.detached[m.entry.ID] = d
	r.node.resumable.Store(m.entry.ID, d)
	r.share(d)
}

// share tells the fleet, if any, that this node holds a detached answer.
func (r *registry) share(d *detachedAnswer) {
	if f := r.node.opts.Fleet; f != nil {
		f.ShareAnswer(d.userID, d.current(), d.until)
	}
}

func (r *registry) forget(id string) {
	d := r.detached[id]
	if d == nil {
		return
	}
	delete(r.detached, id)
	r.node.resumable.CompareAndDelete(id, d)
	if f := r.node.opts.Fleet; f != nil {
		f.ForgetAnswer(d.userID, id)
	}
	if r.perUser[d.userID]--; r.perUser[d.userID] <= 0 {
		delete(r.perUser, d.userID)
	}
}

// pendingOf lists a user's resumable answers. The user has a handful at
// most, so a scan of their count's worth is not worth an index.
func (r *registry) pendingOf(userID string) []PendingAnswer {
	if r.perUser[userID] == 0 {
		return nil
	}
	var out []PendingAnswer
	for _, d := range r.detached {
		if d.userID == userID {
			out = append(out, d.current())
		}
	}
	return out
}

func (r *registry) sessionsOf(userID string) []*actor.PID {
	e := r.users[userID]
	if e == nil {
		return nil
	}
	out := make([]*actor.PID, 0, len(e.sessions))
	for _, pid := range e.sessions {
		out = append(out, pid)
	}
	return out
}

// UserSessions returns a user's live sessions: the registry names them,
// then each describes itself. It waits at most timeout in all; use it from
// operator endpoints, never from an actor. A session that ends meanwhile
// is left out.
func (n *Node) UserSessions(userID string, timeout time.Duration) ([]SessionInfo, error) {
	deadline := time.Now().Add(timeout)
	res, err := n.root.RequestFuture(n.registry, &userSessions{userID: userID}, timeout).Result()
	if err != nil {
		return nil, fmt.Errorf("ask registry: %w", err)
	}
	pids := res.([]*actor.PID)
	futures := make([]*actor.Future, len(pids))
	for i, pid := range pids {
		futures[i] = n.root.RequestFuture(pid, &sessionInfo{}, time.Until(deadline))
	}
	out := make([]SessionInfo, 0, len(pids))
	for _, f := range futures {
		if info, err := f.Result(); err == nil {
			out = append(out, info.(SessionInfo))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Opened.Before(out[j].Opened) })
	return out, nil
}

// Disconnect closes every live session of a user with CodeSessionRevoked
// and returns how many it told to close; each sends its error frame and
// closes on its own, after Disconnect returns. It waits at most timeout for
// the registry; use it from operator endpoints, never from an actor. A
// session whose claim the registry has not yet granted is not among them.
func (n *Node) Disconnect(userID string, timeout time.Duration) (int, error) {
	res, err := n.root.RequestFuture(n.registry, &revokeUser{userID: userID}, timeout).Result()
	if err != nil {
		return 0, fmt.Errorf("ask registry: %w", err)
	}
	return res.(int), nil
}
