package nooper_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/nooper"
	"github.com/balcony-dev/balcony/pkg/review"
)

// TestShowProgressMoves follows a noop through the show service while its
// hosts answer one at a time: the progress moves with each answer (the
// stored record alone stayed at "0 of N") and names the hosts still
// missing; Wait reports each step and returns the finished review.
func TestShowProgressMoves(t *testing.T) {
	srv := bustest.Start(t)
	hostConn := bustest.Client(t, srv)
	names := []string{fozzie, statler, waldorf}
	holds := map[string]chan struct{}{}
	for _, name := range names {
		holds[name] = make(chan struct{})
		newFakeHost(t, hostConn, name, true, holds[name])
	}
	startNooper(t, srv, testOptions())
	client := nooper.Client{NC: bustest.Client(t, srv).NC}
	ctx := context.Background()
	eventually(t, time.Minute, "the nooper's show service", func() bool {
		_, _, err := client.Show(ctx, revA)
		return errors.Is(err, nooper.ErrUnknownCommit)
	})

	var mu sync.Mutex
	var seen []string
	waited := make(chan error, 1)
	var final review.Document
	go func() {
		doc, _, err := client.Wait(ctx, revA, time.Hour, 10*time.Millisecond, func(p *review.Progress) {
			mu.Lock()
			defer mu.Unlock()
			if p == nil {
				seen = append(seen, "not started")
				return
			}
			seen = append(seen, p.String())
		})
		final = doc
		waited <- err
	}()

	ev := pushEvent()
	ev.Commits, ev.New = ev.Commits[:1], revA
	publishCommitEvent(t, srv, ev)
	// Each host is released once Wait has reported the progress before
	// it, so that every step is seen, however the polls fall.
	for i, name := range append([]string{""}, names...) {
		if name != "" {
			close(holds[name])
		}
		if i == len(names) {
			break // the last answer finishes the noop
		}
		want := review.Progress{Answered: i, Hosts: len(names), Missing: names[i:]}
		var got review.Progress
		eventually(t, time.Minute, fmt.Sprintf("show to say %s", want), func() bool {
			doc, _, err := client.Show(ctx, revA)
			if err != nil || doc.Progress == nil {
				return false
			}
			got = *doc.Progress
			return got.Answered == want.Answered
		})
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("progress after %d answers (-want +got):\n%s", i, diff)
		}
		eventually(t, time.Minute, fmt.Sprintf("Wait to report %s", want), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(seen, want.String())
		})
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if !final.Complete || final.Progress != nil || final.Result == nil || len(final.Result.Groups) != 1 {
		t.Errorf("Wait returned %+v, want the complete review of one group and no progress", final)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, want := range []string{
		"0 of 3 hosts answered; waiting for {fozzie,statler,waldorf}.example.com",
		"1 of 3 hosts answered; waiting for {statler,waldorf}.example.com",
		"2 of 3 hosts answered; waiting for waldorf.example.com",
	} {
		if !slices.Contains(seen, want) {
			t.Errorf("Wait reported %q, want among them %q", seen, want)
		}
	}
}

// TestProgressNamesFewMissing: hosts still missing are named once at most
// review.MissingListed remain.
func TestProgressNamesFewMissing(t *testing.T) {
	for _, tt := range []struct{ hosts, answered, listed int }{
		{3, 0, 3}, {3, 3, 0}, {30, 0, 0}, {30, 19, 0}, {30, 20, 10}, {30, 29, 1},
	} {
		c := &nooper.Collection{Commit: pushEvent().Commits[0]}
		for i := range tt.hosts {
			h := fmt.Sprintf("h%02d.example.com", i)
			c.Hosts = append(c.Hosts, h)
			// Two noops per host; a host counts once both arrived.
			c.Needs = append(c.Needs, nooper.Need{Host: h, Revision: revA, Answered: i < tt.answered}, nooper.Need{Host: h, Revision: revP, Answered: true})
		}
		p := c.Progress()
		if p.Answered != tt.answered || p.Hosts != tt.hosts || len(p.Missing) != tt.listed {
			t.Errorf("%d of %d answered: progress %d of %d, %d missing named; want %d named", tt.answered, tt.hosts, p.Answered, p.Hosts, len(p.Missing), tt.listed)
		}
		if len(p.Missing) > 0 && p.Missing[0] != fmt.Sprintf("h%02d.example.com", tt.answered) {
			t.Errorf("%d of %d answered: missing %v", tt.answered, tt.hosts, p.Missing)
		}
	}
}
