package nooper

import (
	"fmt"

	"github.com/balcony-dev/balcony/pkg/delta"
)

// Config is the nooper's configuration, read from a YAML file by its
// command.
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

// Validate checks the config: every ignored resource has a type, a title
// that compiles and a purpose.
func (c Config) Validate() error {
	for i, ig := range c.IgnoredResources {
		if ig.Purpose == "" {
			return fmt.Errorf("ignored_resources[%d] (%s %s) needs a purpose", i, ig.Type, ig.Title)
		}
	}
	return c.Delta().Validate()
}

// Delta is the delta options the config describes.
func (c Config) Delta() delta.Options {
	var o delta.Options
	for _, ig := range c.IgnoredResources {
		o.Ignored = append(o.Ignored, delta.IgnoredResource{Type: ig.Type, Title: ig.Title, Purpose: ig.Purpose})
	}
	return o
}
