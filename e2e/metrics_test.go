package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// withMetrics adds --metrics-listen on a free loopback port to a daemon's
// arguments and returns the address.
func withMetrics(t *testing.T, args []string) (string, []string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	return addr, append(args, "--metrics-listen", addr)
}

// samples are a scrape's series (name{labels}) and their values.
type samples map[string]float64

// scrape fetches p's /metrics over HTTP, as Prometheus does, waiting for
// the endpoint while the daemon starts.
func scrape(t *testing.T, p *proc) samples {
	t.Helper()
	var s samples
	eventually(t, 30*time.Second, p.name+"'s metrics endpoint", func() bool {
		resp, err := http.Get("http://" + p.metrics + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return false
		}
		s = parseSamples(string(body))
		return true
	})
	return s
}

// parseSamples reads the text exposition format's sample lines.
func parseSamples(text string) samples {
	s := samples{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			s[line[:i]] = v
		}
	}
	return s
}

// sum adds the values of the series named name whose labels include
// each of labels (`kind="noop"`).
func (s samples) sum(name string, labels ...string) float64 {
	total := 0.0
	for series, v := range s {
		n, rest, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// fleetMetrics are the scrapes of a fleet's long-lived daemons.
type fleetMetrics struct {
	nooper, approver samples
	agents           map[string]samples
}

func (f *fleet) scrapeAll(t *testing.T) fleetMetrics {
	t.Helper()
	m := fleetMetrics{nooper: scrape(t, f.nooper), agents: map[string]samples{}}
	if f.approver != nil {
		m.approver = scrape(t, f.approver)
	}
	for h, p := range f.agents {
		m.agents[h] = scrape(t, p)
	}
	return m
}

// moved checks that the counters of the work done between before and
// after moved: noops asked and answered, collections finished, Puppet
// runs timed on every host, approvals recorded.
func moved(t *testing.T, before, after fleetMetrics) {
	t.Helper()
	grew := func(who, name string, b, a samples, labels ...string) {
		t.Helper()
		if x, y := b.sum(name, labels...), a.sum(name, labels...); y <= x {
			t.Errorf("%s's %s%v did not move: %v, then %v", who, name, labels, x, y)
		}
	}
	grew("nooper", "balcony_runs_asked_total", before.nooper, after.nooper, `kind="noop"`)
	grew("nooper", "balcony_runs_answered_total", before.nooper, after.nooper, `kind="noop"`)
	grew("nooper", "balcony_nooper_collection_seconds_count", before.nooper, after.nooper)
	if got := after.nooper.sum("balcony_nooper_hosts"); got != float64(len(after.agents)) {
		t.Errorf("the nooper knows %v hosts, want %d", got, len(after.agents))
	}
	for h, a := range after.agents {
		grew(h, "balcony_agent_puppet_seconds_count", before.agents[h], a, `kind="noop"`)
		grew(h, "balcony_agent_puppet_seconds_count", before.agents[h], a, `kind="apply"`)
		grew(h, "balcony_agent_runs_total", before.agents[h], a)
	}
	if after.approver != nil {
		grew("approver", "balcony_approver_approvals_total", before.approver, after.approver)
		grew("approver", "balcony_approver_events_total", before.approver, after.approver, `type="approval.complete"`)
	}
}
