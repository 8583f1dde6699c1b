package main

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/credentials"
	"github.com/balcony-dev/balcony/pkg/credentials/credtest"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

const host = "fozzie.example.com"

// An agent, with its host's credentials alone, asks the approver's status
// service, and reads its answer as the groups and digests it compares.
// With no approver running, it says so.
func TestApproverStatusWithAgentCredentials(t *testing.T) {
	b := credtest.Start(t, credentials.Spec{Hosts: []string{host}}, nil)
	conn := b.Connect(t, credentials.Agent, host)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sha := strings.Repeat("ab", 20)
	status := approverStatus{approver.Client{NC: conn.NC}}

	_, err := status.Approval(ctx, sha)
	if err == nil || !strings.Contains(err.Error(), "no approver is running") {
		t.Errorf("with no approver: %v, want an error saying no approver runs", err)
	}

	svc := b.Connect(t, credentials.Approver, "")
	sub, err := svc.NC.Subscribe(approver.StatusSubject, func(m *nats.Msg) {
		var req approver.StatusRequest
		if err := json.Unmarshal(m.Data, &req); err != nil || req.Revision != sha {
			t.Errorf("status request %q (%v), want one for %s", m.Data, err, sha)
		}
		data, _ := json.Marshal(approver.StatusReply{
			Commit: protocol.Commit{SHA: sha}, Ready: true, Approved: false,
			Groups: []approver.GroupView{{ID: "g1", Digest: "d1"}, {ID: "g2", Digest: "d2"}},
			Status: owners.Status{HeldBack: []string{"the noop failed on statler.example.com"}},
		})
		_ = m.Respond(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe() //nolint:errcheck // test cleanup
	if err := svc.NC.Flush(); err != nil {
		t.Fatal(err)
	}

	got, err := status.Approval(ctx, sha)
	if err != nil {
		t.Fatalf("the agent's status request: %v (violations %q)", err, b.Violations())
	}
	if got.SHA != sha || !got.Ready || got.Approved || !maps.Equal(got.Groups, map[string]string{"g1": "d1", "g2": "d2"}) ||
		len(got.HeldBack) != 1 {
		t.Errorf("approval %+v", got)
	}
	if v := b.Violations(); len(v) != 0 {
		t.Errorf("permissions violations: %q", v)
	}
}
