package transport

import (
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wealthwarriors/wealthcoach/actors"
	"github.com/wealthwarriors/wealthcoach/cluster"
	"github.com/wealthwarriors/wealthcoach/internal/testutil"
	"github.com/wealthwarriors/wealthcoach/store/memory"
	"github.com/wealthwarriors/wealthcoach/transport/llm"
	"github.com/wealthwarriors/wealthcoach/transport/wsclient"
)

func ptr(v float64) *float64 { return &v }

// TestHistorySamples feeds the ring scripted counter readings and checks
// each sample against the counters' changes over its interval.
func TestHistorySamples(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	// ttftAt is a cumulative TTFT reading with n values at each of the
	// given microsecond values, in addition to base.
	ttftAt := func(base []uint64, us uint64, n uint64) []uint64 {
		out := make([]uint64, len(ttftHistoryBounds))
		for i, b := range ttftHistoryBounds {
			if base != nil {
				out[i] = base[i]
			}
			if us <= b || i == len(out)-1 {
				out[i] += n
			}
		}
		return out
	}
	slow := ttftAt(nil, 2_000_000, 1000) // 1000 answers at 2 s before the interval
	tests := []struct {
		name      string
		prev, cur historyReading
		want      historySample
	}{
		{
			name: "rates from counter deltas",
			prev: historyReading{at: t0, answers: 10, errors: 4, rejections: 3, sessions: 7},
			cur:  historyReading{at: t0.Add(2 * time.Second), answers: 14, errors: 5, rejections: 3, sessions: 9},
			want: historySample{Time: 1_700_000_002, Sessions: 9, AnswersPerSecond: 2, ErrorsPerSecond: 0.5},
		},
		{
			name: "rates over the time the interval took",
			prev: historyReading{at: t0, answers: 0},
			cur:  historyReading{at: t0.Add(3 * time.Second), answers: 2},
			want: historySample{Time: 1_700_000_003, AnswersPerSecond: 0.667},
		},
		{
			name: "cache ratio of the interval's look-ups only",
			prev: historyReading{at: t0, cacheHits: 100, cacheMiss: 100},
			cur:  historyReading{at: t0.Add(time.Second), cacheHits: 103, cacheMiss: 101},
			want: historySample{Time: 1_700_000_001, CacheHitRatio: ptr(0.75)},
		},
		{
			name: "no look-up and no answer are null, not zero",
			prev: historyReading{at: t0, cacheHits: 5, cacheMiss: 5, ttft: slow},
			cur:  historyReading{at: t0.Add(time.Second), cacheHits: 5, cacheMiss: 5, ttft: slow},
			want: historySample{Time: 1_700_000_001},
		},
		{
			name: "ttft p99 of the interval's answers, not of all time",
			prev: historyReading{at: t0, ttft: slow},
			cur:  historyReading{at: t0.Add(time.Second), ttft: ttftAt(slow, 10_000, 50)},
			// 10 ms falls in the histogram's bucket ending at 10.24 ms.
			want: historySample{Time: 1_700_000_001, TTFTP99MS: ptr(10.24)},
		},
		{
			name: "ttft past the last bound counts at the last bound",
			prev: historyReading{at: t0, ttft: ttftAt(nil, 0, 0)},
			cur:  historyReading{at: t0.Add(time.Second), ttft: ttftAt(nil, math.MaxUint64, 3)},
			want: historySample{Time: 1_700_000_001, TTFTP99MS: ptr(float64(ttftHistoryBounds[len(ttftHistoryBounds)-1]) / 1000)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := json.Marshal(sampleBetween(tt.prev, tt.cur))
			want, _ := json.Marshal(tt.want)
			if string(got) != string(want) {
				t.Errorf("sample\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestHistoryRingBounded ticks a ring of three samples five times and
// checks it keeps the newest three, oldest first.
func TestHistoryRingBounded(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	answers := int64(0)
	h := newHistory(historyWindow/3, func(now time.Time) historyReading {
		return historyReading{at: now, answers: answers}
	})
	h.last.at = t0
	for i := 1; i <= 5; i++ {
		answers += int64(i) // i answers over second i: i per second
		h.tick(t0.Add(time.Duration(i) * time.Second))
	}
	got := h.samples()
	if len(got) != 3 {
		t.Fatalf("%d samples, want 3: %+v", len(got), got)
	}
	for i, s := range got {
		if want := float64(1_700_000_003 + i); s.Time != want {
			t.Errorf("sample %d at %v, want %v", i, s.Time, want)
		}
		if want := float64(3 + i); s.AnswersPerSecond != want {
			t.Errorf("sample %d: %v answers/s, want %v", i, s.AnswersPerSecond, want)
		}
	}
}

// TestHistoryEndpoint runs the sampler with a short interval behind a
// token and checks /stats/history fills, stays behind the token, and that
// the sampler stops with its Context and with a handler dropped without
// one.
func TestHistoryEndpoint(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newAdminFixture(t, func(o *AdminOptions) {
		o.Token, o.HistoryInterval, o.Context = "history-token", 20*time.Millisecond, ctx
	})
	if resp, _ := f.get(t, "GET", "/stats/history", ""); resp.StatusCode != 401 {
		t.Errorf("without the token: %d, want 401", resp.StatusCode)
	}
	f.connect(t, adminUser)
	var rep historyReport
	testutil.WaitFor(t, 10*time.Second, "three samples with the session", func() bool {
		resp, body := f.get(t, "GET", "/stats/history", "Bearer history-token")
		if resp.StatusCode != 200 {
			t.Fatalf("/stats/history: %d %s", resp.StatusCode, body)
		}
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatal(err)
		}
		n := len(rep.Samples)
		return n >= 3 && rep.Samples[n-1].Sessions == 1
	})
	if rep.IntervalSeconds != 0.02 || rep.WindowSeconds != 900 {
		t.Errorf("interval %v s, window %v s", rep.IntervalSeconds, rep.WindowSeconds)
	}
	for i := 1; i < len(rep.Samples); i++ {
		if rep.Samples[i].Time <= rep.Samples[i-1].Time {
			t.Errorf("samples out of order at %d: %v then %v", i, rep.Samples[i-1].Time, rep.Samples[i].Time)
		}
	}

	t.Run("stops with its context", func(t *testing.T) {
		h := NewAdmin(AdminOptions{Node: f.node, HistoryInterval: time.Millisecond, Context: ctx})
		done := h.(*adminHandler).history.done
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("the sampler still runs after its Context ended")
		}
	})
	t.Run("stops with a dropped handler", func(t *testing.T) {
		done := NewAdmin(AdminOptions{Node: f.node, HistoryInterval: time.Millisecond}).(*adminHandler).history.done
		testutil.WaitFor(t, 10*time.Second, "the sampler of an unreferenced handler to stop", func() bool {
			runtime.GC()
			select {
			case <-done:
				return true
			default:
				return false
			}
		})
	})
}

// fixedFleet is a fleet whose view does not change.
type fixedFleet struct{ v cluster.View }

func (f fixedFleet) Report() cluster.View                        { return f.v }
func (fixedFleet) Revoke(context.Context, string) (int64, error) { return 1, nil }

// TestHistoryChartsInBrowser makes samples out of real traffic (fresh and
// cached answers from the demo model, a refused token), loads the
// dashboard in headless Chromium and checks each chart drew one point per
// sample with a figure and shows the last sample's value, and that the
// fleet section shows the cluster.
func TestHistoryChartsInBrowser(t *testing.T) {
	browser := findChromium()
	if browser == "" {
		t.Skip("no chromium or chromium-browser on PATH; install Debian's chromium to run this test")
	}
	node, err := actors.NewNode(actors.Options{Verifier: adminVerifier{}, Accounts: adminAccounts{},
		Chat: actors.ChatOptions{Model: llm.NewDemo(llm.DemoOptions{TokenDelay: -1, FirstTokenDelay: -1}),
			Cache: memory.NewCache(0), RatePerMinute: 600, Burst: 50}})
	if err != nil {
		t.Fatal(err)
	}
	ws := NewServer(node, Options{})
	chat := httptest.NewServer(ws)
	seen := time.Now().UTC().Truncate(time.Second)
	fleet := fixedFleet{cluster.View{Enabled: true, NodeID: "node-a", Degraded: true, Sessions: 5, Users: 4,
		Nodes: []cluster.NodeView{{NodeID: "node-a", Sessions: 1, LastSeen: seen}, {NodeID: "node-b", Sessions: 4, LastSeen: seen}}}}
	// An interval of a minute, longer than the test takes: the test takes
	// the samples itself, so that the ring cannot change between the
	// page's read and the test's.
	handler := NewAdmin(AdminOptions{Node: node, WS: ws, Fleet: fleet, HistoryInterval: time.Minute})
	admin := httptest.NewServer(handler)
	t.Cleanup(func() {
		admin.Close()
		ws.StopAccepting()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = node.CloseAll(ctx)
		chat.Close()
		ws.Close()
		node.Stop()
	})
	hist := handler.(*adminHandler).history
	url := "ws" + strings.TrimPrefix(chat.URL, "http") + "/ws/chat"
	c := dialAuthenticated(t, url, "user:"+adminUser)

	hist.tick(time.Now()) // idle: no answer, no look-up
	ask(t, c, "How do I start an emergency fund?", "m1")
	hist.tick(time.Now()) // a fresh answer
	ask(t, c, "How do I start an emergency fund?", "m2")
	ask(t, c, "Should I pay off debt or invest?", "m3")
	refused := dialAuthenticated(t, url, "not-a-token")
	_, _ = refused.Closed(5 * time.Second)
	hist.tick(time.Now()) // a cached and a fresh answer, and a rejection

	dom := dumpDOM(t, browser, admin.URL+"/")
	resp, err := admin.Client().Get(admin.URL + "/stats/history")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep historyReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Samples) != 3 {
		t.Fatalf("%d samples, want 3: %+v", len(rep.Samples), rep.Samples)
	}
	last := rep.Samples[2]
	if last.AnswersPerSecond == 0 || last.TTFTP99MS == nil || last.CacheHitRatio == nil || last.RejectionsPerSecond == 0 {
		t.Fatalf("the last sample missed the traffic: %+v", last)
	}
	charts := []struct {
		id    string
		value func(historySample) *float64
	}{
		{"sessions", func(s historySample) *float64 { return ptr(float64(s.Sessions)) }},
		{"answers", func(s historySample) *float64 { return ptr(s.AnswersPerSecond) }},
		{"ttft", func(s historySample) *float64 { return s.TTFTP99MS }},
		{"cache", func(s historySample) *float64 {
			if s.CacheHitRatio == nil {
				return nil
			}
			return ptr(math.Round(*s.CacheHitRatio*1000) / 10)
		}},
		{"errors", func(s historySample) *float64 { return ptr(s.ErrorsPerSecond + s.RejectionsPerSecond) }},
	}
	for _, ch := range charts {
		points := 0
		for _, s := range rep.Samples {
			if ch.value(s) != nil {
				points++
			}
		}
		d := attrOf(dom, "chart-"+ch.id+"-line", "d")
		if got := len(regexp.MustCompile(`[ML]-?[0-9.]+ -?[0-9.]+`).FindAllString(d, -1)); got != points || points == 0 {
			t.Errorf("chart %s: path %q has %d points, want %d (one per sample with a figure)", ch.id, d, got, points)
		}
		want := strconv.FormatFloat(math.Round(*ch.value(last)*1000)/1000, 'f', -1, 64)
		if got := textOf(dom, "chart-"+ch.id+"-value"); got != want {
			t.Errorf("chart %s shows %q, want the last sample's %q", ch.id, got, want)
		}
	}
	for id, want := range map[string]string{"cluster-node": "node-a", "cluster-nodes": "2", "cluster-sessions": "5",
		"cluster-users": "4", "cluster-degraded": "yes, limits per node"} {
		if got := textOf(dom, id); got != want {
			t.Errorf("#%s shows %q, want %q", id, got, want)
		}
	}
	for _, row := range []string{`<tr id="cluster-node-node-a"><td>node-a (this)</td><td>1</td>`,
		`<tr id="cluster-node-node-b"><td>node-b</td><td>4</td>`} {
		if !strings.Contains(dom, row) {
			t.Errorf("the nodes table lacks %s", row)
		}
	}
	if strings.Contains(dom, `id="cluster" hidden`) {
		t.Error("the fleet section is hidden although /stats has a cluster")
	}
}

// dialAuthenticated opens a chat socket and sends token in authenticate;
// for a valid token it waits for connected.
func dialAuthenticated(t *testing.T, url, token string) *wsclient.Client {
	t.Helper()
	c, _, err := wsclient.Dial(url, wsclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseWithoutFrame() })
	if err := c.Authenticate(token); err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(token, "user:") {
		fr, err := c.Next(5 * time.Second)
		if err != nil || fr.Type != "connected" {
			t.Fatalf("want connected, got %v %v", fr, err)
		}
	}
	return c
}

// ask sends a chat message and reads its answer to the end.
func ask(t *testing.T, c *wsclient.Client, text, id string) {
	t.Helper()
	if err := c.Message(text, id); err != nil {
		t.Fatal(err)
	}
	for {
		fr, err := c.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("answer to %s: %v", id, err)
		}
		if fr.Type == "error" {
			t.Fatalf("answer to %s: error %s %s", id, fr.Code, fr.Message)
		}
		if fr.Type == "response" && fr.Done {
			return
		}
	}
}

// attrOf returns attribute attr of the element with id in dom.
func attrOf(dom, id, attr string) string {
	tag := regexp.MustCompile(`<[a-z]+[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(dom)
	m := regexp.MustCompile(`\b` + attr + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		return ""
	}
	return m[1]
}
