package actors

import (
	"context"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is one user's limit on model calls: a token bucket where a chat
// message that goes to the model spends one token. Each model actor holds
// its user's Limiter, made by Node.newLimiter when the actor starts.
//
// Where it is called, and why: the model actor calls Allow inside Receive,
// so an implementation must answer from memory and never block. The local
// bucket (localLimiter) does. A fleet-wide limiter (a key in Redis, checked
// with go-redis/redis_rate) does I/O and must not be called there: it will
// be called from the goroutine that ask starts for the model call, which
// the actor already counts in flight. On a denial that goroutine sends
// modelRejected to the session and ends (sending modelFinished as every
// call does), so the actor never waits on the network and the two kinds of
// limiter can stand in for each other with only the call site moved.
//
// The methods take no user: a Limiter is bound to its user when it is made
// (a local bucket is the user's own; a fleet one holds its key).
type Limiter interface {
	// Allow spends one token at now when the bucket holds one. When it
	// does not, it spends nothing and retryAfter is how long until it will.
	// err means the limit could not be read (a remote store's failure);
	// the call is then let through, since an outage of the limiter must not
	// stop every chat and each call stays bounded by the model timeout.
	Allow(ctx context.Context, now time.Time) (ok bool, retryAfter time.Duration, err error)
	// FullIn is how long until the bucket is full again. The model actor
	// outlives its user's sessions that long, so that reconnecting does not
	// reset a local limit; a limiter whose state outlives the actor (Redis)
	// returns 0.
	FullIn(now time.Time) time.Duration
}

// localLimiter is a user's bucket in this process's memory: about 80 bytes,
// freed with the model actor. It is a rate.Limiter under another name so
// that one allocation holds it.
type localLimiter rate.Limiter

var _ Limiter = (*localLimiter)(nil)

// newLocalLimiter returns a full bucket of burst tokens that refills at
// perMinute tokens a minute.
func newLocalLimiter(perMinute float64, burst int) *localLimiter {
	return (*localLimiter)(rate.NewLimiter(rate.Limit(perMinute/60), burst))
}

func (l *localLimiter) bucket() *rate.Limiter { return (*rate.Limiter)(l) }

// Allow implements Limiter. A denied AllowN leaves the bucket as it was.
func (l *localLimiter) Allow(_ context.Context, now time.Time) (bool, time.Duration, error) {
	b := l.bucket()
	if b.AllowN(now, 1) {
		return true, 0, nil
	}
	return false, l.until(1, now), nil
}

// FullIn implements Limiter.
func (l *localLimiter) FullIn(now time.Time) time.Duration {
	return l.until(float64(l.bucket().Burst()), now)
}

// until is how long until the bucket holds level tokens, 0 if it does.
func (l *localLimiter) until(level float64, now time.Time) time.Duration {
	b := l.bucket()
	missing := level - b.TokensAt(now)
	if missing <= 0 {
		return 0
	}
	return time.Duration(missing / float64(b.Limit()) * float64(time.Second))
}
