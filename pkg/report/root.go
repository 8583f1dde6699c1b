package report

import "strings"

// StripRoot removes a simulated host's root directory from every path in
// the report, so that hosts simulated on one machine (each with its own
// root, given to Puppet as a fact) report the same resources as real hosts
// would, and identical changes group across them. A root of "" or "/"
// changes nothing.
func (r *Report) StripRoot(root string) {
	root = strings.TrimSuffix(root, "/")
	if root == "" {
		return
	}
	strip := func(s string) string { return strings.ReplaceAll(s, root+"/", "/") }
	for i := range r.Errors {
		r.Errors[i] = strip(r.Errors[i])
	}
	for i := range r.Resources {
		res := &r.Resources[i]
		res.ID, res.Title, res.Diff = strip(res.ID), strip(res.Title), strip(res.Diff)
		for j := range res.ContainmentPath {
			res.ContainmentPath[j] = strip(res.ContainmentPath[j])
		}
		for j := range res.Events {
			ev := &res.Events[j]
			ev.Previous, ev.Desired, ev.Message = strip(ev.Previous), strip(ev.Desired), strip(ev.Message)
		}
		for j := range res.Logs {
			res.Logs[j] = strip(res.Logs[j])
		}
	}
}
