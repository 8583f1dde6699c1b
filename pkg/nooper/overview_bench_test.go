package nooper

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/bus/bustest"
	"github.com/balcony-dev/balcony/pkg/delta"
	"github.com/balcony-dev/balcony/pkg/protocol"
	"github.com/balcony-dev/balcony/pkg/report"
)

// BenchmarkOverview: what one answer of the overview's endpoints costs the
// nooper (the web view asks for one per page, and again on every event an
// open page follows), with a chain of noops stored, each of the whole
// fleet with one change on every host: commits (the list), hosts (the
// fleet) and host (one host's page). Every answer reads every stored noop.
func BenchmarkOverview(b *testing.B) {
	for _, size := range []struct{ hosts, noops int }{{1000, 20}, {10000, 20}, {10000, 100}} {
		hosts, overviewNoops := size.hosts, size.noops
		b.Run(fmt.Sprintf("hosts=%d/noops=%d", hosts, overviewNoops), func(b *testing.B) {
			ctx := context.Background()
			conn := bustest.Start(b)
			s, err := openStore(ctx, conn.JS)
			if err != nil {
				b.Fatal(err)
			}
			names := make([]string, hosts)
			applied := map[string]string{}
			for i := range names {
				names[i] = fmt.Sprintf("host%05d.example.com", i)
			}
			parent := ""
			began := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			for i := range overviewNoops {
				sha := fmt.Sprintf("%040x", i+1)
				c := &Collection{Repo: "puppet", Branch: "main", State: StateReady, Hosts: names,
					Commit:  protocol.Commit{SHA: sha, Subject: fmt.Sprintf("change %d", i), Time: began.Add(time.Duration(i) * time.Minute)},
					Started: began.Add(time.Duration(i) * time.Minute), Finished: began.Add(time.Duration(i)*time.Minute + 30*time.Second),
					Result: &delta.Result{Commit: sha, Parent: parent, Hosts: names, Groups: []delta.Group{{
						ID: fmt.Sprintf("%012x", i), Hosts: names,
						Resource: report.Resource{ID: "File[/etc/motd]", Type: "File", Title: "/etc/motd", File: "modules/motd/manifests/init.pp",
							Events: []report.Event{{Property: "content", Previous: "{sha256}aa", Desired: "{sha256}bb", Status: "noop"}}},
					}}},
				}
				if parent != "" {
					c.Commit.Parents = []string{parent}
					c.Chain = []string{parent}
					c.LastApplied = applied
					for _, h := range names {
						applied[h] = fmt.Sprintf("%040x", 1)
					}
				}
				if err := s.saveCollection(ctx, c); err != nil {
					b.Fatal(err)
				}
				parent = sha
			}
			for _, h := range names {
				data, err := bus.Marshal(protocol.HostInfo{Host: h, LastApplied: fmt.Sprintf("%040x", 1), Seen: began})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.hosts.Put(ctx, h, data); err != nil {
					b.Fatal(err)
				}
			}
			n := &Nooper{store: s, log: zerolog.Nop(), opts: Options{Now: time.Now, StaleHost: time.Hour}}
			for _, e := range []struct {
				name string
				ask  func() error
			}{
				{"commits", func() error { _, err := n.commitsReply(ctx, nil); return err }},
				{"hosts", func() error { _, err := n.hostsReply(ctx); return err }},
				{"host", func() error { _, err := n.hostReply(ctx, []byte(names[0])); return err }},
			} {
				b.Run(e.name, func(b *testing.B) {
					for b.Loop() {
						if err := e.ask(); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}
