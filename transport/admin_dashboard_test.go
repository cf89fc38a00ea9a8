package transport

import (
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDashboardPolicyHashesInlineCode(t *testing.T) {
	for _, src := range []string{"script-src 'sha256-", "style-src 'sha256-"} {
		if !strings.Contains(dashboardPolicy, src) {
			t.Errorf("policy %q lacks %s", dashboardPolicy, src)
		}
	}
	if strings.Contains(string(dashboardPage), "http://") || strings.Contains(string(dashboardPage), "https://") {
		t.Error("the page refers to an external address")
	}
}

// TestDashboardInBrowser loads the page in headless Chromium and checks
// that its script filled in the figures from /stats and /readyz, under the
// page's Content-Security-Policy.
func TestDashboardInBrowser(t *testing.T) {
	browser := findChromium()
	if browser == "" {
		t.Skip("no chromium or chromium-browser on PATH; install Debian's chromium to run this test")
	}
	t.Run("no token", func(t *testing.T) {
		f := newAdminFixture(t, nil)
		f.connect(t, adminUser)
		dom := dumpDOM(t, browser, f.admin.URL+"/")
		_, body := f.get(t, "GET", "/stats", "")
		var st statsReport
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"users":                  strconv.FormatInt(st.Users, 10),
			"sessions-authenticated": strconv.FormatInt(st.Sessions.Authenticated, 10),
			"open-sockets":           strconv.FormatInt(st.Transport.OpenSockets, 10),
			"llm-in-flight":          "0",
			"ready":                  "ready",
			"build":                  "v1.2.3-test",
		}
		for id, v := range want {
			if got := textOf(dom, id); got != v {
				t.Errorf("#%s shows %q, want %q", id, got, v)
			}
		}
		if st.Users != 1 {
			t.Errorf("stats users %d, want 1", st.Users)
		}
		if !strings.Contains(dom, `id="actor-registry"`) || !strings.Contains(dom, "None so far.") {
			t.Errorf("actors or rejections not rendered:\n%s", dom)
		}
	})
	t.Run("token required", func(t *testing.T) {
		f := newAdminFixture(t, func(o *AdminOptions) { o.Token = "page-test-token" })
		dom := dumpDOM(t, browser, f.admin.URL+"/")
		if !regexp.MustCompile(`<div class="notice" id="auth">`).MatchString(dom) {
			t.Errorf("the token field is not shown:\n%s", dom)
		}
		if got := textOf(dom, "users"); got != "–" {
			t.Errorf("#users shows %q without a token", got)
		}
	})
}

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// dumpDOM loads url, lets the page's timers run for five seconds of
// virtual time (two polls) and returns the resulting DOM.
func dumpDOM(t *testing.T, browser, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-quic", "--no-first-run", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=5000", "--dump-dom", url)
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("chromium: %v\n%s", err, stderr)
	}
	return string(out)
}

// textOf returns the text of the element with id in dom, which must hold
// no other element.
func textOf(dom, id string) string {
	m := regexp.MustCompile(`<[a-z0-9]+[^>]*\bid="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)<`).FindStringSubmatch(dom)
	if m == nil {
		return ""
	}
	return strings.TrimSpace(m[1])
}
