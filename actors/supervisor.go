package actors

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
)

// sessionSupervisor contains a panic inside one session. The session is
// resumed with its state intact (an authenticated session stays
// authenticated on its live socket), the message that failed is dropped and
// answered with an internal error. A session that keeps failing is stopped,
// and stopping closes its socket with 1011.
type sessionSupervisor struct {
	node *Node
}

var _ actor.SupervisorStrategy = (*sessionSupervisor)(nil)

func (s *sessionSupervisor) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID,
	rs *actor.RestartStatistics, reason any, message any) {
	s.node.stats.SessionFailures.Add(1)
	s.node.kinds[KindSession].Restarts.Add(1)
	rs.Fail()
	failures := rs.NumberOfFailures(s.node.opts.FailureWindow)
	// The message type is logged, never its contents: it may be a chat
	// message or a token.
	s.node.log.Error("session failed", slog.String("actor", child.Id), slog.Any("reason", reason),
		slog.String("message_type", typeName(message)), slog.Int("failures", failures))
	if failures > s.node.opts.MaxFailures {
		s.node.stats.SessionsStopped.Add(1)
		sup.StopChildren(child)
		return
	}
	sup.ResumeChildren(child)
	sys.Root.Send(child, &recovered{msg: message, reason: reason})
}
