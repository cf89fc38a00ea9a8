package loadtest

import (
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

// questions is the fixed question set repeated messages come from.
var questions = []string{
	"How much should I keep in an emergency fund?",
	"Should I pay off my debts before I start investing?",
	"What is a simple way to start a monthly budget?",
	"How do index funds work?",
	"How much of my income should I save for retirement?",
	"Is it better to rent or to buy a home?",
	"How can I lower my monthly expenses?",
	"What is dollar-cost averaging?",
}

// chat sends the session's messages one at a time, each after the previous
// answer, and reports whether the session is still usable.
func (r *runner) chat(i int, c *wsclient.Client) bool {
	m := r.o.Messages
	if r.o.Soak {
		m = math.MaxInt // until the run ends
	}
	if m == 0 {
		return true
	}
	if !SleepUntil(r.ctx, r.chatAt.Add(r.offset(i))) {
		r.stopped()
		r.skipped(m)
		return false
	}
	repeats := r.repeats(i)
	for j := range m {
		if r.o.Soak && r.ctx.Err() != nil {
			return false
		}
		if j > 0 && !SleepUntil(r.ctx, time.Now().Add(r.o.Think)) {
			r.stopped()
			r.skipped(m - j)
			return false
		}
		ok := r.ask(c, r.tokenUser(i), j, question(r.runID, i, j, repeats))
		r.progress(1)
		if !ok {
			r.skipped(m - j - 1)
			return false
		}
	}
	return true
}

// skipped advances the bar past n messages that will not be sent. A soak
// has no planned count to reach.
func (r *runner) skipped(n int) {
	if !r.o.Soak {
		r.progress(n)
	}
}

// repeats is how many of session i's messages come from the fixed set.
// They come first: the cache key covers the conversation so far, so a
// repeated question can hit only after the same repeated questions. The
// count is Repeat*Messages rounded up or down at random (but the same
// for the same session), so that the fraction holds on average even for
// one message per session.
func (r *runner) repeats(i int) int {
	u := float64(splitmix64(uint64(i))>>11) / (1 << 53)
	return min(int(math.Floor(r.o.Repeat*float64(r.o.Messages)+u)), r.o.Messages)
}

// question is message j of session i: from the fixed set for the first
// repeats messages, otherwise unique to the session and the run, so that a
// second run against the same server does not find it in the cache.
func question(runID string, i, j, repeats int) string {
	if j < repeats {
		return questions[j%len(questions)]
	}
	return fmt.Sprintf("%s (load run %s, session %d, message %d)", questions[(i+j)%len(questions)], runID, i, j)
}

// splitmix64 scrambles x into a well-spread 64-bit value.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// ask sends message j and reads its answer. It reports whether the
// session can go on: an error frame ends the message but not the session.
func (r *runner) ask(c *wsclient.Client, user string, j int, content string) bool {
	id := "m" + strconv.Itoa(j)
	start := time.Now()
	if err := c.Message(content, id); err != nil {
		r.fail("send message", err.Error())
		return false
	}
	deadline := start.Add(r.o.Timeout)
	var first time.Duration
	for {
		f, err := c.Next(time.Until(deadline))
		if err != nil {
			r.waitFailed("an answer", err)
			return false
		}
		switch f.Type {
		case "response":
			if f.ReplyTo != id {
				r.errs.add("response to another message", string(f.Raw))
				continue
			}
			// Timed when the read loop had the frame, so that the wait for
			// this goroutine to run on a loaded client is not counted.
			if first == 0 {
				first = f.Received.Sub(start)
			}
			if f.Done {
				r.answered(f, first, f.Received.Sub(start))
				r.record(user, f)
				if f.FinishReason == "error" {
					// An answer cut after some text: the error frame
					// that says why follows (SPEC 8.1).
					return r.cutReason(c, id, deadline)
				}
				return true
			}
		case "error":
			r.errs.add("error "+f.Code, f.Message)
			return true
		case "pong":
		default:
			r.errs.add("unexpected "+f.Type+" frame", string(f.Raw))
		}
	}
}

// cutReason reads the error frame that follows an answer cut by a
// failure, so that the next message does not take it for its own.
func (r *runner) cutReason(c *wsclient.Client, id string, deadline time.Time) bool {
	for {
		f, err := c.Next(time.Until(deadline))
		if err != nil {
			r.waitFailed("the error after a cut answer", err)
			return false
		}
		switch {
		case f.Type == "error" && f.ReplyTo == id:
			r.errs.add("answer cut, then error "+f.Code, f.Message)
			return true
		case f.Type == "pong":
		default:
			r.errs.add("unexpected "+f.Type+" frame after a cut answer", string(f.Raw))
		}
	}
}

// answered records a done frame: a cached answer is one frame, so it has
// no separate first-token time. An answer cut by a failure is counted by
// the error that follows it.
func (r *runner) answered(f *wsclient.Frame, first, whole time.Duration) {
	r.answers.Add(1)
	if f.Cached {
		r.cachedN.Add(1)
		r.cached.add(whole)
	} else {
		r.firstToken.add(first)
		r.answer.add(whole)
	}
	if f.FinishReason != "stop" && f.FinishReason != "error" {
		r.errs.add("answer finished with "+strconv.Quote(f.FinishReason), "")
	}
}

// closeKind names a close for the error table: code and reason.
func closeKind(ce *wsclient.CloseError) string {
	if ce.Reason == "" {
		if ce.Code == 1006 {
			return "close 1006 (connection dropped)"
		}
		return "close " + strconv.Itoa(ce.Code)
	}
	return "close " + strconv.Itoa(ce.Code) + " " + ce.Reason
}

// dialErrorKind names a failed dial without the addresses and ports that
// would make every failure a kind of its own.
func dialErrorKind(err error, status int) string {
	var ne net.Error
	switch {
	case status != 0:
		return "dial: HTTP " + strconv.Itoa(status)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "dial: connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "dial: connection reset"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "dial: no free source port (EADDRNOTAVAIL): spread with --source-ips"
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "dial: too many open files"
	case errors.As(err, &ne) && ne.Timeout():
		return "dial: timeout"
	default:
		return "dial: other"
	}
}
