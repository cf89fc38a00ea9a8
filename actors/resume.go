package actors

import (
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// An interrupted answer is resumable (SPEC 8.3). When a session's socket
// drops while its answer is in flight, the session detaches instead of
// stopping: it gives its registry slot back, so that the user can
// reconnect, and lets the answer run on for up to ChatOptions.ResumeWindow,
// recording one offset per frame, so that the frames a client missed can
// be told apart from those it saw. Finished or not when the window ends,
// the answer is persisted, cached (when stop) and counted as usual.
//
// A session of the same user resumes it by sending the request straight to
// the detached session, found in the node's index of detached answers
// (Node.resumable, which the registry keeps), or, when the index does not
// have it, through the registry, which may find it on another node. The
// detached session takes one resumer at a time: it sends it the whole
// answer so far with the text after the frame the client saw last, tells
// the registry the answer is no longer pending, and forwards each later
// frame to it. The resumer shows them to its client, treats the
// answer as its own streaming answer (busy, cancel) and puts it in its
// memory when it is done. A resumer that drops in turn hands the answer
// back: it is detached again, and resumable, for what is left of the
// window.

// Messages between sessions and the registry for resuming.
type (
	// answerDetached registers a detached session's answer with the
	// registry, which answers detachRefused past the per-user bound.
	answerDetached struct {
		userID string
		entry  PendingAnswer
		pid    *actor.PID
		until  time.Time   // the end of its resume window
		mark   *answerMark // the latest frame, kept by the detached session
	}
	detachRefused struct{}
	// answerProgress tells the registry a detached answer's mark moved,
	// for it to share with the fleet; without a fleet the registry reads
	// the mark when it lists pending answers and needs no message.
	answerProgress struct{ id string }
	// answerGone removes a detached answer from the registry.
	answerGone struct{ id string }
	// resumeAsk is a session's resume, sent to the detached session
	// holding the answer, directly or through the registry. One that
	// reaches a session as it stops gets no reply: the resumer's
	// resumeExpired ends the wait.
	resumeAsk struct {
		userID   string
		id       string
		afterSeq int
		resumer  *actor.PID
	}
	// resumeRefused tells the resumer the answer cannot be resumed.
	resumeRefused struct{ id string }
	// answerAttached is the detached session's first reply to a resume:
	// the answer so far as one frame, and what the resumer needs to
	// remember it.
	answerAttached struct {
		frame    *Answer
		question string
		from     *actor.PID
	}
	// forwardedFrame and forwardedError carry the resumed answer's later
	// frames to the resumer.
	forwardedFrame struct{ frame *Answer }
	forwardedError struct{ e *ErrorFrame }
	// remoteCancel is the resumer's cancel, for the session that runs the
	// answer; resumerGone says the resumer itself dropped.
	remoteCancel struct{}
	resumerGone  struct{}
	// resumeWindowOver ends a detached session's wait.
	resumeWindowOver struct{}
	// resumeExpired ends a resumer's wait for the answer seq.
	resumeExpired struct{ seq uint64 }
)

// detachedState is what a detached session keeps beyond its answer.
type detachedState struct {
	resumer  *actor.PID // the session following the answer, if any
	window   *time.Timer
	until    time.Time // when window fires
	finished *Answer   // the done frame, once the answer has finished
	question string
	mark     *answerMark
}

// answerMark is a detached answer's latest frame, written by its session at
// every frame and read by the registry for connected.pending (SPEC 8.3:
// "seq is the latest frame produced"), so that the answer's frames cost
// the registry no message each.
type answerMark struct{ v atomic.Int64 } // seq<<1 | done

func (m *answerMark) set(seq int, done bool) {
	v := int64(seq) << 1
	if done {
		v |= 1
	}
	m.v.Store(v)
}

func (m *answerMark) get() (seq int, done bool) {
	v := m.v.Load()
	return int(v >> 1), v&1 == 1
}

// canDetach reports whether a dropped socket leaves the answer in flight
// running: resuming is on and an answer of this session's own is in flight.
func (s *session) canDetach() bool {
	a := s.chat.cur
	return s.node.opts.Chat.ResumeWindow > 0 && s.detached == nil && a != nil && a.remote == nil
}

// detach keeps the session alive without its socket while its answer runs
// on.
func (s *session) detach(c actor.Context) {
	a := s.chat.cur
	root, self := c.ActorSystem().Root, s.self
	s.detached = &detachedState{question: a.question, until: time.Now().Add(s.node.opts.Chat.ResumeWindow), mark: &answerMark{},
		window: time.AfterFunc(s.node.opts.Chat.ResumeWindow, func() { root.Send(self, &resumeWindowOver{}) })}
	s.node.stats.AnswersDetached.Add(1)
	c.Send(s.node.registry, &release{userID: s.userID, sessionID: s.id})
	s.register(c, false)
	s.logger().Info("socket dropped; answer goes on for resuming", slog.String("answer", a.id),
		slog.Duration("window", s.node.opts.Chat.ResumeWindow))
}

// register tells the registry this session's answer can be resumed.
func (s *session) register(c actor.Context, done bool) {
	var e PendingAnswer
	if f := s.detached.finished; f != nil {
		e = PendingAnswer{ID: f.ID, ReplyTo: f.ReplyTo, Seq: f.Seq, Done: true}
	} else {
		a := s.chat.cur
		e = PendingAnswer{ID: a.id, ReplyTo: a.replyTo, Seq: a.frames, Done: done}
	}
	s.detached.mark.set(e.Seq, e.Done)
	c.Send(s.node.registry, &answerDetached{userID: s.userID, entry: e, pid: s.self, until: s.detached.until, mark: s.detached.mark})
}

// detachedEvent handles what only a detached session receives. It reports
// false for other messages.
func (s *session) detachedEvent(c actor.Context, msg any) bool {
	d := s.detached
	switch m := msg.(type) {
	case *detachRefused:
		// Too many answers of this user wait already: this one ends as a
		// drop did in protocol 1.0.
		s.abandonDetached(c)
	case *resumeAsk:
		s.attach(c, m)
	case *remoteCancel:
		s.cancel(c)
	case *resumerGone:
		d.resumer = nil
		s.register(c, false)
	case *resumeWindowOver:
		if d.resumer != nil {
			return true // the answer is its resumer's now
		}
		if s.chat.cur != nil {
			s.cancel(c) // persisted as cancelled, with its text
		}
		s.endDetached(c)
	case *shutdownSession:
		s.endDetached(c)
	default:
		return false
	}
	return true
}

// attach answers a resume: the answer so far as one frame, then, while it
// runs, every later frame.
func (s *session) attach(c actor.Context, m *resumeAsk) {
	d := s.detached
	if d.resumer != nil {
		c.Send(m.resumer, &resumeRefused{id: m.id})
		return
	}
	var frame *Answer
	if d.finished == nil && s.chat.cur == nil {
		// Ended without a frame (fail stops the session; an ask may
		// already be queued).
		c.Send(m.resumer, &resumeRefused{id: m.id})
		return
	}
	if f := d.finished; f != nil {
		frame = f
		frame.Delta = f.Content[offsetAt(s.chat.offsets, m.afterSeq):]
	} else {
		a := s.chat.cur
		// Text not yet in a frame goes out now, so that the snapshot ends
		// on a frame boundary the client can resume from again.
		if a.sent < len(a.content) {
			s.flush(a)
		}
		content := string(a.content[:a.sent])
		frame = &Answer{ID: a.id, ReplyTo: a.replyTo, Content: content, Delta: content[offsetAt(s.chat.offsets, m.afterSeq):], Seq: a.frames}
	}
	frame.Resumed = true
	s.node.stats.AnswersResumed.Add(1)
	c.Send(m.resumer, &answerAttached{frame: frame, question: d.question, from: s.self})
	if d.finished != nil {
		s.endDetached(c)
		return
	}
	d.resumer = m.resumer
	// Followed now: no longer pending, nor resumable until it is handed
	// back (resumerGone registers it again).
	c.Send(s.node.registry, &answerGone{id: frame.ID})
}

// offsetAt is the length of the answer's text after frame seq.
func offsetAt(offsets []int, seq int) int {
	switch {
	case seq <= 0 || len(offsets) == 0:
		return 0
	case seq > len(offsets):
		return offsets[len(offsets)-1]
	}
	return offsets[seq-1]
}

// emit sends one frame of this session's own answer: to the client, to
// the resumer following it, or, detached, nowhere but the registry's view.
func (s *session) emit(f *Answer) {
	s.chat.offsets = append(s.chat.offsets, len(f.Content))
	d := s.detached
	switch {
	case d == nil:
		s.peer.Answer(f)
	case d.resumer != nil:
		s.node.root.Send(d.resumer, &forwardedFrame{frame: f})
	default:
		d.mark.set(f.Seq, f.Done)
		if s.node.opts.Fleet != nil {
			s.node.root.Send(s.node.registry, &answerProgress{id: f.ID})
		}
	}
	if f.Done && d != nil {
		d.finished = f
		if d.resumer != nil {
			s.endDetached(s.nodeContext())
		}
	}
}

// emitError sends an error about this session's own answer.
func (s *session) emitError(e *ErrorFrame) {
	d := s.detached
	switch {
	case d == nil:
		s.peer.Error(e)
	case d.resumer != nil:
		s.node.root.Send(d.resumer, &forwardedError{e: e})
	}
}

// abandonDetached ends a detached session whose answer cannot be kept.
func (s *session) abandonDetached(c stopper) {
	s.detached.window.Stop()
	s.setState(stateClosing)
	c.Stop(s.self)
}

// endDetached stops a detached session once nothing waits on it.
func (s *session) endDetached(c stopper) {
	d := s.detached
	d.window.Stop()
	if d.finished != nil {
		s.node.root.Send(s.node.registry, &answerGone{id: d.finished.ID})
	} else if a := s.chat.cur; a != nil {
		s.node.root.Send(s.node.registry, &answerGone{id: a.id})
	}
	s.setState(stateClosing)
	c.Stop(s.self)
}

// stopper is the part of actor.Context that stops an actor.
type stopper interface{ Stop(pid *actor.PID) }

// nodeContext stops actors outside a Receive's context.
func (s *session) nodeContext() stopper { return s.node.root }

// resume starts following an interrupted answer of this user's.
func (s *session) resume(c actor.Context, m *Resume) {
	if s.state == stateStreaming || s.resetting {
		s.rejectFrame(CodeBusy, "an answer is still streaming; wait for it or cancel it")
		return
	}
	s.chat.seq++
	s.chat.cur = &answer{seq: s.chat.seq, id: m.ID, remote: resumePending, started: time.Now()}
	s.setState(stateStreaming)
	// An ask can go unanswered: a detached session that stops (its
	// answer taken by another resumer, or finished) drops the asks still
	// in its mailbox. Without this bound the session would stay busy.
	root, self, seq := s.node.root, s.self, s.chat.seq
	s.chat.cur.timer = time.AfterFunc(resumeAskWait, func() { root.Send(self, &resumeExpired{seq: seq}) })
	ask := &resumeAsk{userID: s.userID, id: m.ID, afterSeq: m.AfterSeq, resumer: s.self}
	if v, ok := s.node.resumable.Load(m.ID); ok && v.(*detachedAnswer).userID == s.userID {
		// Detached on this node: no hop through the registry. The session
		// refuses a second resumer itself.
		c.Send(v.(*detachedAnswer).pid, ask)
		return
	}
	// Unknown here, or another user's: the registry refuses it or looks
	// for it on the other nodes.
	c.Send(s.node.registry, ask)
}

// resumeAskWait bounds a resumer's wait for the answer's first frame. It
// outlasts the relay's own bound on a resume through another node
// (relayFirstReply after locateTimeout), which then answers first. A var
// for tests.
var resumeAskWait = relayFirstReply + locateTimeout + time.Second

// resumePending marks a resumed answer asked for, not yet attached.
var resumePending = &actor.PID{Id: "resume-pending"}

// resumedEvent handles the frames of an answer this session follows.
func (s *session) resumedEvent(msg any) bool {
	a := s.chat.cur
	switch m := msg.(type) {
	case *resumeRefused:
		if a != nil && a.remote != nil && a.id == m.id {
			s.refuseResume()
		}
	case *resumeExpired:
		if a != nil && a.seq == m.seq && a.remote == resumePending {
			s.refuseResume()
		}
	case *answerAttached:
		if a == nil || a.id != m.frame.ID {
			if s.cancelledResume == m.frame.ID {
				s.node.root.Send(m.from, &remoteCancel{}) // cancelled before it came
			}
			// Either way the answer goes back to its session.
			s.node.root.Send(m.from, &resumerGone{})
			return true
		}
		if a.timer != nil {
			a.timer.Stop()
			a.timer = nil
		}
		a.remote, a.question, a.replyTo = m.from, m.question, m.frame.ReplyTo
		s.follow(m.frame)
	case *forwardedFrame:
		if a != nil && a.remote != nil {
			s.follow(m.frame)
		}
	case *forwardedError:
		if a != nil && a.remote != nil {
			s.peer.Error(m.e)
			s.chat.cur = nil
			s.endAnswer()
		}
	default:
		return false
	}
	return true
}

// refuseResume ends a resume that found no answer to follow; endAnswer
// also stops its resumeAskWait timer.
func (s *session) refuseResume() {
	s.endAnswer()
	s.rejectFrame(CodeNotFound, "no interrupted answer with that id")
}

// follow shows one frame of a followed answer and, on its done frame,
// takes the exchange into memory.
func (s *session) follow(f *Answer) {
	s.peer.Answer(f)
	if !f.Done {
		return
	}
	a := s.chat.cur
	if f.FinishReason != "error" && f.Content != "" && !s.chat.remembers(a.question, f.Content) {
		s.chat.remember(s.node.opts.Chat.HistoryMessages, a.question, f.Content)
	}
	s.counts.answers++
	s.chat.cur = nil
	s.endAnswer()
}

// remembers reports whether the last exchange in memory is this one (a
// session whose memory was loaded after the answer was stored has it).
func (cs *chatState) remembers(question, reply string) bool {
	n := len(cs.history)
	return n >= 2 && cs.history[n-2].Content == question && cs.history[n-1].Content == reply
}
