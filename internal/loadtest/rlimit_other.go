//go:build !linux

package loadtest

import "errors"

// OpenFileLimit is unknown off Linux: it always returns an error.
func OpenFileLimit() (soft, hard uint64, err error) {
	return 0, 0, errors.New("open-file limit unknown on this system")
}

func selfCPU() int64 { return 0 }
