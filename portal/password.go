package portal

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params is the cost of an argon2id password hash.
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	SaltLen     uint32
	KeyLen      uint32
}

// DefaultArgon2Params is OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
func DefaultArgon2Params() Argon2Params {
	return Argon2Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

// MaxPasswordBytes bounds what we hash, so a huge "password" cannot tie up the CPU.
const MaxPasswordBytes = 1024

// ErrBadHash means a stored password hash is not an argon2id PHC string we accept.
var ErrBadHash = errors.New("password: not an argon2id hash")

// HashPassword returns password hashed with argon2id under p, as a PHC string
// ($argon2id$v=19$m=…,t=…,p=…$salt$key, unpadded base64).
func HashPassword(password string, p Argon2Params) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", fmt.Errorf("password: longer than %d bytes", MaxPasswordBytes)
	}
	if p.SaltLen == 0 {
		p.SaltLen = 16
	}
	if p.KeyLen == 0 {
		p.KeyLen = 32
	}
	salt := make([]byte, p.SaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Iterations,
		p.Parallelism, base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// parsePHC reads a PHC string written by HashPassword, refusing costs outside sane limits so a
// corrupt or hostile stored hash cannot make verification take gigabytes.
func parsePHC(phc string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, ErrBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil {
		return p, nil, nil, ErrBadHash
	}
	if p.MemoryKiB < 8 || p.MemoryKiB > 1<<20 || p.Iterations < 1 || p.Iterations > 20 || p.Parallelism < 1 || p.Parallelism > 16 {
		return p, nil, nil, ErrBadHash
	}
	if salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, ErrBadHash
	}
	if key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, ErrBadHash
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// VerifyPassword reports whether password matches the PHC hash, comparing in constant time.
// It returns ErrBadHash (and false) for a hash it cannot read.
func VerifyPassword(password, phc string) (bool, error) {
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	tooLong := len(password) > MaxPasswordBytes
	if tooLong {
		// Never a match, but it costs the same as one: a shortcut here would tell a real
		// account (whose sign-in writes a failed attempt) from an unknown one by timing.
		password = password[:MaxPasswordBytes]
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	return subtle.ConstantTimeCompare(got, key) == 1 && !tooLong, nil
}

// NeedsRehash reports whether phc was made with a cost other than p.
func NeedsRehash(phc string, p Argon2Params) bool {
	q, _, _, err := parsePHC(phc)
	return err != nil || q.MemoryKiB != p.MemoryKiB || q.Iterations != p.Iterations || q.Parallelism != p.Parallelism
}
