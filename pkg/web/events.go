package web

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// hub fans balcony.event.> out to the pages following it. A page that
// does not keep up loses events, never the server's time: each event only
// tells it to fetch itself again, and the next one does as well.
type hub struct {
	max     int
	metrics *webMetrics

	mu      sync.Mutex
	streams map[chan event]struct{}
}

// event is one balcony event as a page receives it.
type event struct {
	subject string
	data    []byte
}

// streamBuffer is how many events a page may lag behind before it loses
// some.
const streamBuffer = 64

func newHub(max int, m *webMetrics) *hub {
	return &hub{max: max, metrics: m, streams: map[chan event]struct{}{}}
}

// follow adds a stream; false when there are max already.
func (h *hub) follow() (chan event, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.streams) >= h.max {
		return nil, false
	}
	ch := make(chan event, streamBuffer)
	h.streams[ch] = struct{}{}
	h.metrics.streams.Set(float64(len(h.streams)))
	return ch, true
}

func (h *hub) leave(ch chan event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.streams, ch)
	h.metrics.streams.Set(float64(len(h.streams)))
}

// publish hands an event to every stream that has room for it.
func (h *hub) publish(subject string, data []byte) {
	h.metrics.events.Inc()
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.streams {
		select {
		case ch <- event{subject: subject, data: data}:
		default:
			h.metrics.dropped.Inc()
		}
	}
}

// keepAlive is how often a quiet stream gets a comment, so proxies and
// browsers do not take it for dead.
const keepAlive = 25 * time.Second

// events streams balcony.event.> to a page as server-sent events: one
// "balcony" event per bus event, its data the event's JSON.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, ok := s.hub.follow()
	if !ok {
		http.Error(w, "too many pages follow the events; reload later", http.StatusServiceUnavailable)
		return
	}
	defer s.hub.leave(ch)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not hold the stream back
	// A page whose stream broke comes back after 3 s, and fetches itself
	// again then (it may have missed events meanwhile).
	fmt.Fprint(w, "retry: 3000\n: following balcony.event.>\n\n")
	flusher.Flush()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case e := <-ch:
			fmt.Fprint(w, "event: balcony\n")
			for line := range bytes.SplitSeq(e.data, []byte("\n")) {
				fmt.Fprintf(w, "data: %s\n", line)
			}
			fmt.Fprint(w, "\n")
		}
		flusher.Flush()
	}
}
