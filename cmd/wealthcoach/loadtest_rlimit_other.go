//go:build !linux

package main

import "errors"

func openFileLimit() (soft, hard uint64, err error) {
	return 0, 0, errors.New("open-file limit unknown on this system")
}

func selfCPU() int64 { return 0 }
