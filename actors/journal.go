package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/wealthwarriors/wealthcoach/store"
)

// The journal writer is one actor per node. Sessions hand it each exchange
// that entered memory; it appends them to the store in batches, never on a
// chat message's path, retries through a store outage with backoff, and
// keeps at most JournalQueue exchanges waiting, dropping the oldest (counted)
// past that. Node.FlushJournal waits for the queue to empty, at shutdown.
// With Options.Audit each entry also carries the answer's audit record
// (SPEC 8.5), written in the same write; an answer cut after text is
// queued for its record alone, as it never enters memory.

// journalAppend is one answer for the store: the question and the answer
// (none when it did not enter memory), and its audit record (nil when the
// trail is off). The queue counts these entries.
type journalAppend struct {
	msgs  []store.Message
	audit *store.AuditRecord
}

// journalTick starts a write when none is under way.
type journalTick struct{}

// journalWritten reports a write of n exchanges.
type journalWritten struct {
	batch []*journalAppend
	rows  int           // messages and audit records written
	took  time.Duration // the write, both stores
	err   error
}

// journalDrain asks to be told, by closing done, once nothing waits.
type journalDrain struct{ done chan struct{} }

const (
	journalBatch      = 500 // exchanges per write at most
	journalMinBackoff = 200 * time.Millisecond
	journalMaxBackoff = 5 * time.Second
	journalTimeout    = 5 * time.Second // one write
)

type journalWriter struct {
	node    *Node
	queue   []*journalAppend // answers waiting, oldest first
	writing bool
	timer   *time.Timer // a tick is pending when armed
	armed   bool
	backoff time.Duration
	drains  []chan struct{}
}

func newJournalWriter(n *Node) *journalWriter { return &journalWriter{node: n} }

func (w *journalWriter) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *journalAppend:
		w.push(m)
		w.arm(c, w.node.opts.JournalFlushInterval)
	case *journalTick:
		w.armed = false
		w.write(c)
	case *journalWritten:
		w.written(c, m)
	case *journalDrain:
		if len(w.queue) == 0 && !w.writing {
			close(m.done)
			return
		}
		w.drains = append(w.drains, m.done)
		if !w.writing && w.backoff == 0 {
			w.arm(c, 0)
		}
	case *actor.Stopping:
		if w.timer != nil {
			w.timer.Stop()
		}
	}
}

// push queues exchanges, dropping the oldest past the queue's bound.
func (w *journalWriter) push(exchanges ...*journalAppend) {
	w.queue = append(w.queue, exchanges...)
	if extra := len(w.queue) - w.node.opts.JournalQueue; extra > 0 {
		w.queue = append(w.queue[:0], w.queue[extra:]...)
		w.node.stats.HistoryDropped.Add(int64(extra))
		w.node.warnEvery("journal", "conversation queue full: oldest exchanges dropped",
			slog.Int("dropped", extra), slog.Int("queue", w.node.opts.JournalQueue))
	}
	w.node.stats.HistoryQueued.Store(int64(len(w.queue)))
}

// arm schedules a tick in d unless one is pending or a write runs (its end
// schedules the next).
func (w *journalWriter) arm(c actor.Context, d time.Duration) {
	if w.armed || w.writing {
		return
	}
	w.armed = true
	root, self := c.ActorSystem().Root, c.Self()
	if w.timer == nil {
		w.timer = time.AfterFunc(d, func() { root.Send(self, &journalTick{}) })
		return
	}
	w.timer.Reset(d)
}

func (w *journalWriter) write(c actor.Context) {
	if w.writing || len(w.queue) == 0 {
		return
	}
	k := min(len(w.queue), journalBatch)
	batch := make([]*journalAppend, k)
	copy(batch, w.queue[:k])
	w.queue = append(w.queue[:0], w.queue[k:]...)
	w.node.stats.HistoryQueued.Store(int64(len(w.queue)))
	w.writing = true
	var msgs []store.Message
	var recs []store.AuditRecord
	for _, ex := range batch {
		msgs = append(msgs, ex.msgs...)
		if ex.audit != nil {
			recs = append(recs, *ex.audit)
		}
	}
	root, self, journal, audit := c.ActorSystem().Root, c.Self(), w.node.opts.Journal, w.node.opts.Audit
	w.node.io.Go(func() {
		ctx, cancel := context.WithTimeout(w.node.ctx, journalTimeout)
		defer cancel()
		// Both in one write: a retry after either fails repeats both, and
		// each store skips what an earlier attempt already stored.
		start := time.Now()
		var err error
		if journal != nil && len(msgs) > 0 {
			err = journal.AppendMessages(ctx, msgs)
		}
		if err == nil && audit != nil && len(recs) > 0 {
			err = audit.AppendAudit(ctx, recs)
		}
		root.Send(self, &journalWritten{batch: batch, rows: len(msgs) + len(recs), took: time.Since(start), err: err})
	})
}

func (w *journalWriter) written(c actor.Context, m *journalWritten) {
	w.writing = false
	st := w.node.stats
	if m.err != nil {
		st.HistoryErrors.Add(1)
		w.node.warnEvery("journal", "conversation store unavailable; will retry", slog.String("error", m.err.Error()))
		// Put the batch back in front: it is older than what came since.
		w.queue = append(m.batch, w.queue...)
		w.push()
		w.backoff = min(max(2*w.backoff, journalMinBackoff), journalMaxBackoff)
		w.arm(c, w.backoff)
		return
	}
	w.backoff = 0
	st.HistoryWritten.Add(int64(len(m.batch)))
	st.HistoryBatches.Add(1)
	st.HistoryRows.Add(int64(m.rows))
	st.HistoryBatchSize.Observe(uint64(len(m.batch)))
	st.HistoryWriteTime.ObserveDuration(m.took)
	if len(w.queue) > 0 {
		w.arm(c, 0)
		return
	}
	for _, d := range w.drains {
		close(d)
	}
	w.drains = nil
}

// FlushJournal waits until every exchange handed to the journal writer is
// stored, or ctx ends.
func (n *Node) FlushJournal(ctx context.Context) error {
	if n.journal == nil {
		return nil
	}
	done := make(chan struct{})
	n.root.Send(n.journal, &journalDrain{done: done})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
