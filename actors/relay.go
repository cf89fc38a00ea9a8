package actors

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Resuming across nodes (SPEC 8.3 with 8.4). A detached answer runs where
// it started; a resume that reaches another node is carried there by two
// relay actors talking through the fleet, so that neither session knows
// the other is remote:
//
//   - on the resuming node, a relayIn stands for the detached session: the
//     resumer gets answerAttached and forwarded frames from it and sends it
//     its cancel and its resumerGone;
//   - on the producing node, a relayOut stands for the resumer: the
//     registry hands it the answer as to any local resumer, and it sends
//     every frame on.
//
// The fleet delivers a node's messages to another in order, at most once.
// Each frame carries the whole answer so far, so a lost frame costs the
// client nothing but its delta's timing; a lost done frame, or a producer
// that died, ends the resumed answer with llm_unavailable after
// relayIdle without a frame.

// RelayKind names a RelayMessage.
type RelayKind string

// The relay messages: an ask goes from the resuming node to the producing
// one, attached, frame, error and refused come back, cancel and gone go
// out again.
const (
	RelayAsk      RelayKind = "ask"
	RelayAttached RelayKind = "attached"
	RelayFrame    RelayKind = "frame"
	RelayError    RelayKind = "error"
	RelayRefused  RelayKind = "refused"
	RelayCancel   RelayKind = "cancel"
	RelayGone     RelayKind = "gone"
)

// RelayMessage is resume traffic between two nodes, as the fleet carries
// it.
type RelayMessage struct {
	Kind     RelayKind   `json:"k"`
	To       string      `json:"to,omitempty"`   // the receiving relay actor; "" for an ask
	From     string      `json:"from,omitempty"` // the sending relay actor
	FromNode string      `json:"node,omitempty"` // where replies go
	UserID   string      `json:"user,omitempty"`
	ID       string      `json:"id,omitempty"` // the answer's id
	AfterSeq int         `json:"after,omitempty"`
	Question string      `json:"q,omitempty"`
	Frame    *Answer     `json:"frame,omitempty"`
	Error    *ErrorFrame `json:"error,omitempty"`
}

const (
	// relayPrefix starts every relay actor's id: a message from the fleet
	// goes to no other actor.
	relayPrefix = "relay-"
	// relayFirstReply bounds the wait for the producing node's answer to
	// an ask; relayIdle the wait between two frames of a followed answer,
	// beyond the model's own stall watchdog on the producing node.
	relayFirstReply = 5 * time.Second
	relayIdle       = 90 * time.Second
	// locateTimeout bounds finding the node that holds an answer.
	locateTimeout = 2 * time.Second
)

// Deliver hands a relay message from another node to this node's actors.
// The fleet calls it from its subscriber goroutine; it never blocks.
func (n *Node) Deliver(m *RelayMessage) {
	if m.Kind == RelayAsk {
		if m.FromNode == "" || !strings.HasPrefix(m.From, relayPrefix) || m.UserID == "" || m.ID == "" {
			return
		}
		out := n.root.SpawnPrefix(actor.PropsFromProducer(func() actor.Actor {
			return &relayOut{node: n, peerNode: m.FromNode, peer: m.From}
		}, actor.WithDispatcher(n.dispatcher())), relayPrefix)
		n.root.Send(n.registry, &resumeAsk{userID: m.UserID, id: m.ID, afterSeq: m.AfterSeq, resumer: out})
		return
	}
	if !strings.HasPrefix(m.To, relayPrefix) {
		return
	}
	n.root.Send(n.system.NewLocalPID(m.To), m)
}

// resumeElsewhere starts a relayIn for a resume of an answer this node
// does not hold.
func (r *registry) resumeElsewhere(c actor.Context, m *resumeAsk) {
	n := r.node
	in := c.ActorSystem().Root.SpawnPrefix(actor.PropsFromProducer(func() actor.Actor {
		return &relayIn{node: n, ask: m}
	}, actor.WithDispatcher(n.dispatcher())), relayPrefix)
	root := c.ActorSystem().Root
	n.io.Go(func() {
		ctx, cancel := context.WithTimeout(n.ctx, locateTimeout)
		defer cancel()
		node, err := n.opts.Fleet.Locate(ctx, m.userID, m.id)
		if err != nil {
			n.warnEvery("fleet-locate", "fleet unreachable: answers resumable on their own node only", slog.String("error", err.Error()))
		}
		root.Send(in, &located{node: node})
	})
}

// located is where a resumed answer runs: "" when no live node holds it.
type located struct{ node string }

// producerEnded tells a relayOut that the session it follows stopped.
type producerEnded struct{}

// relayIn follows, for a local resumer, an answer running on another node.
type relayIn struct {
	node     *Node
	ask      *resumeAsk
	self     *actor.PID
	peerNode string // the producing node, once located
	peer     string // its relayOut, once attached
	timer    *time.Timer
	gen      int // of the timer, so that a stale tick is ignored
}

type relayTick struct{ gen int }

func (r *relayIn) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		r.self = c.Self()
		r.arm(c, relayFirstReply+locateTimeout)
	case *located:
		if m.node == "" || m.node == r.node.opts.NodeID {
			r.refuse(c)
			return
		}
		r.peerNode = m.node
		r.node.opts.Fleet.Relay(m.node, &RelayMessage{Kind: RelayAsk, From: r.self.Id, FromNode: r.node.opts.NodeID,
			UserID: r.ask.userID, ID: r.ask.id, AfterSeq: r.ask.afterSeq})
	case *RelayMessage:
		r.received(c, m)
	case *remoteCancel:
		r.send(RelayCancel)
	case *resumerGone:
		r.send(RelayGone)
		c.Stop(r.self)
	case *relayTick:
		if m.gen != r.gen {
			return
		}
		if r.peer == "" {
			r.refuse(c)
			return
		}
		// The producing node went quiet: it died, or the done frame was lost.
		r.send(RelayGone)
		c.Send(r.ask.resumer, &forwardedError{e: &ErrorFrame{Code: CodeLLMUnavailable, Message: "the answer was lost with the node producing it"}})
		c.Stop(r.self)
	case *actor.Stopping:
		if r.timer != nil {
			r.timer.Stop()
		}
	}
}

func (r *relayIn) received(c actor.Context, m *RelayMessage) {
	switch m.Kind {
	case RelayAttached:
		if m.Frame == nil {
			return
		}
		r.peer = m.From
		c.Send(r.ask.resumer, &answerAttached{frame: m.Frame, question: m.Question, from: r.self})
		if m.Frame.Done {
			c.Stop(r.self)
			return
		}
	case RelayFrame:
		if m.Frame == nil || r.peer == "" {
			return
		}
		c.Send(r.ask.resumer, &forwardedFrame{frame: m.Frame})
		if m.Frame.Done {
			c.Stop(r.self)
			return
		}
	case RelayError:
		if m.Error != nil {
			c.Send(r.ask.resumer, &forwardedError{e: m.Error})
		}
		c.Stop(r.self)
		return
	case RelayRefused:
		r.refuse(c)
		return
	default:
		return
	}
	r.arm(c, relayIdle)
}

func (r *relayIn) refuse(c actor.Context) {
	c.Send(r.ask.resumer, &resumeRefused{id: r.ask.id})
	c.Stop(r.self)
}

// send tells the producing node's relayOut about the resumer, once there
// is one.
func (r *relayIn) send(kind RelayKind) {
	if r.peer == "" {
		return
	}
	r.node.opts.Fleet.Relay(r.peerNode, &RelayMessage{Kind: kind, To: r.peer, From: r.self.Id})
}

func (r *relayIn) arm(c actor.Context, d time.Duration) {
	if r.timer != nil {
		r.timer.Stop()
	}
	r.gen++
	gen, root, self := r.gen, c.ActorSystem().Root, r.self
	r.timer = time.AfterFunc(d, func() { root.Send(self, &relayTick{gen: gen}) })
}

// relayOut follows, for a resumer on another node, an answer detached on
// this one.
type relayOut struct {
	node     *Node
	peerNode string // the resuming node
	peer     string // its relayIn
	from     *actor.PID
	self     *actor.PID
}

func (r *relayOut) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		r.self = c.Self()
	case *answerAttached:
		r.from = m.from
		c.Watch(m.from)
		r.send(&RelayMessage{Kind: RelayAttached, Frame: m.frame, Question: m.question})
		if m.frame.Done {
			c.Stop(r.self)
		}
	case *forwardedFrame:
		r.send(&RelayMessage{Kind: RelayFrame, Frame: m.frame})
		if m.frame.Done {
			c.Stop(r.self)
		}
	case *forwardedError:
		r.send(&RelayMessage{Kind: RelayError, Error: m.e})
		c.Stop(r.self)
	case *resumeRefused:
		r.send(&RelayMessage{Kind: RelayRefused})
		c.Stop(r.self)
	case *RelayMessage:
		if r.from == nil {
			return
		}
		switch m.Kind {
		case RelayCancel:
			c.Send(r.from, &remoteCancel{})
		case RelayGone:
			c.Send(r.from, &resumerGone{})
			c.Stop(r.self)
		}
	case *actor.Terminated:
		// A system message, handled before the frames already queued:
		// look again behind them.
		c.Send(r.self, &producerEnded{})
	case *producerEnded:
		// The detached session stopped without a done frame (the node
		// shuts down): the resumer would otherwise wait for relayIdle.
		r.send(&RelayMessage{Kind: RelayError, Error: &ErrorFrame{Code: CodeLLMUnavailable, Message: "the answer was interrupted"}})
		c.Stop(r.self)
	}
}

func (r *relayOut) send(m *RelayMessage) {
	m.To, m.From = r.peer, r.self.Id
	r.node.opts.Fleet.Relay(r.peerNode, m)
}
