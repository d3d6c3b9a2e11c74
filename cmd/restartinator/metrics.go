package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// metricsHandler serves /metrics: the registry's families encoded as
// client_golang would, then the families that components write straight
// into the buffer (the supervisor's per-device ones, thousands of series
// that would cost a dto.Metric each through the registry). Text or
// OpenMetrics, as negotiated; gzip at its fastest level when asked.
type metricsHandler struct {
	reg    prometheus.Gatherer
	writes func() []func(io.Writer) error
	log    *slog.Logger
}

var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

func (h metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mfs, err := h.reg.Gather()
	if err != nil {
		// As promhttp's HTTPErrorOnError: a half-gathered registry is not
		// worth serving.
		h.log.Error("gathering metrics", "err", err)
		http.Error(w, fmt.Sprintf("An error has occurred while gathering metrics:\n\n%v", err), http.StatusInternalServerError)
		return
	}
	// The written families are text: protobuf is not offered.
	format := expfmt.NegotiateAccept(r.Header, expfmt.FmtOpenMetrics_1_0_0, expfmt.FmtOpenMetrics_0_0_1, expfmt.FmtText)
	hdr := w.Header()
	hdr.Set("Content-Type", string(format))
	// Streamed: the body is not built whole (32 MB at 100,000 devices);
	// an error half-way can only cut it short, as promhttp's would.
	var out io.Writer = w
	if gzipAccepted(r.Header.Get("Accept-Encoding")) {
		hdr.Set("Content-Encoding", "gzip")
		gz := gzipPool.Get().(*gzip.Writer)
		defer gzipPool.Put(gz)
		gz.Reset(w)
		// A failed write or close is the client's going away: nothing to
		// tell it.
		defer func() { _ = gz.Close() }()
		out = gz
	}
	bw := bufio.NewWriterSize(out, 32<<10)
	defer func() { _ = bw.Flush() }()
	enc := expfmt.NewEncoder(bw, format)
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			h.log.Error("encoding metrics", "family", mf.GetName(), "err", err)
			return
		}
	}
	for _, write := range h.writes() {
		if err := write(bw); err != nil {
			h.log.Debug("writing metrics", "err", err)
			return
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		// OpenMetrics' "# EOF" comes last.
		_ = c.Close()
	}
}

func gzipAccepted(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}
