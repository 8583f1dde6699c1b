package bus

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// InboxPrefix is the inbox prefix of a client whose user public key is
// pub: its replies arrive on _INBOX.<pub>.>, which permissions can give
// to it alone.
func InboxPrefix(pub string) string { return "_INBOX." + pub }

// ReadUserKey reads a NATS .creds file or a file holding a bare user nkey
// seed, and returns the user's public key and whether the file is a
// .creds file (a JWT with its seed).
func ReadUserKey(file string) (pub string, creds bool, err error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", false, fmt.Errorf("nats credentials: %w", err)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(data)
	if err != nil {
		return "", false, fmt.Errorf("nats credentials %s: want a .creds file or a user nkey seed (SU...): %w", file, err)
	}
	defer kp.Wipe()
	pub, err = kp.PublicKey()
	if err != nil {
		return "", false, fmt.Errorf("nats credentials %s: %w", file, err)
	}
	return pub, bytes.Contains(data, []byte("BEGIN NATS USER JWT")), nil
}

// authOptions are the options that authenticate opts.CredsFile's user,
// with its own inbox prefix.
func authOptions(opts Options) ([]nats.Option, error) {
	if opts.CredsFile == "" {
		return nil, nil
	}
	pub, creds, err := ReadUserKey(opts.CredsFile)
	if err != nil {
		return nil, err
	}
	auth := nats.UserCredentials(opts.CredsFile)
	if !creds {
		if auth, err = nats.NkeyOptionFromSeed(opts.CredsFile); err != nil {
			return nil, fmt.Errorf("nats credentials %s: %w", opts.CredsFile, err)
		}
	}
	return []nats.Option{auth, nats.CustomInboxPrefix(InboxPrefix(pub))}, nil
}

// tlsOptions verify the server with opts.TLSCA and present opts.TLSCert.
func tlsOptions(opts Options) ([]nats.Option, error) {
	var out []nats.Option
	if opts.TLSCA != "" {
		out = append(out, nats.RootCAs(opts.TLSCA))
	}
	switch {
	case opts.TLSCert != "" && opts.TLSKey != "":
		out = append(out, nats.ClientCert(opts.TLSCert, opts.TLSKey))
	case opts.TLSCert != "" || opts.TLSKey != "":
		return nil, fmt.Errorf("a TLS client certificate needs both its certificate and its key")
	}
	return out, nil
}

// RedactURL hides the passwords and tokens of a comma-separated list of
// NATS URLs, for logs.
func RedactURL(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			if strings.Contains(p, "@") {
				parts[i] = "(unparsable URL)"
			}
			continue
		}
		if u.User != nil {
			if _, hasPass := u.User.Password(); hasPass {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			} else {
				u.User = url.User("xxxxx") // a token
			}
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
