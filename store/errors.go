package store

import "errors"

// ErrNotFound is returned when the user asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned when a user being added already exists.
var ErrExists = errors.New("already exists")

// ErrInvalidID is returned for a user id that no user can have.
var ErrInvalidID = errors.New("invalid user id")
