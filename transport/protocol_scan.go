package transport

import (
	"bytes"

	"github.com/wealthwarriors/wealthcoach/internal/jsonscan"
)

// maxJSONDepth is the nesting limit of client frames, encoding/json's.
const maxJSONDepth = jsonscan.MaxDepth

// keySet remembers the unknown keys of one frame, to refuse a repeated one.
// Frames carry few keys, so a short list searched in order serves; past
// that a map keeps a frame made of thousands of keys linear.
type keySet struct {
	list [8][]byte
	n    int
	m    map[string]struct{}
}

// add records key and reports whether it was new.
func (k *keySet) add(key []byte) bool {
	if k.m != nil {
		if _, ok := k.m[string(key)]; ok {
			return false
		}
		k.m[string(key)] = struct{}{}
		return true
	}
	for _, seen := range k.list[:k.n] {
		if bytes.Equal(seen, key) {
			return false
		}
	}
	if k.n < len(k.list) {
		k.list[k.n] = key
		k.n++
		return true
	}
	k.m = make(map[string]struct{}, 4*len(k.list))
	for _, seen := range k.list {
		k.m[string(seen)] = struct{}{}
	}
	k.m[string(key)] = struct{}{}
	return true
}
