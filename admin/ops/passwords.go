package ops

import (
	"errors"
	"strings"

	"github.com/alexedwards/argon2id"
)

// passwordParams are argon2id parameters following OWASP's minimum
// recommendation (19 MiB, 2 passes), a deliberate cost per sign-in.
var passwordParams = &argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// HashPassword returns the argon2id PHC string of pw.
func HashPassword(pw string) (string, error) {
	return argon2id.CreateHash(pw, passwordParams)
}

// CheckPassword reports whether pw matches the PHC hash.
func CheckPassword(pw, hash string) bool {
	ok, err := argon2id.ComparePasswordAndHash(pw, hash)
	return err == nil && ok
}

// ValidatePassword enforces the minimum for new passwords.
func ValidatePassword(pw string) error {
	if len(pw) < 10 {
		return errors.New("must be at least 10 characters")
	}
	if len(pw) > 256 {
		return errors.New("must be at most 256 characters")
	}
	return nil
}

// NormalizeEmail is the form emails are stored and looked up in.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }
