package transport

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"net/http"
)

//go:embed dashboard/dashboard.html
var dashboardFS embed.FS

// dashboardPage is the operator dashboard: one self-contained page whose
// script polls /stats, /readyz and /stats/history, and draws the last's
// samples as inline SVG charts. It holds no data itself, which is why
// it is served without the admin token.
var dashboardPage = mustReadDashboard()

// dashboardPolicy allows the page's own inline script and style, by hash,
// and requests to this origin only: nothing else can run on a page that
// may hold the admin token.
var dashboardPolicy = "default-src 'none'; connect-src 'self'; " +
	"script-src " + inlineHash(dashboardPage, "script") + "; " +
	"style-src " + inlineHash(dashboardPage, "style") + "; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func mustReadDashboard() []byte {
	b, err := dashboardFS.ReadFile("dashboard/dashboard.html")
	if err != nil {
		panic(err) // embedded at build time; cannot fail
	}
	return b
}

func serveDashboard(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", dashboardPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	_, _ = w.Write(dashboardPage)
}

// inlineHash is the CSP source for the first <tag> element's content in
// page: 'sha256-...', or 'none' when there is none.
func inlineHash(page []byte, tag string) string {
	_, rest, ok := bytes.Cut(page, []byte("<"+tag+">"))
	if !ok {
		return "'none'"
	}
	body, _, ok := bytes.Cut(rest, []byte("</"+tag+">"))
	if !ok {
		return "'none'"
	}
	sum := sha256.Sum256(body)
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}
