package web

import (
	"fmt"
	"strings"

	"github.com/balcony-dev/balcony/pkg/applier"
	"github.com/balcony-dev/balcony/pkg/approver"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/owners"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
	"github.com/balcony-dev/balcony/pkg/review"
	"github.com/balcony-dev/balcony/pkg/rollout"
)

// What the templates render, built from the services' answers by pure
// functions.

// groupView is one change group as a page shows it.
type groupView struct {
	ID, Resource, File string
	Line               int
	DefineType         string
	Hosts              []string
	// HostsText is the hosts compressed ({a,b}.example.com).
	HostsText         string
	Events            []report.Event
	Diff              []diffLine
	Logs              []string
	Failed            bool
	ChangedDuringNoop bool
	NoopFalse         bool
	// Approval is the group's approval state; nil when none is known
	// (the noop is not ready, or the group is withdrawn or drift).
	Approval *owners.GroupStatus
	// Owners are who may approve it, one line per way.
	Owners []string
}

// diffLine is one line of a diff and its kind: hdr, hunk, add, del or
// ctx (the CSS class that colours it).
type diffLine struct {
	Class, Text string
}

// diffLines splits a unified diff into coloured lines.
func diffLines(diff string) []diffLine {
	if diff == "" {
		return nil
	}
	var out []diffLine
	for line := range strings.SplitSeq(strings.TrimRight(diff, "\n"), "\n") {
		class := "ctx"
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			class = "hdr"
		case strings.HasPrefix(line, "@@"):
			class = "hunk"
		case strings.HasPrefix(line, "+"):
			class = "add"
		case strings.HasPrefix(line, "-"):
			class = "del"
		case strings.HasPrefix(line, `\`):
			class = "hunk"
		}
		out = append(out, diffLine{Class: class, Text: line})
	}
	return out
}

// groupViews renders gs with their approval states (by group ID, when
// known).
func groupViews(gs []delta.Group, approvals map[string]*owners.GroupStatus) []groupView {
	out := make([]groupView, 0, len(gs))
	for _, g := range gs {
		r := g.Resource
		v := groupView{
			ID: g.ID, Resource: r.ID, File: r.File, Line: r.Line, DefineType: r.DefineType,
			Hosts: g.Hosts, HostsText: review.CompressHosts(g.Hosts),
			Events: r.Events, Diff: diffLines(r.Diff), Logs: r.Logs,
			Failed: r.Failed, ChangedDuringNoop: g.ChangedDuringNoop || r.ChangedDuringNoop, NoopFalse: g.NoopFalse || r.NoopFalse,
		}
		if a := approvals[g.ID]; a != nil {
			v.Approval = a
			v.Owners = ownerLines(a.Owners)
		}
		out = append(out, v)
	}
	return out
}

// ownerLines says who owns a group, one line per way of approving it.
func ownerLines(o owners.GroupOwners) []string {
	var out []string
	add := func(what string, own owners.Ownership) {
		if own.Path == "" || len(own.Owners) == 0 {
			return
		}
		out = append(out, fmt.Sprintf("%s %s: %s", what, own.Path, strings.Join(own.Owners, " ")))
	}
	add("file", o.File)
	add("module", o.Module)
	for _, n := range o.Nodes {
		add("node file", n.Ownership)
	}
	return out
}

// approvalsByGroup indexes an approval state by group ID.
func approvalsByGroup(ap *approver.StatusReply) map[string]*owners.GroupStatus {
	if ap == nil {
		return nil
	}
	out := make(map[string]*owners.GroupStatus, len(ap.Status.Groups))
	for i := range ap.Status.Groups {
		out[ap.Status.Groups[i].ID] = &ap.Status.Groups[i]
	}
	return out
}

// errorView is one failure of a noop and where.
type errorView struct {
	Message   string
	HostsText string
	Hosts     []string
}

func errorViews(es []delta.ErrorGroup) []errorView {
	out := make([]errorView, 0, len(es))
	for _, e := range es {
		out = append(out, errorView{Message: e.Message, HostsText: review.CompressHosts(e.Hosts), Hosts: e.Hosts})
	}
	return out
}

// rolloutView is a rollout's progress per set.
type rolloutView struct {
	ID     string
	Target protocol.Commit
	Short  string
	Step   string
	Halted string
	Stages []stageView
	// Blocked says why no rollout runs, when none does.
	Blocked string
}

// stageView is one set's hosts per state, and the share of each for a
// bar.
type stageView struct {
	Set    string
	Counts rollout.Counts
	Total  int
	Parts  []barPart
}

// barPart is one state's share of a set's bar, in per cent, and where
// it starts.
type barPart struct {
	State   string
	N       int
	Percent float64
	Offset  float64
}

func rolloutOf(st *applier.StatusReply) *rolloutView {
	if st == nil {
		return nil
	}
	if st.Rollout == nil {
		if st.Blocked == "" {
			return nil
		}
		return &rolloutView{Blocked: st.Blocked}
	}
	r := st.Rollout
	v := &rolloutView{ID: r.ID, Target: r.Target, Short: protocol.Short(r.Target.SHA), Blocked: st.Blocked}
	if st.Step != nil {
		v.Step = string(st.Step.Kind)
		if st.Step.Set != "" && st.Step.Kind != rollout.StepComplete {
			v.Step += " at set " + st.Step.Set
		}
	}
	if r.State == applier.StateCancelled {
		v.Step = "cancelled by " + r.CancelledBy
	}
	if h := r.Progress.Halted; h != nil {
		v.Halted = strings.TrimSpace(h.Set + ": " + h.Reason)
	}
	for _, s := range st.Stages {
		c := s.Counts
		sv := stageView{Set: s.Set, Counts: c, Total: c.Done + c.Failed + c.Skipped + c.Running + c.Pending}
		offset := 0.0
		for _, p := range []barPart{{State: "done", N: c.Done}, {State: "failed", N: c.Failed}, {State: "skipped", N: c.Skipped}, {State: "running", N: c.Running}, {State: "pending", N: c.Pending}} {
			if p.N > 0 && sv.Total > 0 {
				p.Percent = 100 * float64(p.N) / float64(sv.Total)
				p.Offset = offset
				offset += p.Percent
				sv.Parts = append(sv.Parts, p)
			}
		}
		v.Stages = append(v.Stages, sv)
	}
	return v
}

// hostInRollout is a host's state in the current rollout and why, empty
// when it is not in it.
func hostInRollout(st *applier.StatusReply, host string) (state, reason string) {
	if st == nil || st.Rollout == nil {
		return "", ""
	}
	r := st.Rollout
	if why := r.NotPlanned[host]; why != "" {
		return "not planned", why
	}
	for _, s := range r.Plan.Stages {
		for _, b := range s.Batches {
			for _, h := range b {
				if h == host {
					p := r.Progress.Host(host)
					why := p.Reason
					if res, ok := r.Results[host]; ok && res.PuppetSeconds > 0 {
						why = strings.TrimPrefix(fmt.Sprintf("%s; apply %.1f s of Puppet", why, res.PuppetSeconds), "; ")
					}
					return fmt.Sprintf("%s (set %s)", p.State, s.Set), why
				}
			}
		}
	}
	return "", ""
}

// lockOf is host's lock in the applier's status, nil when unlocked.
func lockOf(st *applier.StatusReply, host string) *applier.Lock {
	if st == nil {
		return nil
	}
	for i := range st.Locks {
		if st.Locks[i].Host == host {
			return &st.Locks[i]
		}
	}
	return nil
}
