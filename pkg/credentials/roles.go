// Package credentials is the single source of balcony's NATS permissions:
// what each role may publish and subscribe to, the streams each daemon
// waits for, and the nkey identities and nats-server configuration that
// `nooper credentials` writes.
package credentials

import (
	"fmt"
	"sort"
	"strings"

	"github.com/balcony-dev/balcony/pkg/bus"
	"github.com/balcony-dev/balcony/pkg/codebus"
)

// Role names one kind of bus user.
type Role string

// The roles. Agent and Person have one identity per host and per login;
// the services one each.
const (
	Agent      Role = "agent"
	Committer  Role = "committer"
	Nooper     Role = "nooper"
	Approver   Role = "approver"
	Applier    Role = "applier"
	ChatBridge Role = "chatbridge"
	Web        Role = "web"
	Person     Role = "person"
)

// Services are the roles with one identity each.
var Services = []Role{Nooper, Committer, Approver, Applier, ChatBridge, Web}

// Permissions are one identity's rights, as nats-server's user
// permissions: Publish and Subscribe are allow lists (everything else is
// denied); AllowResponses lets a service answer the requests it receives
// without a right to publish on everyone's inboxes.
type Permissions struct {
	Publish        []string
	Subscribe      []string
	AllowResponses bool
}

// Streams are the streams (buckets as KV_<bucket>) each role's daemon
// uses, so waits for at start until the nooper has provisioned them.
var Streams = map[Role][]string{
	Agent:      {"RUNS", "KV_hosts"},
	Committer:  {"COMMITS", "GITHUB", "KV_triggers"},
	Approver:   {"EVENTS", "GITHUB", "KV_approvals"},
	Applier:    {"RUNS", "REPORTS", "KV_rollout", "KV_hosts"},
	ChatBridge: {"EVENTS", "KV_chatbridge"},
	Web:        {"EVENTS"},
}

// overview is the requests that read what balcony knows, as the web view
// and people ask them.
var overview = []string{
	"balcony.nooper.show", "balcony.nooper.commits", "balcony.nooper.hosts", "balcony.nooper.host",
	"balcony.approver.status", "balcony.applier.status", "balcony.applier.plan",
}

// consumer is the API rights of a durable pull consumer named name on
// stream, filtered on filter, as bus.Conn.Consume uses it.
func consumer(stream, name, filter string) []string {
	return []string{
		"$JS.API.CONSUMER.CREATE." + stream + "." + name + "." + filter,
		"$JS.API.CONSUMER.MSG.NEXT." + stream + "." + name,
		"$JS.API.CONSUMER.INFO." + stream + "." + name,
		"$JS.ACK." + stream + "." + name + ".>",
	}
}

// bucket is the rights of reading and writing every key of a KV bucket,
// listing its keys included.
func bucket(name string) []string {
	s := "KV_" + name
	return []string{
		"$KV." + name + ".>",
		"$JS.API.DIRECT.GET." + s + ".>",
		"$JS.API.CONSUMER.CREATE." + s + ".>",
		"$JS.API.CONSUMER.DELETE." + s + ".>",
		"$JS.API.CONSUMER.INFO." + s + ".>",
		"$JS.FC." + s + ".>",
	}
}

// codeReader is the rights of reading the code object store
// (codebus.Bucket) as jetstream's ObjectStore GetInfo and Get use them: the
// stream's info, direct gets of an object's metadata, and an ordered
// consumer (created, flow-controlled, deleted) that delivers its chunks to
// the reader's inbox. Nothing here writes: publishing on $O.<bucket>.> is
// the writer's alone.
func codeReader() []string {
	s := "OBJ_" + codebus.Bucket
	return []string{
		"$JS.API.STREAM.INFO." + s,
		"$JS.API.DIRECT.GET." + s + ".>",
		"$JS.API.CONSUMER.CREATE." + s + ".>",
		"$JS.API.CONSUMER.DELETE." + s + ".>",
		"$JS.FC." + s + ".>",
	}
}

// codeWriter is the rights of putting objects in the code object store:
// opening it, their chunks and metadata, a look at what a name holds
// before a put, and the purge of the chunks a put replaces. The store is
// not among the committer's Streams: a committer does not wait for it at
// start, and opens it when it first publishes code.
func codeWriter() []string {
	s := "OBJ_" + codebus.Bucket
	return []string{
		"$JS.API.STREAM.INFO." + s,
		"$O." + codebus.Bucket + ".>",
		"$JS.API.DIRECT.GET." + s + ".>",
		"$JS.API.STREAM.PURGE." + s,
	}
}

func streamInfo(role Role) []string {
	var out []string
	for _, s := range Streams[role] {
		out = append(out, "$JS.API.STREAM.INFO."+s)
	}
	return out
}

// service is what every micro service needs: its endpoints and the
// $SRV discovery subjects.
func service(subjects ...string) []string { return append(subjects, "$SRV.>") }

// For returns the permissions of the identity of role named name (a host
// for Agent, a login for Person, ignored otherwise) whose nkey public key
// is pub: its replies come on bus.InboxPrefix(pub).
func For(role Role, name, pub string) (Permissions, error) {
	inbox := bus.InboxPrefix(pub) + ".>"
	var p Permissions
	switch role {
	case Agent:
		if err := bus.ValidHost(name); err != nil {
			return p, err
		}
		runs, _ := bus.HostRunsSubject(name)
		cons := bus.CatchUpConsumer(name)
		p.Publish = append([]string{
			bus.ReportPrefix + "*." + name,
			bus.EventPrefix + "run.*." + name,
			"$KV.hosts." + name,
			"$JS.API.DIRECT.GET.KV_hosts.$KV.hosts." + name,
			// An apply runs only when the approver confirms its range.
			"balcony.approver.status",
			"$JS.API.CONSUMER.CREATE.RUNS." + cons + "." + runs,
			"$JS.API.CONSUMER.MSG.NEXT.RUNS." + cons,
			"$JS.API.CONSUMER.INFO.RUNS." + cons,
			"$JS.API.CONSUMER.DELETE.RUNS." + cons,
		}, append(streamInfo(Agent), codeReader()...)...)
		p.Subscribe = []string{runs, bus.CommitPrefix + ">", inbox}
	case Committer:
		// serve's CI trigger keeps its records in its own bucket and asks
		// the nooper where a noop is, or to do one again.
		// It puts each revision's code in the code object store.
		p.Publish = append(append(append([]string{bus.CommitPrefix + "*", "balcony.github.>",
			"balcony.nooper.show", "balcony.nooper.renoop",
		}, bucket("triggers")...), streamInfo(Committer)...), codeWriter()...)
		p.Subscribe = []string{inbox}
	case Nooper:
		// The bus's owner: it provisions every stream and bucket.
		p.Publish = []string{"$JS.>", "$KV.>", "$O.>", bus.RunPrefix + ">",
			bus.EventPrefix + "noop.>", bus.EventPrefix + "rejected.nooper"}
		p.Subscribe = append(service("balcony.nooper.>"), inbox)
		p.AllowResponses = true
	case Approver:
		p.Publish = append(append(append(append([]string{
			bus.EventPrefix + "approval.>", bus.EventPrefix + "rejected.approver",
			"balcony.nooper.collection",
		}, consumer("EVENTS", "approver-noops", bus.EventPrefix+"noop.ready")...),
			consumer("GITHUB", "approver-github", "balcony.github.comment")...),
			bucket("approvals")...), streamInfo(Approver)...)
		p.Subscribe = append(service("balcony.approver.>"), inbox)
		p.AllowResponses = true
	case Applier:
		p.Publish = append(append(append([]string{
			// Host names have dots: a host is several tokens.
			bus.RunPrefix + "apply.>", bus.EventPrefix + "apply.>", bus.EventPrefix + "rejected.applier",
			// Whether a run it asked reached RUNS, before asking again.
			"$JS.API.DIRECT.GET.RUNS." + bus.RunPrefix + "apply.>",
			"balcony.approver.status", "balcony.nooper.collection", "balcony.nooper.report",
		}, consumer("REPORTS", "applier-reports", bus.ReportPrefix+"apply.>")...),
			// The last applied revisions live in the hosts' records.
			append(bucket("rollout"), bucket("hosts")...)...), streamInfo(Applier)...)
		p.Subscribe = append(service("balcony.applier.>"), inbox)
		p.AllowResponses = true
	case ChatBridge:
		// It authenticates people itself and speaks for them; it reads
		// EVENTS through its own durable consumer and records the lines
		// it sent in its own bucket.
		p.Publish = append(append(append([]string{
			"balcony.approver.approve.*", "balcony.approver.revoke.*", "balcony.approver.status",
			"balcony.nooper.show", "balcony.applier.status",
		}, consumer("EVENTS", "chatbridge", bus.EventPrefix+">")...),
			bucket("chatbridge")...), streamInfo(ChatBridge)...)
		p.Subscribe = []string{inbox}
	case Web:
		// It reads through the services' requests and follows
		// balcony.event.> live (no consumer: a page loads the state,
		// then refreshes when told). Behind an authenticating proxy it
		// approves and revokes as the proxy's user, as the chat bridge
		// does as its speaker's login.
		p.Publish = append(append([]string{"balcony.approver.approve.*", "balcony.approver.revoke.*"},
			overview...), streamInfo(Web)...)
		p.Subscribe = []string{bus.EventPrefix + ">", inbox}
	case Person:
		if err := bus.ValidToken(name); err != nil || strings.ToLower(name) != name {
			return p, fmt.Errorf("login %q: want lower-case letters, digits, '-' or '_'", name)
		}
		p.Publish = append([]string{"balcony.nooper.renoop",
			"balcony.approver.approve." + name, "balcony.approver.revoke." + name,
			"balcony.applier.*." + name}, overview...)
		p.Subscribe = []string{bus.EventPrefix + ">", inbox}
	default:
		return p, fmt.Errorf("unknown role %q", role)
	}
	sort.Strings(p.Publish)
	sort.Strings(p.Subscribe)
	return p, nil
}
