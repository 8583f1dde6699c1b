package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/balcony-dev/balcony/pkg/credentials"
)

func credentialsCmd() *cobra.Command {
	var spec credentials.Spec
	var hostsFile string
	cmd := &cobra.Command{
		Use:   "credentials --dir DIR [--host H]... [--hosts-file F] [--person LOGIN]... [--services]",
		Short: "Write the bus credentials of hosts, people and services, and the server's users",
		Long: `credentials writes one NATS nkey seed per identity into --dir: hosts/<host>.nk
for each agent, people/<login>.nk for each person, services/<role>.nk for the
nooper, committer, approver, applier and chat bridge (--services). A seed that
exists is kept, so running it again, or with more hosts, changes no credential
already handed out. It then writes DIR/users.conf: every identity whose seed is
in DIR, with its role's permissions (docs/security.md), for the server's
configuration to include (deploy/balcony-server.conf). Give each daemon its
seed with --nats-creds; the nooper, which embeds the server, too. Remove an
identity by deleting its seed and running the command again.`,
		Example: `  nooper credentials --dir /etc/balcony/credentials --services \
      --hosts-file /etc/balcony/hosts --person kermit --person piggy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if spec.Dir == "" {
				return fmt.Errorf("--dir is required")
			}
			if hostsFile != "" {
				hosts, err := readHosts(hostsFile)
				if err != nil {
					return err
				}
				spec.Hosts = append(spec.Hosts, hosts...)
			}
			ids, err := credentials.Generate(spec)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d identities in %s/%s\n", len(ids), spec.Dir, credentials.UsersFile)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Dir, "dir", "", "directory of the seeds and users.conf; required")
	f.StringArrayVar(&spec.Hosts, "host", nil, "a host to make an agent identity for (repeatable)")
	f.StringVar(&hostsFile, "hosts-file", "", "a file of host names, one a line (# comments)")
	f.StringArrayVar(&spec.People, "person", nil, "a login to make a person identity for (repeatable)")
	f.BoolVar(&spec.Services, "services", false, "make the identities of the nooper, committer, approver, applier, chat bridge and web view")
	return cmd
}

// readHosts reads host names, one a line; blank lines and # comments are
// skipped.
func readHosts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--hosts-file: %w", err)
	}
	defer f.Close()
	var hosts []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			hosts = append(hosts, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--hosts-file: %w", err)
	}
	return hosts, nil
}
