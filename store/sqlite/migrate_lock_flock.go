//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/pressly/goose/v3/lock"
)

// The lock is polled so that waiting honours the context, which a blocking
// flock cannot; the bound matches goose's PostgreSQL locker.
const (
	lockPoll    = 10 * time.Millisecond
	lockTimeout = 5 * time.Minute
)

// flockLocker is goose's session locker for SQLite, which goose does not
// ship: an exclusive flock on a file beside the database. SQLite's write
// lock alone does not serialise migrators, because goose lists the pending
// versions before it begins the transaction that applies one, so two
// starters would both apply 0001. The kernel drops a flock when its
// descriptor closes, the holder's death included, so a crash never leaves
// the database locked. Separate opens of the file conflict even within one
// process, so stores in one process take turns too.
type flockLocker struct {
	path string
	mu   sync.Mutex
	held *os.File // the locked file, between SessionLock and SessionUnlock
}

func migrationLocker(dbPath string) lock.SessionLocker {
	p := lockPath(dbPath)
	if p == "" {
		return nil
	}
	return &flockLocker{path: p}
}

// SessionLock waits for the lock. goose holds it over one connection, but
// the lock belongs to the file, so the connection is not used.
func (l *flockLocker) SessionLock(ctx context.Context, _ *sql.Conn) error {
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open migration lock: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, lockTimeout)
	defer cancel()
	tick := time.NewTicker(lockPoll)
	defer tick.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return fmt.Errorf("lock %s: %w", l.path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return fmt.Errorf("lock %s: %w", l.path, ctx.Err())
		case <-tick.C:
		}
	}
	l.mu.Lock()
	l.held = f
	l.mu.Unlock()
	return nil
}

// SessionUnlock releases the lock by closing its descriptor. The file
// stays: removing it would let a waiter lock a file a newcomer no longer
// sees.
func (l *flockLocker) SessionUnlock(context.Context, *sql.Conn) error {
	l.mu.Lock()
	f := l.held
	l.held = nil
	l.mu.Unlock()
	if f == nil {
		return nil
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("unlock %s: %w", l.path, err)
	}
	return nil
}
