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

// MaxReplicas is the most replicas JetStream keeps of a stream.
const MaxReplicas = 5

// Declaration is the content of streams.yaml.
type Declaration struct {
	// Replicas is how many copies a JetStream cluster keeps of every
	// stream, bucket and object store that does not say otherwise; 0
	// means 1, what a single server can hold. An operator sets it for a
	// cluster with the daemons' --replicas (SetReplicas).
	Replicas int          `yaml:"replicas"`
	Streams  []StreamDecl `yaml:"streams"`
	KV       []KVDecl     `yaml:"kv"`
	Objects  []ObjectDecl `yaml:"objects"`
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

// ValidReplicas checks a replica count: 1 to MaxReplicas. An odd count is
// what a cluster wants (an even one survives no more failures than the
// odd one below it), but an even one works, so it is not refused here.
func ValidReplicas(n int) error {
	if n < 1 || n > MaxReplicas {
		return fmt.Errorf("replicas %d: want 1 to %d (3 for a cluster of 3)", n, MaxReplicas)
	}
	return nil
}

// checkReplicas checks a declared count, where 0 means unset.
func checkReplicas(what string, n int) error {
	if n == 0 {
		return nil
	}
	if err := ValidReplicas(n); err != nil {
		return fmt.Errorf("streams.yaml: %s: %w", what, err)
	}
	return nil
}

// ParseDeclaration reads streams.yaml and checks it: names present and
// unique, subjects given, replica counts 1 to MaxReplicas. The top-level
// replicas count is given to every stream, bucket and object store that
// sets none of its own.
func ParseDeclaration(data []byte) (*Declaration, error) {
	var d Declaration
	if err := yaml.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("streams.yaml: %w", err)
	}
	if err := checkReplicas("top level", d.Replicas); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, s := range d.Streams {
		if s.Name == "" || len(s.Subjects) == 0 {
			return nil, fmt.Errorf("streams.yaml: stream %q needs a name and subjects", s.Name)
		}
		if err := checkReplicas("stream "+s.Name, s.Replicas); err != nil {
			return nil, err
		}
		if s.Replicas == 0 {
			d.Streams[i].Replicas = d.Replicas
		}
		if seen["stream:"+s.Name] {
			return nil, fmt.Errorf("streams.yaml: stream %q declared twice", s.Name)
		}
		seen["stream:"+s.Name] = true
	}
	for i, b := range d.KV {
		if b.Bucket == "" {
			return nil, errors.New("streams.yaml: a kv bucket needs a name")
		}
		if err := checkReplicas("kv bucket "+b.Bucket, b.Replicas); err != nil {
			return nil, err
		}
		if b.Replicas == 0 {
			d.KV[i].Replicas = d.Replicas
		}
		if seen["kv:"+b.Bucket] {
			return nil, fmt.Errorf("streams.yaml: kv bucket %q declared twice", b.Bucket)
		}
		seen["kv:"+b.Bucket] = true
	}
	for i, o := range d.Objects {
		if o.Bucket == "" {
			return nil, errors.New("streams.yaml: an object store needs a name")
		}
		if err := checkReplicas("object store "+o.Bucket, o.Replicas); err != nil {
			return nil, err
		}
		if o.Replicas == 0 {
			d.Objects[i].Replicas = d.Replicas
		}
		if seen["obj:"+o.Bucket] {
			return nil, fmt.Errorf("streams.yaml: object store %q declared twice", o.Bucket)
		}
		seen["obj:"+o.Bucket] = true
	}
	return &d, nil
}

// SetReplicas gives every stream, bucket and object store of d n replicas,
// whatever streams.yaml says: the operator's choice for the bus at hand
// (3 on a cluster of 3), made without rebuilding. Provisioning then
// scales existing streams to n, up or down, keeping their content.
func (d *Declaration) SetReplicas(n int) error {
	if err := ValidReplicas(n); err != nil {
		return err
	}
	d.Replicas = n
	for i := range d.Streams {
		d.Streams[i].Replicas = n
	}
	for i := range d.KV {
		d.KV[i].Replicas = n
	}
	for i := range d.Objects {
		d.Objects[i].Replicas = n
	}
	return nil
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
	return ProvisionDeclaredReplicas(ctx, js, 0)
}

// ProvisionDeclaredReplicas provisions the streams.yaml built into the
// binary with replicas copies of everything (SetReplicas). With replicas
// 0, a stream, bucket or object store that exists keeps the count it has
// and a new one gets streams.yaml's: only an operator's explicit count
// scales the bus, never a daemon started without one. A count the
// servers cannot hold (3 on a single server, or on a cluster of 2) fails
// with the server's reason.
func ProvisionDeclaredReplicas(ctx context.Context, js jetstream.JetStream, replicas int) error {
	d, err := ParseDeclaration(balcony.StreamsYAML)
	if err != nil {
		return err
	}
	if replicas != 0 {
		if err := d.SetReplicas(replicas); err != nil {
			return err
		}
	} else if err := keepReplicas(ctx, js, d); err != nil {
		return err
	}
	if err := Provision(ctx, js, d); err != nil {
		if replicas > 1 {
			return fmt.Errorf("%w (at %d replicas, which needs a JetStream cluster of at least %d servers)", err, replicas, replicas)
		}
		return err
	}
	return nil
}

// keepReplicas gives each declaration of d whose stream exists that
// stream's replica count.
func keepReplicas(ctx context.Context, js jetstream.JetStream, d *Declaration) error {
	current := func(stream string, n *int) error {
		s, err := js.Stream(ctx, stream)
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("provision: stream %s: %w", stream, err)
		}
		*n = s.CachedInfo().Config.Replicas
		return nil
	}
	for i := range d.Streams {
		if err := current(d.Streams[i].Name, &d.Streams[i].Replicas); err != nil {
			return err
		}
	}
	for i := range d.KV {
		if err := current("KV_"+d.KV[i].Bucket, &d.KV[i].Replicas); err != nil {
			return err
		}
	}
	for i := range d.Objects {
		if err := current("OBJ_"+d.Objects[i].Bucket, &d.Objects[i].Replicas); err != nil {
			return err
		}
	}
	return nil
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
