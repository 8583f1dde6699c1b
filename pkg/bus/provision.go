package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/balcony-dev/balcony"
)

// Declaration is the content of streams.yaml.
type Declaration struct {
	Streams []StreamDecl `yaml:"streams"`
	KV      []KVDecl     `yaml:"kv"`
	Objects []ObjectDecl `yaml:"objects"`
}

// StreamDecl declares one stream. Every stream uses limits retention and
// file storage.
type StreamDecl struct {
	Name              string        `yaml:"name"`
	Description       string        `yaml:"description"`
	Subjects          []string      `yaml:"subjects"`
	MaxAge            time.Duration `yaml:"max_age"`
	MaxBytes          int64         `yaml:"max_bytes"`
	MaxMsgsPerSubject int64         `yaml:"max_msgs_per_subject"`
	DuplicateWindow   time.Duration `yaml:"duplicate_window"`
	AllowDirect       bool          `yaml:"allow_direct"`
	Replicas          int           `yaml:"replicas"`
}

// KVDecl declares one key-value bucket.
type KVDecl struct {
	Bucket       string        `yaml:"bucket"`
	Description  string        `yaml:"description"`
	History      uint8         `yaml:"history"`
	TTL          time.Duration `yaml:"ttl"`
	MaxValueSize int32         `yaml:"max_value_size"`
	Replicas     int           `yaml:"replicas"`
}

// ObjectDecl declares one object store bucket: where values too large
// for a key-value bucket go (a message is at most the server's
// max_payload).
type ObjectDecl struct {
	Bucket      string        `yaml:"bucket"`
	Description string        `yaml:"description"`
	TTL         time.Duration `yaml:"ttl"`
	MaxBytes    int64         `yaml:"max_bytes"`
	Replicas    int           `yaml:"replicas"`
}

// ParseDeclaration reads streams.yaml and checks it: names present and
// unique, subjects given.
func ParseDeclaration(data []byte) (*Declaration, error) {
	var d Declaration
	if err := yaml.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("streams.yaml: %w", err)
	}
	seen := map[string]bool{}
	for _, s := range d.Streams {
		if s.Name == "" || len(s.Subjects) == 0 {
			return nil, fmt.Errorf("streams.yaml: stream %q needs a name and subjects", s.Name)
		}
		if seen["stream:"+s.Name] {
			return nil, fmt.Errorf("streams.yaml: stream %q declared twice", s.Name)
		}
		seen["stream:"+s.Name] = true
	}
	for _, b := range d.KV {
		if b.Bucket == "" {
			return nil, errors.New("streams.yaml: a kv bucket needs a name")
		}
		if seen["kv:"+b.Bucket] {
			return nil, fmt.Errorf("streams.yaml: kv bucket %q declared twice", b.Bucket)
		}
		seen["kv:"+b.Bucket] = true
	}
	for _, o := range d.Objects {
		if o.Bucket == "" {
			return nil, errors.New("streams.yaml: an object store needs a name")
		}
		if seen["obj:"+o.Bucket] {
			return nil, fmt.Errorf("streams.yaml: object store %q declared twice", o.Bucket)
		}
		seen["obj:"+o.Bucket] = true
	}
	return &d, nil
}

// StreamConfig is the JetStream configuration of the declared stream.
func (s StreamDecl) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              s.Name,
		Description:       s.Description,
		Subjects:          s.Subjects,
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		MaxAge:            s.MaxAge,
		MaxBytes:          orUnlimited(s.MaxBytes),
		MaxMsgs:           -1,
		MaxMsgsPerSubject: orUnlimited(s.MaxMsgsPerSubject),
		Duplicates:        s.DuplicateWindow,
		AllowDirect:       s.AllowDirect,
		Replicas:          max(s.Replicas, 1),
	}
}

// KeyValueConfig is the JetStream configuration of the declared bucket.
func (b KVDecl) KeyValueConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:       b.Bucket,
		Description:  b.Description,
		History:      max(b.History, 1),
		TTL:          b.TTL,
		MaxValueSize: b.MaxValueSize,
		Storage:      jetstream.FileStorage,
		Replicas:     max(b.Replicas, 1),
	}
}

// ObjectStoreConfig is the JetStream configuration of the declared object
// store.
func (o ObjectDecl) ObjectStoreConfig() jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      o.Bucket,
		Description: o.Description,
		TTL:         o.TTL,
		MaxBytes:    orUnlimited(o.MaxBytes),
		Storage:     jetstream.FileStorage,
		Replicas:    max(o.Replicas, 1),
	}
}

func orUnlimited(n int64) int64 {
	if n == 0 {
		return -1
	}
	return n
}

// Provision creates or updates every stream, bucket and object store of d. It is
// idempotent: running it again, from any number of daemons, changes nothing.
func Provision(ctx context.Context, js jetstream.JetStream, d *Declaration) error {
	for _, s := range d.Streams {
		if _, err := js.CreateOrUpdateStream(ctx, s.StreamConfig()); err != nil {
			return fmt.Errorf("provision stream %s: %w", s.Name, err)
		}
	}
	for _, b := range d.KV {
		if _, err := js.CreateOrUpdateKeyValue(ctx, b.KeyValueConfig()); err != nil {
			return fmt.Errorf("provision kv bucket %s: %w", b.Bucket, err)
		}
	}
	for _, o := range d.Objects {
		if _, err := js.CreateOrUpdateObjectStore(ctx, o.ObjectStoreConfig()); err != nil {
			return fmt.Errorf("provision object store %s: %w", o.Bucket, err)
		}
	}
	return nil
}

// ProvisionDeclared provisions the streams.yaml built into the binary.
func ProvisionDeclared(ctx context.Context, js jetstream.JetStream) error {
	d, err := ParseDeclaration(balcony.StreamsYAML)
	if err != nil {
		return err
	}
	return Provision(ctx, js, d)
}

// WaitForStreams returns once every stream of names (a bucket's is
// KV_<bucket>) exists, asking for each one's info only: a daemon that
// does not provision waits for the nooper with no rights beyond its
// role's. It logs what it waits for, and fails only when ctx ends.
func WaitForStreams(ctx context.Context, js jetstream.JetStream, names []string, log zerolog.Logger) error {
	for _, name := range names {
		for wait := 500 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
			_, err := js.Stream(ctx, name)
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrStreamNotFound) {
				return fmt.Errorf("stream %s: %w", name, err)
			}
			log.Info().Str("stream", name).Float64("retry_in_seconds", wait.Seconds()).Msg("waiting for the nooper to provision the bus")
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for stream %s: %w", name, ctx.Err())
			case <-time.After(wait):
			}
		}
	}
	return nil
}
