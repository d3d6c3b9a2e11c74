// Package statuspage serves the status page at "/": every device at a
// glance, refreshing itself, with a "Cycle now" button per device.
//
// The page is rendered on the server (html/template), so it works without
// JavaScript (a <noscript> meta refresh keeps it current). With JavaScript,
// static/statuspage.js polls api/v1/devices every few seconds, updates the
// rows in place and drives the "Cycle now" buttons, which POST to
// api/v1/devices/{name}/cycle with a same-origin fetch.
//
// Every link and fetch is relative to the page, which is always at
// RoutePrefix+"/": the page works behind a reverse proxy whether the proxy
// strips the prefix or passes it on (--web.route-prefix, --web.external-url).
package statuspage

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/restartinator/restartinator/collector"
	"github.com/restartinator/restartinator/notify"
)

// Source is what the page shows.
type Source interface {
	Snapshot() []collector.DeviceStatus
	// Holding says why the guard holds automatic cycles, or "".
	Holding() string
	DryRun() bool
}

// Options configure the page.
type Options struct {
	Source Source
	// RoutePrefix is where the service is mounted ("" or "/restart").
	RoutePrefix string
	Version     string
	// Now is the clock for relative times ("12s ago"); nil means time.Now.
	Now func() time.Time
	// Channels lists the notification channels with their last delivery
	// and last error; nil shows none.
	Channels func() []notify.Status
}

// RefreshSeconds is how often the page refreshes itself: by script, or by
// the meta refresh when scripts are off.
const RefreshSeconds = 3

//go:embed page.html
var pageHTML string

//go:embed static
var staticFS embed.FS

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"stateClass": stateClass,
}).Parse(pageHTML))

// asset is an embedded static file with its ETag.
type asset struct {
	name, contentType, etag string
	body                    []byte
}

// handler serves the page and its assets.
type handler struct {
	opts   Options
	assets map[string]asset // by path below RoutePrefix, e.g. "/static/statuspage.js"
	// gzAssets are the same, gzipped once at start.
	gzAssets map[string]asset
	// assetVersion changes whenever an asset does, so browsers that cache
	// them fetch the new ones after an upgrade.
	assetVersion string
}

// New returns the page handler. Mount it at RoutePrefix+"/": it serves the
// page there and its assets under RoutePrefix+"/static/", and answers 404 for
// every other path.
func New(opts Options) http.Handler {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.RoutePrefix = strings.TrimRight(opts.RoutePrefix, "/")
	h := &handler{opts: opts, assets: map[string]asset{}, gzAssets: map[string]asset{}}
	sum := sha256.New()
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		one := sha256.Sum256(body)
		sum.Write(one[:])
		h.assets["/"+p] = asset{name: p, contentType: contentType(p), etag: `"` + hex.EncodeToString(one[:8]) + `"`, body: body}
		h.gzAssets["/"+p] = gzipAsset(h.assets["/"+p])
		return nil
	})
	if err != nil {
		panic("statuspage: reading embedded assets: " + err.Error()) // a build error, not a runtime one
	}
	h.assetVersion = hex.EncodeToString(sum.Sum(nil)[:6])
	return Gzip(h)
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	}
	return "application/octet-stream"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, h.opts.RoutePrefix)
	if !ok || !strings.HasPrefix(rest, "/") {
		http.NotFound(w, r)
		return
	}
	a, isAsset := h.assets[rest]
	if rest != "/" && !isAsset {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if isAsset {
		w.Header().Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			a = h.gzAssets[rest]
			w.Header().Set("Content-Encoding", "gzip")
		}
		w.Header().Set("Content-Type", a.contentType)
		w.Header().Set("ETag", a.etag)
		w.Header().Set("Cache-Control", "no-cache") // revalidate: the ETag makes that cheap
		http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
		return
	}
	h.servePage(w, r)
}

// securityHeaders keep the page's buttons from being framed by another site
// (clickjacking) and let it load nothing but its own assets.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
		"base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
	"X-Frame-Options": "DENY",
	"Referrer-Policy": "same-origin",
	"Cache-Control":   "no-store",
}

func (h *handler) servePage(w http.ResponseWriter, r *http.Request) {
	data := h.pageData()
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, data); err != nil {
		http.Error(w, "rendering the status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	for k, v := range securityHeaders {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(buf.Bytes())
}
