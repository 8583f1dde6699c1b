package github

import (
	"context"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v60/github"
)

// TeamMembers returns the logins, lower-cased, of every member of the team
// org/slug (as CODEOWNERS names it, @org/slug), reading every page. Members
// of child teams are included, as GitHub lists them.
func (c *Client) TeamMembers(ctx context.Context, org, slug string) ([]string, error) {
	opts := &gh.TeamListTeamMembersOptions{ListOptions: gh.ListOptions{PerPage: perPage}}
	var logins []string
	for {
		users, resp, err := c.gh.Teams.ListTeamMembersBySlug(ctx, org, slug, opts)
		if err != nil {
			return nil, fmt.Errorf("github: members of team %s/%s (page %d): %w", org, slug, max(opts.Page, 1), err)
		}
		for _, u := range users {
			logins = append(logins, strings.ToLower(u.GetLogin()))
		}
		if resp.NextPage == 0 {
			return logins, nil
		}
		opts.Page = resp.NextPage
	}
}
