package codebus

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	shaA = "1111111111111111111111111111111111111111"
	shaB = "2222222222222222222222222222222222222222"
)

// The metadata on each object is a stored record: its keys and encoding
// are fixed here, and whatever the bus holds is checked before use.
func TestInfoMetadata(t *testing.T) {
	i := Info{Kind: KindPack, SHA: shaB, Bases: []string{shaA}, Objects: 7, Size: 900, Full: shaA, Depth: 3, ChainBytes: 2500}
	want := map[string]string{
		"balcony-format": "1", "balcony-commit": shaB, "balcony-bases": shaA, "balcony-objects": "7",
		"balcony-full": shaA, "balcony-depth": "3", "balcony-chain-bytes": "2500",
	}
	if got := i.metadata(); !reflect.DeepEqual(got, want) {
		t.Errorf("metadata %v, want %v", got, want)
	}
	back, err := infoOf(KindPack, shaB, &jetstream.ObjectInfo{ObjectMeta: jetstream.ObjectMeta{Metadata: want}, Size: 900})
	if err != nil || !reflect.DeepEqual(back, i) {
		t.Errorf("read back %+v, %v; want %+v", back, err, i)
	}

	for _, tc := range []struct {
		name, kind, key, value, reason string
	}{
		{"other format", KindPack, "balcony-format", "2", "format"},
		{"other commit", KindPack, "balcony-commit", shaA, "commit"},
		{"bad base", KindPack, "balcony-bases", "HEAD", "base"},
		{"full with bases", KindFull, "", "", "full pack with bases"},
		{"bad full", KindPack, "balcony-full", "main", "full"},
		{"no objects", KindPack, "balcony-objects", "0", "objects"},
		{"negative depth", KindPack, "balcony-depth", "-1", "depth"},
		{"bad chain bytes", KindPack, "balcony-chain-bytes", "many", "chain bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := i.metadata()
			if tc.key != "" {
				m[tc.key] = tc.value
			}
			_, err := infoOf(tc.kind, shaB, &jetstream.ObjectInfo{ObjectMeta: jetstream.ObjectMeta{Metadata: m}})
			if !errors.Is(err, ErrCodeUnverified) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("%v, want ErrCodeUnverified about %q", err, tc.reason)
			}
		})
	}
}

func TestCheckSHA(t *testing.T) {
	for _, s := range []string{"", "HEAD", shaA[:39], strings.ToUpper("abcdef" + shaA[6:]), shaA + "1"} {
		if err := checkSHA(s); !errors.Is(err, ErrBadRevision) {
			t.Errorf("checkSHA(%q) = %v, want ErrBadRevision", s, err)
		}
	}
	if err := checkSHA(shaA); err != nil {
		t.Errorf("checkSHA(full sha) = %v", err)
	}
}
