package statuspage

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzhttp"
)

// The page's script fetches api/v1/devices every RefreshSeconds: 1.28 MB of
// JSON at 1,000 devices, 29 KB gzipped. Answers are gzipped for clients that
// accept it, at the fastest level as /metrics is (the JSON is rebuilt for
// every request, so compressing harder would cost CPU on every refresh for
// a few percent fewer bytes). Only gzip is offered, as on /metrics.
var gzipWrapper = func() func(http.Handler) http.HandlerFunc {
	w, err := gzhttp.NewWrapper(
		gzhttp.CompressionLevel(gzip.BestSpeed),
		gzhttp.EnableZstd(false),
		// Below this a gzip header and trailer win little: the small
		// answers (a cycle's JSON reply, a 404) go as they are.
		gzhttp.MinSize(1024),
	)
	if err != nil {
		panic("statuspage: gzip options: " + err.Error()) // constant options: a programming error
	}
	return w
}()

// Gzip wraps h so that its answers are gzipped when the request's
// Accept-Encoding allows it, with Vary: Accept-Encoding on every answer.
// An answer that already has a Content-Encoding passes through as it is.
// Mount the status page's JSON API and other large answers (/config)
// behind it; the page handler from New is already.
func Gzip(h http.Handler) http.Handler { return gzipWrapper(h) }

// gzipAsset is the gzipped form of an embedded asset, made once at start:
// served with its own ETag, so a browser revalidating it gets a 304
// whichever form it holds.
func gzipAsset(a asset) asset {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // compressed once, served many times
	// Writes to a bytes.Buffer do not fail.
	_, _ = zw.Write(a.body)
	_ = zw.Close()
	a.body = buf.Bytes()
	a.etag = a.etag[:len(a.etag)-1] + `-gzip"`
	return a
}

// acceptsGzip: a GET whose Accept-Encoding names gzip with a q above 0, as
// gzhttp decides for the answers it compresses (it leaves HEAD alone).
func acceptsGzip(r *http.Request) bool {
	if r.Method == http.MethodHead {
		return false
	}
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				var err error
				if q, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
					q = 0
				}
			}
		}
		return q > 0
	}
	return false
}
