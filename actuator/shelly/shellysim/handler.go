package shellysim

import "net/http"

// handler routes one generation's API behind fault injection.
func (d *Device) handler() http.Handler {
	mux := http.NewServeMux()
	if d.m.gen == 1 {
		d.gen1Routes(mux)
	} else {
		d.gen2Routes(mux)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.hold(r) {
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// hold admits a request, or swallows it while the device hangs or is
// unreachable: the connection is dropped unanswered once the fault changes
// or the client gives up.
func (d *Device) hold(r *http.Request) bool {
	ok, ch := d.srv.Admit()
	if ok {
		return true
	}
	select {
	case <-ch:
	case <-r.Context().Done():
	}
	panic(http.ErrAbortHandler)
}
