package portal

import (
	"strings"
	"testing"
)

// A password over MaxPasswordBytes never matches, even when its first MaxPasswordBytes bytes
// are the password (it is hashed all the same, so it answers no faster than a wrong one).
func TestVerifyPasswordTooLong(t *testing.T) {
	t.Parallel()
	pw := strings.Repeat("k", MaxPasswordBytes)
	h, err := HashPassword(pw, Argon2Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := VerifyPassword(pw, h); !ok || err != nil {
		t.Fatalf("the longest allowed password: %v %v", ok, err)
	}
	if ok, err := VerifyPassword(pw+"k", h); ok || err != nil {
		t.Fatalf("a password one byte over the limit matched: %v %v", ok, err)
	}
}
