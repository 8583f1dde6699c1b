package nooper

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/balcony-dev/balcony/pkg/delta"
)

// Config is the nooper's configuration file (YAML).
type Config struct {
	// Branches are the branches whose commits are nooped.
	Branches []string `yaml:"branches"`
	// IgnoredResources are known noise, removed from every delta; each
	// needs a purpose, which reviews show.
	IgnoredResources []IgnoredConfig `yaml:"ignored_resources"`
}

// IgnoredConfig is one ignored resource: a type, a regular expression
// matched against the whole title, and why.
type IgnoredConfig struct {
	Type    string `yaml:"type"`
	Title   string `yaml:"title"`
	Purpose string `yaml:"purpose"`
}

// LoadConfig reads and checks a config file; an empty path is the zero
// Config.
func LoadConfig(path string) (Config, error) {
	var c Config
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("nooper config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("nooper config %s: %w", path, err)
	}
	for i, ig := range c.IgnoredResources {
		if ig.Purpose == "" {
			return c, fmt.Errorf("nooper config %s: ignored_resources[%d] (%s %s) needs a purpose", path, i, ig.Type, ig.Title)
		}
	}
	if err := c.Delta().Validate(); err != nil {
		return c, fmt.Errorf("nooper config %s: %w", path, err)
	}
	return c, nil
}

// Delta is the delta options the config describes.
func (c Config) Delta() delta.Options {
	var o delta.Options
	for _, ig := range c.IgnoredResources {
		o.Ignored = append(o.Ignored, delta.IgnoredResource{Type: ig.Type, Title: ig.Title, Purpose: ig.Purpose})
	}
	return o
}
