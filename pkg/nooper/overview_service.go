package nooper

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/protocol"
)

// The overview's subjects, answered in JSON (in chunks when larger than a
// message, like show).
const (
	// CommitsSubject takes a CommitsRequest (or nothing) and answers with
	// a CommitsReply.
	CommitsSubject = "balcony.nooper.commits"
	// HostsSubject answers with a HostsReply: every registered host.
	HostsSubject = "balcony.nooper.hosts"
	// HostSubject takes a host's name and answers with its HostReply.
	HostSubject = "balcony.nooper.host"
)

// addOverview adds the overview's endpoints to svc.
func (n *Nooper) addOverview(ctx context.Context, svc micro.Service) error {
	endpoints := []struct {
		name, subject string
		build         func(ctx context.Context, data []byte) (any, error)
	}{
		{"commits", CommitsSubject, n.commitsReply},
		{"hosts", HostsSubject, func(ctx context.Context, _ []byte) (any, error) { return n.hostsReply(ctx) }},
		{"host", HostSubject, n.hostReply},
	}
	for _, e := range endpoints {
		err := svc.AddEndpoint(e.name, micro.HandlerFunc(func(req micro.Request) {
			n.served.serve(req, n.conn.PayloadLimit(), func() ([]byte, error) {
				rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				reply, err := e.build(rctx, req.Data())
				if err != nil {
					return nil, err
				}
				return json.Marshal(reply)
			})
		}), micro.WithEndpointSubject(e.subject))
		if err != nil {
			return fmt.Errorf("endpoint %s: %w", e.name, err)
		}
	}
	return nil
}

// storedInOrder reads every stored collection, ordered newest first
// (chainOrder), the results of the first load of them filled in even
// when they are in the object store, and the live progress of those
// collecting. Records that cannot be read are left out (and logged).
func (n *Nooper) storedInOrder(ctx context.Context, load int) ([]*Collection, error) {
	var cs []*Collection
	err := each(ctx, n.store.noops, ">", func(key string, value []byte) error {
		var c Collection
		if err := bus.Unmarshal(value, &c); err != nil || c.Commit.SHA != key {
			n.log.Debug().Err(err).Str("key", key).Msg("overview: skipping an unreadable noop record")
			return nil
		}
		cs = append(cs, &c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the noops: %w", err)
	}
	cs = chainOrder(cs)
	for i, c := range cs {
		if i < load && c.ResultObject != "" && c.Result == nil {
			if c.Result, err = n.store.largeResult(ctx, c.ResultObject); err != nil {
				return nil, fmt.Errorf("result of %s: %w", c.Commit.SHA, err)
			}
		}
	}
	return cs, nil
}

func (n *Nooper) commitsReply(ctx context.Context, data []byte) (any, error) {
	var req CommitsRequest
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := json.Unmarshal(data, &req); err != nil {
			return nil, fmt.Errorf("%w: want a JSON CommitsRequest: %v", errBadRequest, err)
		}
	}
	limit := req.Limit
	if limit <= 0 {
		limit = DefaultCommits
	}
	limit = min(limit, MaxCommits)
	cs, err := n.storedInOrder(ctx, limit)
	if err != nil {
		return nil, err
	}
	reply := CommitsReply{Total: len(cs), Commits: []CommitSummary{}}
	for _, c := range cs[:min(limit, len(cs))] {
		s := summarize(c)
		if p, ok := n.liveProgress(c.Commit.SHA); ok && c.State == StateCollecting {
			s.Progress = &p
		}
		reply.Commits = append(reply.Commits, s)
	}
	return reply, nil
}

func (n *Nooper) hostsReply(ctx context.Context) (HostsReply, error) {
	cs, err := n.storedInOrder(ctx, MaxPending)
	if err != nil {
		return HostsReply{}, err
	}
	hosts, err := n.store.liveHosts(ctx)
	if err != nil {
		return HostsReply{}, fmt.Errorf("read the hosts: %w", err)
	}
	slices.SortFunc(hosts, func(a, b protocol.HostInfo) int { return strings.Compare(a.Host, b.Host) })
	reply := HostsReply{Hosts: []HostSummary{}}
	if len(cs) > 0 {
		reply.Head = &cs[0].Commit
	}
	now := n.opts.Now()
	for _, h := range hosts {
		reply.Hosts = append(reply.Hosts, hostSummary(h, stateOf(cs, h.Host, h.LastApplied), now, n.opts.StaleHost))
	}
	return reply, nil
}

func (n *Nooper) hostReply(ctx context.Context, data []byte) (any, error) {
	host := strings.TrimSpace(string(data))
	if err := bus.ValidHost(host); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadRequest, err)
	}
	cs, err := n.storedInOrder(ctx, MaxPending)
	if err != nil {
		return nil, err
	}
	hosts, err := n.store.liveHosts(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the hosts: %w", err)
	}
	info := protocol.HostInfo{Host: host}
	reply := HostReply{Runs: []RunSummary{}, Pending: []PendingCommit{}}
	for _, h := range hosts {
		if h.Host == host {
			info, reply.Registered = h, true
		}
	}
	st := stateOf(cs, host, info.LastApplied)
	reply.HostSummary = hostSummary(info, st, n.opts.Now(), n.opts.StaleHost)
	if st.pending != nil {
		reply.Pending = st.pending
	}
	reply.DriftGroups = st.drift
	// A key is <revision>.<host>: one revision token, then the host's.
	err = each(ctx, n.store.reports, "*."+host, func(_ string, value []byte) error {
		var r protocol.RunResult
		if bus.Unmarshal(value, &r) == nil && r.Host == host {
			reply.Runs = append(reply.Runs, runSummary(&r))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the reports of %s: %w", host, err)
	}
	slices.SortFunc(reply.Runs, func(a, b RunSummary) int { return b.FinishedAt.Compare(a.FinishedAt) })
	reply.Runs = reply.Runs[:min(len(reply.Runs), MaxRuns)]
	if !reply.Registered && len(reply.Runs) == 0 && len(reply.Pending) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownHost, host)
	}
	return reply, nil
}
