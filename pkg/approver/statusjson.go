package approver

import (
	"encoding/json"
	"io"

	"github.com/balcony-dev/balcony/pkg/owners"
)

// MarshalJSON encodes r as docs/approval-json.md describes it: every list
// is [] when empty and every map {}, never null. r is not modified.
func (r StatusReply) MarshalJSON() ([]byte, error) {
	type plain StatusReply // no MarshalJSON: no recursion
	p := plain(r)
	if p.Commit.Parents == nil { // a root commit
		p.Commit.Parents = []string{}
	}
	p.Groups, p.Withdrawn = listedViews(r.Groups), listedViews(r.Withdrawn)
	if p.Warnings == nil {
		p.Warnings = []string{}
	}
	p.Approvals = make([]owners.Approval, len(r.Approvals))
	for i, ap := range r.Approvals {
		if ap.Groups == nil {
			ap.Groups = map[string]string{}
		}
		p.Approvals[i] = ap
	}
	return json.Marshal(p) // Status has its own MarshalJSON
}

// WriteJSON writes r as indented JSON, as `approver status --json` prints
// it.
func (r *StatusReply) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func listedViews(views []GroupView) []GroupView {
	out := make([]GroupView, len(views))
	for i, v := range views {
		if v.Hosts == nil {
			v.Hosts = []string{}
		}
		out[i] = v
	}
	return out
}
