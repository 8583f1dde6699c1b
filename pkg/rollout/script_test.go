package rollout_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/balcony-dev/balcony/pkg/rollout"
)

// t0 is when every scripted rollout starts.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// runScript drives a rollout through script: one command a line, "#"
// starts a comment, and "=> want" after a command is what it must give:
//
//	next                  Progress.Next: want is Step.String() (no want: anything)
//	notes                 the notes of the last next, their texts joined by " | "
//	go                    Start every host of the last next's Start ("ok")
//	start HOST            Start HOST with run id "run-HOST-<attempt>"
//	done|fail|skipped HOST [REASON...]   Finish HOST's current run
//	finish-run HOST RUN STATE            Finish HOST's run RUN
//	skip HOST REASON...   Skip a pending HOST
//	promote [SET]         Promote as "kermit"
//	halt REASON...        Halt as "gonzo"
//	resume                Resume
//	host HOST             the host's "state: reason"
//	run HOST              the host's current run id
//	wait DURATION         the clock moves on (no want)
//
// Transitions give "ok" or their error's text; want may be a prefix of it
// when it ends in "...".
func runScript(t *testing.T, plan *rollout.Plan, script string) rollout.Progress {
	t.Helper()
	p := rollout.NewProgress(plan)
	now := t0
	var last rollout.Step
	result := func(err error) string {
		if err != nil {
			return err.Error()
		}
		return "ok"
	}
	for n, line := range strings.Split(script, "\n") {
		line, _, _ = strings.Cut(line, "#")
		cmd, want, hasWant := strings.Cut(line, "=>")
		f := strings.Fields(cmd)
		if len(f) == 0 {
			continue
		}
		reason := strings.Join(f[min(2, len(f)):], " ")
		arg := func(i int) string {
			if i >= len(f) {
				t.Fatalf("line %d: %q needs an argument", n+1, cmd)
			}
			return f[i]
		}
		var got string
		switch f[0] {
		case "next":
			last = p.Next(plan, now)
			got = last.String()
		case "notes":
			var texts []string
			for _, nt := range last.Notes {
				texts = append(texts, nt.Text)
			}
			got = strings.Join(texts, " | ")
		case "go":
			got = "ok"
			for _, h := range last.Start {
				if err := p.Start(plan, h, fmt.Sprintf("run-%s-%d", h, p.Host(h).Attempts+1), now); err != nil {
					got = err.Error()
				}
			}
		case "start":
			h := arg(1)
			got = result(p.Start(plan, h, fmt.Sprintf("run-%s-%d", h, p.Host(h).Attempts+1), now))
		case "done", "fail", "skipped":
			state := map[string]rollout.HostState{"done": rollout.Done, "fail": rollout.Failed, "skipped": rollout.Skipped}[f[0]]
			h := arg(1)
			got = result(p.Finish(plan, h, p.Host(h).RunID, state, reason, now))
		case "finish-run":
			got = result(p.Finish(plan, arg(1), arg(2), rollout.HostState(arg(3)), "", now))
		case "skip":
			got = result(p.Skip(plan, arg(1), reason, now))
		case "promote":
			set := ""
			if len(f) > 1 {
				set = f[1]
			}
			got = result(p.Promote(plan, set, "kermit", now))
		case "halt":
			got = result(p.Halt(strings.Join(f[1:], " "), "gonzo", now))
		case "resume":
			got = result(p.Resume(plan, now))
		case "run":
			got = p.Host(arg(1)).RunID
		case "host":
			h := p.Host(arg(1))
			got = string(h.State)
			if h.Reason != "" {
				got += ": " + h.Reason
			}
		case "wait":
			d, err := time.ParseDuration(arg(1))
			if err != nil {
				t.Fatalf("line %d: %v", n+1, err)
			}
			now = now.Add(d)
			continue
		default:
			t.Fatalf("line %d: unknown command %q", n+1, f[0])
		}
		want = strings.TrimSpace(want)
		if !hasWant && (f[0] == "next" || f[0] == "notes") {
			continue // stepping on, whatever it says
		}
		if !hasWant {
			want = "ok"
		}
		if prefix, ok := strings.CutSuffix(want, "..."); ok && strings.HasPrefix(got, prefix) {
			continue
		}
		if got != want {
			t.Errorf("line %d: %s\n got: %s\nwant: %s", n+1, strings.TrimSpace(cmd), got, want)
		}
	}
	return p
}

// mustPlan plans cfg for in.
func mustPlan(t *testing.T, cfg string, in rollout.Input) *rollout.Plan {
	t.Helper()
	p, err := rollout.NewPlan(mustConfig(t, cfg), in)
	if err != nil {
		t.Fatal(err)
	}
	return &p
}
