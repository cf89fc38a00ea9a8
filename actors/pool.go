package actors

import "sync"

// workerPool runs short functions on long-lived goroutines. A fresh
// goroutine per job costs its creation and, once the job's call chain is
// deep (SQL drivers, JWT parsing, JSON), a stack copy as it grows; a
// worker's stack stays grown. Go never blocks: when every worker is busy
// and the queue is full, the job gets a goroutine of its own.
type workerPool struct {
	jobs chan func()
	stop chan struct{}
	wg   sync.WaitGroup
}

func newWorkerPool(workers, queue int) *workerPool {
	p := &workerPool{jobs: make(chan func(), queue), stop: make(chan struct{})}
	p.wg.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

func (p *workerPool) work() {
	defer p.wg.Done()
	for {
		select {
		case fn := <-p.jobs:
			fn()
		case <-p.stop:
			return
		}
	}
}

// Go runs fn on a worker, or on a new goroutine when none is free soon.
func (p *workerPool) Go(fn func()) {
	select {
	case p.jobs <- fn:
	default:
		go fn()
	}
}

// Close stops the workers once they finish their current job. Jobs still
// queued are dropped: call it when nothing needs them.
func (p *workerPool) Close() {
	close(p.stop)
	p.wg.Wait()
}

// poolDispatcher runs actor mailboxes on a worker pool instead of a new
// goroutine per scheduling, which protoactor does by default. Receive
// never blocks on I/O here, so a handful of workers per core keep up.
type poolDispatcher struct {
	pool       *workerPool
	throughput int
}

func (d poolDispatcher) Schedule(fn func()) { d.pool.Go(fn) }
func (d poolDispatcher) Throughput() int    { return d.throughput }
