package nooper_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/nooper"
)

// The overview the web view reads: the commits along the chain, newest
// first; each host and what is pending there; one host in detail with
// its noops.
func TestOverview(t *testing.T) {
	conn := bustest.Start(t)
	fozzie := newFakeHost(t, conn, "fozzie.example.com", true, nil)
	newFakeHost(t, conn, "statler.example.com", true, nil)
	fozzie.failing = map[string]bool{revB: true}
	startNooper(t, conn, testOptions())
	publishCommitEvent(t, conn, pushEvent())
	waitReady(t, conn, revA)
	waitReady(t, conn, revB)
	ctx := context.Background()
	client := nooper.Client{NC: conn.NC}

	commits, err := client.Commits(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, c := range commits.Commits {
		order = append(order, c.Commit.SHA)
	}
	if diff := cmp.Diff([]string{revB, revA}, order); diff != "" {
		t.Errorf("commits, newest first (-want +got):\n%s", diff)
	}
	if b := commits.Commits[0]; b.State != nooper.StateReady || b.Hosts != 2 || b.Groups != 1 || b.FailedHosts != 1 || b.FirstError == "" || b.Parent != revA {
		t.Errorf("B's summary: %+v", b)
	}
	if a := commits.Commits[1]; a.Groups != 1 || a.FailedHosts != 0 || commits.Total != 2 {
		t.Errorf("A's summary: %+v (total %d)", a, commits.Total)
	}
	if one, err := client.Commits(ctx, 1); err != nil || len(one.Commits) != 1 || one.Total != 2 {
		t.Errorf("a limit of 1: %+v, %v", one, err)
	}

	hosts, err := client.Hosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts.Hosts) != 2 || hosts.Head == nil || hosts.Head.SHA != revB {
		t.Fatalf("hosts: %+v", hosts)
	}
	fz, st := hosts.Hosts[0], hosts.Hosts[1]
	// fozzie's B failed: only A's nginx package is pending there.
	if fz.Host != "fozzie.example.com" || fz.Failed == "" || fz.PendingCommits != 1 || fz.PendingGroups != 1 || fz.Silent {
		t.Errorf("fozzie: %+v", fz)
	}
	if st.Host != "statler.example.com" || st.Failed != "" || st.PendingCommits != 2 || st.PendingGroups != 2 {
		t.Errorf("statler: %+v", st)
	}

	h, err := client.Host(ctx, "statler.example.com")
	if err != nil {
		t.Fatal(err)
	}
	var pending []string
	for _, p := range h.Pending {
		for _, g := range p.Groups {
			pending = append(pending, p.Commit.SHA[:8]+" "+g.Resource.ID)
		}
	}
	if diff := cmp.Diff([]string{revB[:8] + " Service[nginx]", revA[:8] + " Package[nginx]"}, pending); diff != "" {
		t.Errorf("statler's pending changes (-want +got):\n%s", diff)
	}
	// Its noops of P, A and B, each once.
	revs := map[string]int{}
	for _, r := range h.Runs {
		revs[r.Revision]++
	}
	if diff := cmp.Diff(map[string]int{revP: 1, revA: 1, revB: 1}, revs); diff != "" || !h.Registered {
		t.Errorf("statler's runs (-want +got):\n%s (registered %v)", diff, h.Registered)
	}
	if _, err := client.Host(ctx, "gonzo.example.com"); !errors.Is(err, nooper.ErrUnknownHost) {
		t.Errorf("an unknown host: %v", err)
	}
	if _, err := client.Host(ctx, "no host!"); err == nil {
		t.Error("a bad host name was answered")
	}
}
