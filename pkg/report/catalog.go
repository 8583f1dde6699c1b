package report

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/aymanbagabas/go-udiff"
)

// AddNewFileContents shows the content of the files a run would create.
// In a noop, Puppet reports a new file as "ensure: absent → file" and logs
// no diff, so a change to a file that does not exist yet would be invisible
// to review and to the delta. The compiled catalog (which the agent has
// Puppet write as JSON) holds the desired content: each such file gets a
// diff from /dev/null. Sensitive content and files with show_diff => false
// are left alone, as are contents that are not text given in the catalog
// (a source => URL, say).
func (r *Report) AddNewFileContents(catalog []byte, opts ParseOptions) error {
	var cat struct {
		Resources []struct {
			Type       string         `json:"type"`
			Title      string         `json:"title"`
			Parameters map[string]any `json:"parameters"`
			Sensitive  []string       `json:"sensitive_parameters"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(catalog, &cat); err != nil {
		return fmt.Errorf("parse catalog: %w", err)
	}
	n := newNormalizer(opts)
	contents := map[string]string{} // resource ID → desired content
	paths := map[string]string{}
	for _, res := range cat.Resources {
		if res.Type != "File" || slices.Contains(res.Sensitive, "content") {
			continue
		}
		content, ok := res.Parameters["content"].(string)
		if !ok {
			continue
		}
		if show, ok := res.Parameters["show_diff"].(bool); ok && !show {
			continue
		}
		id := "File[" + n.text(res.Title) + "]"
		contents[id] = n.text(content)
		paths[id] = n.text(res.Title)
		if p, ok := res.Parameters["path"].(string); ok {
			paths[id] = n.text(p)
		}
	}
	for i := range r.Resources {
		res := &r.Resources[i]
		content, ok := contents[res.ID]
		if !ok || res.Diff != "" || !createsFile(res.Events) {
			continue
		}
		res.Diff = udiff.Unified("/dev/null", paths[res.ID], "", content)
	}
	return nil
}

// createsFile tells whether the events create a file that is absent.
func createsFile(events []Event) bool {
	for _, ev := range events {
		if ev.Property == "ensure" && ev.Previous == "absent" && (ev.Desired == "file" || ev.Desired == "present") {
			return true
		}
	}
	return false
}

// MarkNoopFalse records the resources of the compiled catalog that ask
// for noop => false (Puppet takes the string "false" too): their IDs,
// normalized as the report's, in NoopFalse, and NoopFalse on those among
// Resources.
func (r *Report) MarkNoopFalse(catalog []byte, opts ParseOptions) error {
	var cat struct {
		Resources []struct {
			Type       string `json:"type"`
			Title      string `json:"title"`
			Parameters struct {
				Noop any `json:"noop"`
			} `json:"parameters"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(catalog, &cat); err != nil {
		return fmt.Errorf("parse catalog: %w", err)
	}
	n := newNormalizer(opts)
	var ids []string
	for _, res := range cat.Resources {
		if v := res.Parameters.Noop; v == false || v == "false" {
			ids = append(ids, n.text(res.Type+"["+res.Title+"]"))
		}
	}
	slices.Sort(ids)
	r.NoopFalse = slices.Compact(ids)
	for i := range r.Resources {
		if _, found := slices.BinarySearch(r.NoopFalse, r.Resources[i].ID); found {
			r.Resources[i].NoopFalse = true
		}
	}
	return nil
}
