// Package mypt is the domain of mypt, a read-only parent portal for a further-education college.
//
// It holds the entities mirrored from the college's MIS (DESIGN §3), their validation, the
// attendance maths, the eligibility rules and the shape of an ingest batch. It imports only the
// standard library; storage, the MIS, mail and HTTP live in the adapters and in portal/syncer.
package mypt

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrNotFound means the thing asked for does not exist or may not be seen by the caller.
	ErrNotFound = errors.New("not found")
	// ErrInvalid means input failed validation; the wrapping error names the field.
	ErrInvalid = errors.New("invalid")
	// ErrLocked means the account is locked.
	ErrLocked = errors.New("account locked")
	// ErrConflict means the change conflicts with the current state (e.g. a reused batch id with other content).
	ErrConflict = errors.New("conflict")
	// ErrRefused means a guard refused an operation (e.g. a snapshot deleting too many rows).
	ErrRefused = errors.New("refused")
)

// FieldError names one bad field and why. It wraps ErrInvalid.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// FieldErrors is a list of field problems, reported together.
type FieldErrors []*FieldError

func (es FieldErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (es FieldErrors) Unwrap() error { return ErrInvalid }

// add records a problem with field.
func (es *FieldErrors) add(field, format string, args ...any) {
	*es = append(*es, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
}

// err returns nil when there are no problems, so a nil FieldErrors never becomes a non-nil error.
func (es FieldErrors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}
