package web

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
	"github.com/balcony-dev/balcony/pkg/review"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

var update = flag.Bool("update", false, "rewrite the golden pages in testdata")

const (
	seatSHA   = "5ea75ea75ea75ea75ea75ea75ea75ea75ea75ea7"
	parentSHA = "0123456789abcdef0123456789abcdef01234567"
	nextSHA   = "abcabcabcabcabcabcabcabcabcabcabcabcabca"
)

var (
	seat = protocol.Commit{SHA: seatSHA, Parents: []string{parentSHA}, Author: "Kermit", AuthorEmail: "kermit@example.com",
		Time: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), Subject: "statler: record his seat", Message: "statler: record his seat\n"}
	next = protocol.Commit{SHA: nextSHA, Parents: []string{seatSHA}, Author: "Kermit", Time: time.Date(2026, 11, 30, 9, 5, 0, 0, time.UTC), Subject: "motd: more"}

	seatGroup = delta.Group{ID: "5ea7000000a1", Hosts: []string{"statler.example.com"}, Resource: report.Resource{
		ID: "File[/srv/seat]", Type: "File", Title: "/srv/seat", File: "manifests/nodes/statler.pp", Line: 3,
		Events: []report.Event{{Property: "ensure", Previous: "absent", Desired: "file", Status: "noop"}},
		Diff:   "--- /srv/seat\n+++ /srv/seat\n@@ -1 +1 @@\n-balcony\n+box five\n",
	}}
	driftGroup = delta.Group{ID: "d41f7000000b", Hosts: []string{"fozzie.example.com", "statler.example.com"}, Resource: report.Resource{
		ID: "File[/etc/issue]", Type: "File", Title: "/etc/issue", File: "modules/motd/manifests/init.pp", Line: 9,
		Events: []report.Event{{Property: "content", Previous: "{sha256}aa", Desired: "{sha256}bb", Status: "noop"}},
	}}
	seatResult = &delta.Result{Commit: seatSHA, Parent: parentSHA, Hosts: []string{"fozzie.example.com", "statler.example.com"},
		Groups: []delta.Group{seatGroup}, Drift: []delta.Group{driftGroup},
		Errors: []delta.ErrorGroup{{Message: "Could not parse for environment production: Syntax error at '}'\nmore", Hosts: []string{"fozzie.example.com"}}},
	}
	seatApproval = &approver.StatusReply{Commit: seat, Ready: true,
		Groups: []approver.GroupView{{ID: seatGroup.ID, Resource: seatGroup.Resource.ID, File: seatGroup.Resource.File, Hosts: seatGroup.Hosts, Digest: "d1g35t"}},
		Status: owners.Status{Groups: []owners.GroupStatus{{ID: seatGroup.ID, Digest: "d1g35t",
			Owners:  owners.GroupOwners{File: owners.Ownership{Path: "manifests/nodes/statler.pp", Owners: []string{"@statler"}, Logins: []string{"statler"}}},
			Missing: "an owner of manifests/nodes/statler.pp (statler)"}}},
	}
)

// services answers the services' requests the web view makes, as the
// real services would, from the fixtures above; it records approvals.
type services struct {
	mu        sync.Mutex
	approved  map[string]approver.ApproveRequest
	approvals *approver.StatusReply
	applier   *applier.StatusReply
}

func (f *services) start(t *testing.T, conn *bus.Conn) {
	t.Helper()
	f.approved = map[string]approver.ApproveRequest{}
	answer := func(subject string, reply func(m *nats.Msg) (any, string)) {
		_, err := conn.NC.Subscribe(subject, func(m *nats.Msg) {
			v, code := reply(m)
			out := nats.NewMsg(m.Reply)
			if code != "" {
				out.Header.Set(micro.ErrorCodeHeader, code)
				out.Header.Set(micro.ErrorHeader, v.(string))
			} else {
				out.Data, _ = json.Marshal(v)
			}
			_ = m.RespondMsg(out)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	answer(nooper.CommitsSubject, func(*nats.Msg) (any, string) {
		return nooper.CommitsReply{Total: 2, Commits: []nooper.CommitSummary{
			{Commit: next, Branch: "main", Parent: seatSHA, State: nooper.StateCollecting, Hosts: 2, Progress: &review.Progress{Answered: 1, Hosts: 2}},
			{Commit: seat, Branch: "main", Parent: parentSHA, State: nooper.StateReady, Hosts: 2, Groups: 1, Drift: 1, FailedHosts: 1, FirstError: "Could not parse"},
		}}, ""
	})
	answer(nooper.ShowSubject, func(m *nats.Msg) (any, string) {
		rev := string(m.Data)
		if !strings.HasPrefix(seatSHA, rev) {
			return "no noop of this revision: " + rev, "404"
		}
		data, err := review.JSON(review.Document{Repo: "puppet", Branch: "main", Commit: seat, Result: seatResult, Complete: true})
		if err != nil {
			t.Error(err)
		}
		return json.RawMessage(data), ""
	})
	answer(nooper.HostSubject, func(m *nats.Msg) (any, string) {
		if string(m.Data) != "statler.example.com" {
			return "no such host: " + string(m.Data), "404"
		}
		return nooper.HostReply{Registered: true,
			HostSummary: nooper.HostSummary{Host: "statler.example.com", Seen: seat.Time.Add(time.Hour), LastApplied: parentSHA, PendingCommits: 1, PendingGroups: 1, Drift: 1},
			Pending:     []nooper.PendingCommit{{Commit: seat, State: nooper.StateReady, Groups: []delta.Group{seatGroup}}},
			DriftGroups: []delta.Group{driftGroup},
			Runs:        []nooper.RunSummary{{RunID: "noop:1", Kind: "noop", Revision: seatSHA, Outcome: "ok", Changes: 2, PuppetSeconds: 3.25}},
		}, ""
	})
	answer(nooper.HostsSubject, func(*nats.Msg) (any, string) {
		return nooper.HostsReply{Head: &next, Hosts: []nooper.HostSummary{
			{Host: "fozzie.example.com", Failed: "Could not parse"},
			{Host: "gonzo.example.com", Silent: true},
			{Host: "statler.example.com", PendingCommits: 1, PendingGroups: 1},
			{Host: "waldorf.example.com"},
		}}, ""
	})
	answer(approver.StatusSubject, func(*nats.Msg) (any, string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.approvals, ""
	})
	answer(approver.ApprovePrefix+"*", func(m *nats.Msg) (any, string) {
		var req approver.ApproveRequest
		if err := json.Unmarshal(m.Data, &req); err != nil {
			return err.Error(), "400"
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		f.approved[strings.TrimPrefix(m.Subject, approver.ApprovePrefix)] = req
		return approver.ChangeReply{Commit: req.Revision, Approved: true}, ""
	})
	answer(applier.StatusSubject, func(*nats.Msg) (any, string) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.applier, ""
	})
	if err := conn.NC.Flush(); err != nil {
		t.Fatal(err)
	}
}

// startView serves the view on a loopback port for the test, over the
// fake services.
func startView(t *testing.T, o Options) (string, *services, *bus.Conn) {
	t.Helper()
	conn := bustest.Start(t)
	f := &services{approvals: seatApproval, applier: &applier.StatusReply{Blocked: "nothing approved to apply"}}
	f.start(t, conn)
	o.Log = zerolog.Nop()
	s, err := New(bustest.Client(t, conn), o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + l.Addr().String(), f, conn
}

func get(t *testing.T, u string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// mainOf is the <main> of a page: what the golden files keep.
func mainOf(page string) string {
	start, end := strings.Index(page, "<main"), strings.Index(page, "</main>")
	if start < 0 || end < start {
		return page
	}
	return page[start : end+len("</main>")]
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test ./pkg/web -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test ./pkg/web -update rewrites it):\n%s", file, diff)
	}
}

func TestPages(t *testing.T) {
	base, _, _ := startView(t, Options{})
	for _, tc := range []struct {
		name, path string
		code       int
		want       []string
	}{
		{"commits.html", "/", 200, []string{
			`data-stage="nooping"`, "1 of 2 hosts answered", `data-stage="needs-approval"`, "ready · needs approval",
			"an owner of manifests/nodes/statler.pp (statler)", "failed on 1", "nothing approved to apply"}},
		{"commit.html", "/commit/5ea75ea7", 200, []string{
			`<span class="add">&#43;box five</span>`, `<span class="del">-balcony</span>`, `<span class="hunk">@@ -1 &#43;1 @@</span>`,
			"File[/srv/seat]", "manifests/nodes/statler.pp:3", "file manifests/nodes/statler.pp: @statler",
			`id="drift"`, "File[/etc/issue]", "Syntax error at", `id="errors"`, "read-only"}},
		{"host.html", "/host/statler.example.com", 200, []string{
			"Pending: 1 change in 1 commit", "File[/srv/seat]", "3.2 s", "pending changes", `href="/commit/` + parentSHA + `"`}},
		{"fleet.html", "/fleet", 200, []string{
			`class="cell failed"`, `class="cell silent"`, `class="cell pending"`, `class="cell current"`, "up to date: <b>1</b>"}},
		{"unknown-commit.html", "/commit/feedface", 404, []string{"balcony has no noop of feedface"}},
		{"unknown-host.html", "/host/kermit.example.com", 404, []string{"balcony knows nothing of kermit.example.com"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, page := get(t, base+tc.path)
			if code != tc.code {
				t.Errorf("%s: %d, want %d:\n%s", tc.path, code, tc.code, page)
			}
			for _, w := range tc.want {
				if !strings.Contains(page, w) {
					t.Errorf("%s lacks %q", tc.path, w)
				}
			}
			if strings.Contains(page, "ZgotmplZ") {
				t.Errorf("%s has a value html/template refused (ZgotmplZ)", tc.path)
			}
			golden(t, tc.name, mainOf(page))
		})
	}
	code, _ := get(t, base+"/host/not_a_host")
	if code != http.StatusBadRequest {
		t.Errorf("a bad host name: %d, want 400", code)
	}
}

// A commit an earlier rollout applied (the current rollout's base) reads
// applied on the list and on its page, though its approval lapsed since.
func TestEarlierRolloutOnThePages(t *testing.T) {
	base, f, _ := startView(t, Options{})
	f.mu.Lock()
	f.approvals = seatApproval // not approved now
	f.applier = &applier.StatusReply{
		Rollout: &applier.Rollout{ID: "r2", Target: next, Base: seatSHA, Range: []protocol.ApprovedCommit{{SHA: nextSHA}}},
		Step:    &rollout.Step{Kind: rollout.StepWait, Set: "canaries"},
	}
	f.mu.Unlock()
	want := `data-stage="applied"`
	_, list := get(t, base+"/")
	row := list[strings.Index(list, `data-sha="`+seatSHA+`"`):]
	if end := strings.Index(row, "</tr>"); !strings.Contains(row[:end], want) || !strings.Contains(row[:end], "before the rollout of "+protocol.Short(nextSHA)) {
		t.Errorf("the list's row of %s is not applied:\n%s", protocol.Short(seatSHA), row[:end])
	}
	if _, page := get(t, base+"/commit/"+seatSHA); !strings.Contains(page, `<p id="stage" `+want) {
		t.Errorf("the commit page's stage is not applied:\n%s", mainOf(page))
	}
}

// A running rollout shows on the fleet, on the list and on the commit it
// applies: its step, each set's bar, a halt's reason; a host's apply
// shows on its page.
func TestRolloutOnThePages(t *testing.T) {
	base, f, _ := startView(t, Options{})
	f.mu.Lock()
	f.approvals = &approver.StatusReply{Commit: seat, Ready: true, Approved: true}
	f.applier = &applier.StatusReply{
		Rollout: &applier.Rollout{ID: "r1", Target: seat,
			Plan: rollout.Plan{Stages: []rollout.Stage{{Set: "canaries", Batches: [][]string{{"fozzie.example.com"}}}, {Set: "all", Batches: [][]string{{"statler.example.com", "waldorf.example.com"}}}}},
			Progress: rollout.Progress{
				Hosts:  map[string]rollout.HostProgress{"fozzie.example.com": {State: rollout.Done}, "statler.example.com": {State: rollout.Failed, Reason: "a change nobody approved"}},
				Halted: &rollout.Halt{Set: "all", Reason: "1 of 2 failed (threshold 0)"}},
			Results: map[string]applier.HostResult{"statler.example.com": {Outcome: "failed", PuppetSeconds: 7.5}},
		},
		Step:   &rollout.Step{Kind: rollout.StepHalted, Set: "all"},
		Stages: []applier.StageCounts{{Set: "canaries", Counts: rollout.Counts{Done: 1}}, {Set: "all", Counts: rollout.Counts{Failed: 1, Pending: 1}}},
		Locks:  []applier.Lock{{Host: "waldorf.example.com", By: "gonzo", Reason: "disk swap"}},
	}
	f.mu.Unlock()
	for path, want := range map[string][]string{
		"/fleet": {`class="cell locked"`, "HALTED at set all: 1 of 2 failed (threshold 0)", `<rect class="done" x="0" y="0" width="100"`,
			`<rect class="failed" x="0" y="0" width="50"`, `<rect class="pending" x="50" y="0" width="50"`},
		"/":                         {`data-stage="halted"`, "all: 1 of 2 failed (threshold 0)"},
		"/commit/" + seatSHA:        {`id="rollout"`, "halted at set all"},
		"/host/statler.example.com": {"failed (set all): a change nobody approved", "apply 7.5 s of Puppet"},
	} {
		code, page := get(t, base+path)
		if code != http.StatusOK {
			t.Errorf("%s: %d", path, code)
		}
		for _, w := range want {
			if !strings.Contains(page, w) {
				t.Errorf("%s lacks %q", path, w)
			}
		}
	}
}

// A service that does not answer leaves a note, and the page shows what
// the others said.
func TestPageWithoutTheApplier(t *testing.T) {
	conn := bustest.Start(t)
	f := &services{approvals: seatApproval}
	f.start(t, conn)
	// The applier's fake answers; another connection with nothing on it
	// stands for a bus without an applier.
	s, err := New(bustest.Client(t, conn), Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	var p page
	if st := s.applierStatus(context.Background(), &p); st == nil || len(p.Notes) != 0 {
		t.Fatalf("with an applier: %v, notes %v", st, p.Notes)
	}
	lone := bustest.Start(t)
	s2, err := New(lone, Options{Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if st := s2.applierStatus(context.Background(), &p); st != nil || len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "no applier is running") {
		t.Fatalf("without an applier: %v, notes %q", st, p.Notes)
	}
}

func postApprove(t *testing.T, base, path string, form url.Values, header ...string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), string(body)
}

func TestApproveBehindTheProxy(t *testing.T) {
	base, f, _ := startView(t, Options{UserHeader: "X-Forwarded-User"})
	seen := url.Values{"seen": {seatGroup.ID + ":d1g35t"}}
	path := "/commit/" + seatSHA + "/approve"

	// The page offers the button only to a signed-in user, with the
	// digests it shows.
	_, page := get(t, base+"/commit/"+seatSHA, "X-Forwarded-User", "Statler")
	for _, w := range []string{"signed in as <b>statler</b>", `name="seen" value="` + seatGroup.ID + `:d1g35t"`, "Approve 1 change group as statler"} {
		if !strings.Contains(page, w) {
			t.Errorf("the signed-in page lacks %q", w)
		}
	}
	if _, anon := get(t, base+"/commit/"+seatSHA); strings.Contains(anon, `id="approve"`) {
		t.Error("the read-only page offers to approve")
	}

	for _, tc := range []struct {
		name   string
		header []string
		code   int
	}{
		{"no user", []string{"Origin", base}, http.StatusForbidden},
		{"another site", []string{"X-Forwarded-User", "statler", "Origin", "https://evil.example"}, http.StatusForbidden},
		{"no origin at all", []string{"X-Forwarded-User", "statler"}, http.StatusForbidden},
		{"no valid login", []string{"X-Forwarded-User", "stat ler", "Origin", base}, http.StatusForbidden},
	} {
		if code, _, body := postApprove(t, base, path, seen, tc.header...); code != tc.code {
			t.Errorf("%s: %d, want %d: %s", tc.name, code, tc.code, body)
		}
	}
	f.mu.Lock()
	if len(f.approved) != 0 {
		t.Errorf("refused requests approved: %v", f.approved)
	}
	f.mu.Unlock()

	code, loc, body := postApprove(t, base, path, seen, "X-Forwarded-User", "statler", "Origin", base)
	if code != http.StatusSeeOther || loc != "/commit/"+seatSHA+"?done=approve" {
		t.Fatalf("approve: %d to %q: %s", code, loc, body)
	}
	f.mu.Lock()
	got := f.approved["statler"]
	f.mu.Unlock()
	want := approver.ApproveRequest{Revision: seatSHA, Source: owners.SourceWeb, Groups: map[string]string{seatGroup.ID: "d1g35t"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the approval sent as statler (-want +got):\n%s", diff)
	}
	_, said := get(t, base+loc, "X-Forwarded-User", "statler")
	if !strings.Contains(said, `<p class="said" role="status">Approved as statler.</p>`) {
		t.Errorf("the page after approving does not say so")
	}
}

// The user header is believed only from the trusted proxies.
func TestUserHeaderOnlyFromTheProxy(t *testing.T) {
	base, _, _ := startView(t, Options{UserHeader: "X-Forwarded-User", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16")}})
	_, page := get(t, base+"/", "X-Forwarded-User", "statler")
	if !strings.Contains(page, "read-only") || strings.Contains(page, "signed in") {
		t.Error("a user header from outside the trusted proxies was believed")
	}
	code, _, _ := postApprove(t, base, "/commit/"+seatSHA+"/approve", url.Values{"seen": {"a:b"}}, "X-Forwarded-User", "statler", "Origin", base)
	if code != http.StatusForbidden {
		t.Errorf("approve through an untrusted address: %d, want 403", code)
	}
}

// An event on balcony.event.> reaches an open page's stream.
func TestEventsReachTheStream(t *testing.T) {
	base, _, conn := startView(t, Options{})
	resp, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	lines := bufio.NewReader(resp.Body)
	// The stream is followed once its first comment arrives: publish then.
	for {
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\n" {
			break
		}
	}
	ev := protocol.Event{Type: "noop.ready", Text: "noop ready", Commit: seatSHA}
	data, _ := json.Marshal(ev)
	if err := conn.NC.Publish(bus.EventPrefix+"noop.ready", data); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 3 {
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSuffix(line, "\n"))
	}
	if diff := cmp.Diff([]string{"event: balcony", "data: " + string(data), ""}, got); diff != "" {
		t.Errorf("the stream (-want +got):\n%s", diff)
	}
}

func TestCommitStage(t *testing.T) {
	ready := nooper.CommitSummary{Commit: seat, State: nooper.StateReady, Hosts: 2}
	approved := &approver.StatusReply{Ready: true, Approved: true}
	running := func(mut func(*applier.StatusReply)) *applier.StatusReply {
		st := &applier.StatusReply{Rollout: &applier.Rollout{Target: seat}, Step: &rollout.Step{Kind: rollout.StepWait, Set: "canaries", Counts: rollout.Counts{Running: 1, Pending: 2}}}
		if mut != nil {
			mut(st)
		}
		return st
	}
	for _, tc := range []struct {
		name string
		s    nooper.CommitSummary
		ap   *approver.StatusReply
		st   *applier.StatusReply
		want Stage
	}{
		{"collecting", nooper.CommitSummary{State: nooper.StateCollecting, Hosts: 3, Progress: &review.Progress{Answered: 1, Hosts: 3}}, nil, nil,
			Stage{StageNooping, "nooping", "1 of 3 hosts answered"}},
		{"collecting, no progress yet", nooper.CommitSummary{State: nooper.StateCollecting, Hosts: 1}, nil, nil, Stage{StageNooping, "nooping", "1 host to answer"}},
		{"not evaluated", ready, nil, nil, Stage{StageNeedsApproval, "ready", "approval not evaluated yet"}},
		{"needs approval", ready, seatApproval, nil, Stage{StageNeedsApproval, "ready · needs approval", "1 of 1 change group to sign off: an owner of manifests/nodes/statler.pp (statler)"}},
		{"held back", ready, &approver.StatusReply{Status: owners.Status{HeldBack: []string{"fozzie's noop failed"}}}, nil, Stage{StageHeld, "ready · held back", "fozzie's noop failed"}},
		{"approved, no rollout", ready, approved, &applier.StatusReply{Blocked: "waiting for the canaries' noop"}, Stage{StageApproved, "approved", "not applied: waiting for the canaries' noop"}},
		{"approved, applier silent", ready, approved, nil, Stage{StageApproved, "approved", ""}},
		{"applying", ready, approved, running(nil), Stage{StageApplying, "applying set canaries", "done 0, failed 0, skipped 0, running 1, pending 2"}},
		{"in another rollout", ready, approved, running(func(st *applier.StatusReply) { st.Rollout.Target = next }), Stage{StageApproved, "approved", ""}},
		{"in its range", ready, approved, running(func(st *applier.StatusReply) {
			st.Rollout.Target = next
			st.Rollout.Range = []protocol.ApprovedCommit{{SHA: seatSHA}, {SHA: nextSHA}}
		}), Stage{StageApplying, "applying set canaries", "done 0, failed 0, skipped 0, running 1, pending 2"}},
		{"halted", ready, approved, running(func(st *applier.StatusReply) {
			st.Rollout.Progress.Halted = &rollout.Halt{Set: "canaries", Reason: "1 of 1 failed"}
		}), Stage{StageHalted, "halted", "canaries: 1 of 1 failed"}},
		{"applied", ready, approved, running(func(st *applier.StatusReply) {
			st.Step = &rollout.Step{Kind: rollout.StepComplete, Counts: rollout.Counts{Done: 3}}
		}),
			Stage{StageApplied, "applied", "done 3, failed 0, skipped 0, running 0, pending 0"}},
		{"cancelled", ready, approved, running(func(st *applier.StatusReply) {
			st.Rollout.State, st.Rollout.CancelledBy = applier.StateCancelled, "gonzo"
		}), Stage{StageCancelled, "approved · rollout cancelled", "by gonzo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, commitStage(tc.s, tc.ap, tc.st, false)); diff != "" {
				t.Errorf("stage (-want +got):\n%s", diff)
			}
		})
	}
}

// A commit the last rollout's hosts had all applied before it began is
// applied, whatever its approval says now; it goes back to nooping when
// nooped again.
func TestCommitStageAppliedEarlier(t *testing.T) {
	st := &applier.StatusReply{Rollout: &applier.Rollout{Target: next, Base: seatSHA}, Step: &rollout.Step{Kind: rollout.StepWait}}
	want := Stage{StageApplied, "applied", "before the rollout of " + protocol.Short(nextSHA)}
	for name, ap := range map[string]*approver.StatusReply{
		"approved":            {Ready: true, Approved: true},
		"its approval lapsed": seatApproval,
		"no approval record":  nil,
	} {
		if diff := cmp.Diff(want, commitStage(nooper.CommitSummary{Commit: seat, State: nooper.StateReady}, ap, st, true)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	again := commitStage(nooper.CommitSummary{Commit: seat, State: nooper.StateCollecting, Hosts: 1}, nil, st, true)
	if again.Key != StageNooping {
		t.Errorf("nooped again: %+v, want nooping", again)
	}
}

// appliedEarlier follows first parents down from the last rollout's base,
// as far as the listed commits reach.
func TestAppliedEarlier(t *testing.T) {
	c := func(sha, parent string) nooper.CommitSummary {
		return nooper.CommitSummary{Commit: protocol.Commit{SHA: sha}, Parent: parent}
	}
	chain := []nooper.CommitSummary{c("e", "d"), c("d", "c"), c("c", "b"), c("b", "a"), c("x", "b")}
	withBase := func(base string) *applier.StatusReply {
		return &applier.StatusReply{Rollout: &applier.Rollout{Target: protocol.Commit{SHA: "e"}, Base: base}}
	}
	for _, tc := range []struct {
		name string
		st   *applier.StatusReply
		want map[string]bool
	}{
		{"the base and below", withBase("c"), map[string]bool{"c": true, "b": true}},
		{"the base at the bottom of the list", withBase("b"), map[string]bool{"b": true}},
		{"a base never nooped", withBase("z"), map[string]bool{}},
		{"no rollout yet", &applier.StatusReply{}, nil},
		{"no applier", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, appliedEarlier(chain, tc.st)); diff != "" {
				t.Errorf("applied earlier (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDiffLines(t *testing.T) {
	got := diffLines("--- a\n+++ b\n@@ -1,2 +1,2 @@\n same\n-old\n+new\n\\ No newline at end of file\n")
	want := []diffLine{{"hdr", "--- a"}, {"hdr", "+++ b"}, {"hunk", "@@ -1,2 +1,2 @@"}, {"ctx", " same"}, {"del", "-old"}, {"add", "+new"}, {"hunk", `\ No newline at end of file`}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("diff lines (-want +got):\n%s", diff)
	}
	if diffLines("") != nil {
		t.Error("no diff has lines")
	}
}

// The page's own script and stylesheet are served from the binary, and
// the pages load nothing from elsewhere.
func TestNothingFromElsewhere(t *testing.T) {
	base, _, _ := startView(t, Options{})
	for _, p := range []string{"/static/app.js", "/static/style.css"} {
		if code, body := get(t, base+p); code != 200 || len(body) == 0 {
			t.Errorf("%s: %d, %d bytes", p, code, len(body))
		}
	}
	external := regexp.MustCompile(`(?i)(src|href)="(https?:)?//`)
	for _, p := range []string{"/", "/commit/" + seatSHA, "/host/statler.example.com", "/fleet"} {
		_, page := get(t, base+p)
		if m := external.FindString(page); m != "" {
			t.Errorf("%s loads from elsewhere: %s", p, m)
		}
	}
	_, css := get(t, base+"/static/style.css")
	if strings.Contains(css, "@import") || strings.Contains(css, "url(") {
		t.Error("the stylesheet fetches something")
	}
}
