// Package balcony holds the project's embedded declarations; the code lives
// in pkg/ and cmd/.
package balcony

import _ "embed"

// StreamsYAML is streams.yaml, the single declaration of balcony's streams
// and key-value buckets.
//
//go:embed streams.yaml
var StreamsYAML []byte
