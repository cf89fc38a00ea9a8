package main

import (
	"context"
	"fmt"
	"time"

	"github.com/wealthwarriors/wealthcoach/internal/loadtest"
)

// targetKind is what withTarget starts.
type targetKind int

const (
	kindAuthBaseline  targetKind = iota // baseline --mode auth
	kindRelayBaseline                   // baseline --mode relay, with a fake model
	kindServer                          // the real server, with a fake model
	// kindServerNoHistory is the real server without persisted
	// conversations, for the cached phase: a session that starts with the
	// memory of its user's earlier ones asks the model something else than
	// they did (the history is part of the cache key), so with persistence
	// its repeated question is rightly never a hit.
	kindServerNoHistory
	// kindServerNoPersist is the real server with neither persisted
	// conversations nor the audit trail: the persistence phase's
	// reference.
	kindServerNoPersist
)

// serverSettings are the environment settings a kind of server runs with
// besides the bench's own; the defaults have history.persist and
// audit.enabled on.
func (k targetKind) serverSettings() []string {
	switch k {
	case kindServerNoHistory:
		return []string{"WEALTHCOACH_HISTORY_PERSIST=false"}
	case kindServerNoPersist:
		return []string{"WEALTHCOACH_HISTORY_PERSIST=false", "WEALTHCOACH_AUDIT_ENABLED=false"}
	}
	return nil
}

// withTarget starts a fresh target (and its fake model), runs fn against
// it and stops both. A target that died under the load is an error.
func (b *bench) withTarget(ctx context.Context, name string, kind targetKind, fn func(*target) error) error {
	var model *fakeModel
	if kind != kindAuthBaseline {
		var err error
		if model, err = b.startFakeModel(ctx, name+"-model"); err != nil {
			return err
		}
		defer b.procs.stop(model.proc)
	}
	var t *target
	var err error
	switch kind {
	case kindAuthBaseline:
		t, err = b.startBaseline(ctx, name, "auth", nil)
	case kindRelayBaseline:
		t, err = b.startBaseline(ctx, name, "relay", model)
	default:
		t, err = b.startServer(ctx, name, model, kind.serverSettings()...)
	}
	if err != nil {
		return err
	}
	defer b.procs.stop(t.proc)
	if err := fn(t); err != nil {
		return err
	}
	if t.proc.Exited() {
		return fmt.Errorf("%s: %w under load (log: %s)", name, errExited, b.log(name))
	}
	return nil
}

// sides is the order of the sides in run i (from 1): they alternate, so
// that a drift of the machine over the bench favours neither.
func sides(run int) []side {
	if run%2 == 1 {
		return []side{sideBaseline, sideServer}
	}
	return []side{sideServer, sideBaseline}
}

// runPhases runs every chosen phase o.Repeat times, then the capacity
// phase once.
func (b *bench) runPhases(ctx context.Context, m *measurements) error {
	phases := []struct {
		name string
		run  func(context.Context, int, *measurements) error
	}{
		{phaseConnect, b.connectPhase},
		{phaseStream, b.streamPhase},
		{phasePersist, b.persistPhase},
		{phaseCached, b.cachedPhase},
		{phaseResume, b.resumePhase},
	}
	for _, p := range phases {
		if !b.o.runs(p.name) {
			continue
		}
		for i := 1; i <= b.o.Repeat; i++ {
			b.logf("%s phase, run %d of %d", p.name, i, b.o.Repeat)
			if err := p.run(ctx, i, m); err != nil {
				return fmt.Errorf("%s phase: %w", p.name, err)
			}
		}
	}
	if b.o.runs(phaseCapacity) {
		b.logf("capacity phase: %d sessions", b.o.CapacitySessions)
		if err := b.capacityPhase(ctx, m); err != nil {
			return fmt.Errorf("capacity phase: %w", err)
		}
	}
	return nil
}

// connectPhase connects idle sessions to the auth baseline and to the
// server, twice each, every time to a fresh process: once as fast as the
// handshake bound allows, for the rate and the CPU per handshake, and once
// paced, for the memory per idle session. Under a burst the load tool
// takes the other core and the garbage collector falls behind, so the
// memory a burst leaves says more about the contention than the server.
func (b *bench) connectPhase(ctx context.Context, run int, m *measurements) error {
	for _, s := range sides(run) {
		kind := kindServer
		if s == sideBaseline {
			kind = kindAuthBaseline
		}
		burst, err := b.connectIdle(ctx, fmt.Sprintf("connect%d-%s", run, s), kind, b.o.IdleSessions, b.o.ConnectRamp, false)
		if err != nil {
			return err
		}
		paced, err := b.connectIdle(ctx, fmt.Sprintf("memory%d-%s", run, s), kind, b.o.MemorySessions, b.o.MemoryRamp, true)
		if err != nil {
			return err
		}
		m.add(s, figConnectRate, burst.HandshakeRate)
		m.add(s, figCPUPerHandshake, serverOf(burst).CPUPerHandshake.Float())
		m.add(s, figLoadCores, loadCores(burst))
		m.add(s, figRSSPerSessionBurst, serverOf(burst).RSSPerSession/1024)
		m.add(s, figRSSPerSession, serverOf(paced).RSSPerSession/1024)
		m.add(s, figConnectErrors, float64(burst.ErrorCount+paced.ErrorCount))
	}
	return nil
}

// loadCores is the load tool's CPU time over its connect phase, in cores:
// the tool's CPU outside that phase (start-up, idle sessions, closing) is
// small next to thousands of handshakes, so this slightly overstates it.
func loadCores(r *loadtest.Report) float64 {
	if r.ConnectPhase <= 0 {
		return 0
	}
	return float64(r.ClientCPU) / float64(r.ConnectPhase)
}

// connectIdle connects the idle sessions to a fresh target. With free,
// the target collects its garbage and returns free memory to the system
// before each resident-memory sample, so that the figure is the memory the
// sessions hold rather than how far the collector had got (the burst run
// keeps that, on purpose).
func (b *bench) connectIdle(ctx context.Context, name string, kind targetKind, sessions int, ramp time.Duration, free bool) (*loadtest.Report, error) {
	var rep *loadtest.Report
	err := b.withTarget(ctx, name, kind, func(t *target) error {
		spec := loadSpec{Name: name + "-load", URL: t.url, Sessions: sessions, Ramp: ramp, ServerPID: t.proc.Pid(),
			SourceIPs: sourceIPs(sessions)}
		if free {
			spec.FreeURL = t.freeURL
		}
		var err error
		rep, err = b.loadtest(ctx, spec)
		return err
	})
	if err != nil {
		return nil, err
	}
	u := serverOf(rep)
	b.logf("  %-22s %d/%d connected in %.2fs, %.0f handshakes/s, %.2f ms CPU per handshake, %.1f KiB per idle session, load tool %.2f cores, %s",
		name, rep.Connected, rep.Sessions, time.Duration(rep.ConnectPhase).Seconds(), rep.HandshakeRate, u.CPUPerHandshake.Float(), u.RSSPerSession/1024, loadCores(rep), errorSummary(rep))
	return rep, nil
}

// streamPhase streams fresh answers through the relay baseline and
// through the server, and records time to first token.
func (b *bench) streamPhase(ctx context.Context, run int, m *measurements) error {
	for _, s := range sides(run) {
		kind := kindServer
		if s == sideBaseline {
			kind = kindRelayBaseline
		}
		rep, err := b.streamRun(ctx, fmt.Sprintf("stream%d-%s", run, s), kind)
		if err != nil {
			return err
		}
		ft := rep.Metric(loadtest.MetricFirstToken)
		m.add(s, figTTFTP50, ft.P50.Float())
		m.add(s, figTTFTP99, ft.P99.Float())
		m.add(s, figCPUPerAnswer, serverOf(rep).CPUPerAnswer.Float())
		m.add(s, figStreamErrors, float64(rep.ErrorCount))
	}
	return nil
}

// persistPhase runs the streaming phase's load against the server with
// history.persist and audit.enabled on (the server side) and with both off
// (the baseline side), and records what persistence costs in time to
// first token.
func (b *bench) persistPhase(ctx context.Context, run int, m *measurements) error {
	for _, s := range sides(run) {
		kind, label := kindServer, "on"
		if s == sideBaseline {
			kind, label = kindServerNoPersist, "off"
		}
		rep, err := b.streamRun(ctx, fmt.Sprintf("persist%d-%s", run, label), kind)
		if err != nil {
			return err
		}
		ft := rep.Metric(loadtest.MetricFirstToken)
		m.add(s, figPersistTTFTP50, ft.P50.Float())
		m.add(s, figPersistTTFTP99, ft.P99.Float())
		m.add(s, figPersistErrors, float64(rep.ErrorCount))
	}
	return nil
}

// streamRun streams the streaming phase's fresh answers through a fresh
// target of the given kind.
func (b *bench) streamRun(ctx context.Context, name string, kind targetKind) (*loadtest.Report, error) {
	var rep *loadtest.Report
	err := b.withTarget(ctx, name, kind, func(t *target) error {
		var err error
		rep, err = b.loadtest(ctx, loadSpec{Name: name + "-load", URL: t.url, Sessions: b.o.StreamSessions,
			Messages: b.o.StreamMessages, Think: b.o.Think, Ramp: b.o.ChatRamp, ServerPID: t.proc.Pid()})
		return err
	})
	if err != nil {
		return nil, err
	}
	ft := rep.Metric(loadtest.MetricFirstToken)
	b.logf("  %-16s %d answers (%d cached), TTFT p50 %.1f ms p99 %.1f ms, %s",
		name, rep.Answers, rep.Cached, ft.P50.Float(), ft.P99.Float(), errorSummary(rep))
	return rep, nil
}

// cachedPhase fills the server's cache with one answer per user, then
// asks again from fresh sessions and records the cached answers' latency.
func (b *bench) cachedPhase(ctx context.Context, run int, m *measurements) error {
	name := fmt.Sprintf("cached%d-server", run)
	return b.withTarget(ctx, name, kindServerNoHistory, func(t *target) error {
		spec := loadSpec{URL: t.url, Sessions: b.o.CachedSessions, Messages: 1, Repeat: 1, Ramp: b.o.ChatRamp}
		spec.Name = name + "-warmup"
		warm, err := b.loadtest(ctx, spec)
		if err != nil {
			return err
		}
		b.logf("  warm-up  %d answers (%d cached), %s", warm.Answers, warm.Cached, errorSummary(warm))
		spec.Name, spec.ServerPID = name+"-load", t.proc.Pid()
		rep, err := b.loadtest(ctx, spec)
		if err != nil {
			return err
		}
		c := rep.Metric(loadtest.MetricCached)
		m.add(sideServer, figCachedP50, c.P50.Float())
		m.add(sideServer, figCachedP99, c.P99.Float())
		m.add(sideServer, figNotCached, float64(int64(b.o.CachedSessions)-rep.Cached))
		m.add(sideServer, figCachedErrors, float64(warm.ErrorCount+rep.ErrorCount))
		b.logf("  measured %d answers (%d cached), cached p50 %.2f ms p99 %.2f ms, %s",
			rep.Answers, rep.Cached, c.P50.Float(), c.P99.Float(), errorSummary(rep))
		return nil
	})
}

// capacityPhase holds CapacitySessions authenticated sessions at once,
// each sending one message, and records whether any failed. Every session
// holds its connection until the run's cap, so that all are connected
// while the last answers stream; the cap ends holds without an error.
func (b *bench) capacityPhase(ctx context.Context, m *measurements) error {
	const name = "capacity-server"
	spec := capacitySpec(b.o, name+"-load")
	return b.withTarget(ctx, name, kindServer, func(t *target) error {
		spec.URL, spec.ServerPID = t.url, t.proc.Pid()
		rep, err := b.loadtest(ctx, spec)
		if err != nil {
			return err
		}
		ft := rep.Metric(loadtest.MetricFirstToken)
		m.add(sideServer, figCapConnected, float64(rep.Connected))
		m.add(sideServer, figCapAnswers, float64(rep.Answers))
		m.add(sideServer, figCapErrors, float64(rep.ErrorCount))
		m.add(sideServer, figCapTTFTP50, ft.P50.Float())
		m.add(sideServer, figCapTTFTP99, ft.P99.Float())
		m.add(sideServer, figCapRSS, serverOf(rep).RSSPerSession/1024)
		b.logf("  server   %d/%d connected, %d answers, TTFT p50 %.1f ms p99 %.1f ms, %s",
			rep.Connected, rep.Sessions, rep.Answers, ft.P50.Float(), ft.P99.Float(), errorSummary(rep))
		return nil
	})
}

// capacitySpec is the capacity phase's load, without its target. The
// sessions come from several loopback source addresses, so that none runs
// out of ephemeral ports (see sessionsPerSourceIP).
func capacitySpec(o options, name string) loadSpec {
	ramp := o.CapacityRamp
	return loadSpec{
		Name: name, Sessions: o.CapacitySessions, Messages: 1, Ramp: ramp,
		SourceIPs: sourceIPs(o.CapacitySessions),
		Hold:      ramp + o.Timeout + 10*time.Second,
		Duration:  2*ramp + o.Timeout + 5*time.Second,
	}
}
