package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/committer"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// TestTrigger is the CI trigger end to end, on one host: committer serve
// with a token file (and no GitHub webhook) refuses a bad token with 401,
// noops the branch's head the nooper never saw, then takes two re-noops
// of it asked at once; both reach ready, and the host's Puppet runs, as
// the agent reported them, never overlapped.
func TestTrigger(t *testing.T) {
	f := newFleet(t, muppets[:1])
	host := muppets[0]
	token := "ci-token-" + fmt.Sprint(time.Now().UnixNano())
	tokenFile := filepath.Join(f.dir, "trigger.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	metricsAddr, args := withMetrics(t, slices.Concat([]string{"committer", "serve"}, f.busArgs(credentials.Committer, ""),
		[]string{"--repo", f.bare, "--state-dir", filepath.Join(f.dir, "committer"), "--listen-http", addr,
			"--trigger-token-file", tokenFile, "--log-level", "debug"}))
	serve := start(t, f.dir, "committer-serve", args...)
	serve.metrics = metricsAddr
	base := "http://" + addr
	eventually(t, 30*time.Second, "committer serve up", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	call := func(method, path, auth, body string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, data
	}
	post := func(body string) committer.TriggerStatus {
		t.Helper()
		code, data := call(http.MethodPost, "/trigger", token, body)
		var st committer.TriggerStatus
		if code != http.StatusAccepted || json.Unmarshal(data, &st) != nil || st.ID == "" {
			t.Fatalf("POST %s: %d %s", body, code, data)
		}
		return st
	}
	waitReady := func(id string) committer.TriggerStatus {
		t.Helper()
		var st committer.TriggerStatus
		bustest.WhileMoving(t, f.conn, "trigger "+id+" ready", func() bool {
			code, data := call(http.MethodGet, "/trigger/"+id, token, "")
			if code != http.StatusOK || json.Unmarshal(data, &st) != nil {
				t.Fatalf("GET /trigger/%s: %d %s", id, code, data)
			}
			if st.State == committer.TriggerFailed {
				t.Fatalf("trigger %s failed: %s", id, st.Reason)
			}
			return st.State == committer.TriggerReady
		}, "RUNS", "REPORTS", "KV_noops", "KV_reports", "KV_triggers")
		return st
	}

	before := scrape(t, serve)
	if code, data := call(http.MethodPost, "/trigger", "wrong-"+token, `{"revision": "main"}`); code != http.StatusUnauthorized || !strings.Contains(string(data), "wrong bearer token") {
		t.Errorf("a bad token: %d %s, want 401", code, data)
	}

	head := strings.TrimSpace(run(t, f.work, "git", "rev-parse", "HEAD"))
	first := post(`{"revision": "main"}`)
	if first.Commit != head {
		t.Fatalf("main resolved to %s, want %s", first.Commit, head)
	}
	if st := waitReady(first.ID); st.Summary == nil || st.Summary.Hosts != 1 || st.Summary.Answered != 1 {
		t.Errorf("ready without a summary of the one host: %+v", st)
	}

	var again [2]committer.TriggerStatus
	var wg sync.WaitGroup
	for i := range again {
		wg.Go(func() { again[i] = post(`{"renoop": "` + head + `"}`) })
	}
	wg.Wait()
	for _, st := range again {
		waitReady(st.ID)
	}

	runs := noopRuns(t, f.conn, host)
	if len(runs) < 3 {
		t.Fatalf("%d noop runs on %s, want the first noop's and one per re-noop: %+v", len(runs), host, runs)
	}
	slices.SortFunc(runs, func(a, b protocol.RunResult) int { return a.StartedAt.Compare(b.StartedAt) })
	for i := 1; i < len(runs); i++ {
		if prev := runs[i-1]; runs[i].StartedAt.Before(prev.FinishedAt) {
			t.Errorf("run %s started at %s, before run %s finished at %s: two Puppet runs overlapped",
				runs[i].RunID, runs[i].StartedAt, prev.RunID, prev.FinishedAt)
		}
	}
	t.Logf("%d Puppet runs on %s, one after the other", len(runs), host)

	// Its metrics endpoint counted what it was asked and what became of it:
	// three triggers accepted and ready, one refused for its token. A
	// state is counted just after it is recorded, so the last one may
	// follow the answer that said it.
	var last string
	defer func() {
		if last != "" {
			t.Log(last) // what the last scrape showed, when the wait failed
		}
	}()
	eventually(t, 30*time.Second, "committer serve's trigger counters", func() bool {
		after := scrape(t, serve)
		last = ""
		for _, c := range []struct {
			name, label string
			want        float64
		}{
			{"balcony_committer_triggers_total", `outcome="accepted"`, 3},
			{"balcony_committer_triggers_total", `outcome="unauthorized"`, 1},
			{"balcony_committer_trigger_states_total", `state="ready"`, 3},
		} {
			if got := after.sum(c.name, c.label) - before.sum(c.name, c.label); got != c.want {
				last += fmt.Sprintf("%s{%s} moved by %v, want %v; ", c.name, c.label, got, c.want)
			}
		}
		return last == ""
	})
}

// noopRuns reads host's noop reports from REPORTS: every run the agent
// answered, with when it started and finished.
func noopRuns(t *testing.T, conn *bus.Conn, host string) []protocol.RunResult {
	t.Helper()
	ctx := context.Background()
	stream, err := conn.JS.Stream(ctx, "REPORTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	subject := "balcony.report.noop." + host
	var out []protocol.RunResult
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil || msg.Subject != subject {
			continue
		}
		var r protocol.RunResult
		if err := bus.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Outcome == protocol.OutcomeExpired {
			continue // never ran
		}
		out = append(out, r)
	}
	return out
}
