package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"mypt/adapters/sqlite"
	"mypt/portal"
)

func TestStaffAdd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := writeConfig(t, "data: {dir: "+dir+"}\ncollege: {name: Croydon College, public_base_url: \"https://parents.example.ac.uk\"}\n"+
		"portal: {argon2: {memory_kib: 1024, iterations: 1}}\n")
	var out, errOut bytes.Buffer
	if err := runStaffIO(ctx, []string{"add", "--email", "Registry@College.ac.uk", "--name", "Registry", "--config", cfg}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	var generated string
	for _, line := range strings.Split(out.String(), "\n") {
		if p, ok := strings.CutPrefix(line, "password "); ok {
			generated = p
		}
	}
	if len(generated) < 20 {
		t.Fatalf("no generated password printed: %q", out.String())
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, err := store.StaffUserByEmail(ctx, "registry@college.ac.uk")
	store.Close()
	if err != nil || u.Name != "Registry" {
		t.Fatalf("staff user %+v %v", u, err)
	}
	if ok, _ := portal.VerifyPassword(generated, u.PasswordHash); !ok {
		t.Fatal("the printed password does not verify")
	}
	// Adding again refuses; --reset with a password on stdin replaces it.
	if err := runStaffIO(ctx, []string{"add", "--email", "registry@college.ac.uk", "--config", cfg}, strings.NewReader(""), &out, &errOut); err == nil {
		t.Fatal("second add succeeded")
	}
	if err := runStaffIO(ctx, []string{"add", "--email", "registry@college.ac.uk", "--password-stdin", "--config", cfg}, strings.NewReader("Password1\n"), &out, &errOut); err == nil || !strings.Contains(err.Error(), "too common") {
		t.Fatalf("weak password accepted: %v", err)
	}
	out.Reset()
	if err := runStaffIO(ctx, []string{"add", "--email", "registry@college.ac.uk", "--password-stdin", "--reset", "--config", cfg}, strings.NewReader("Walnut-Ember-Cascade-93\n"), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "Walnut") {
		t.Fatal("a password from stdin was printed")
	}
	store, _ = sqlite.Open(ctx, filepath.Join(dir, "mypt.db"), sqlite.Options{})
	defer store.Close()
	u, _ = store.StaffUserByEmail(ctx, "registry@college.ac.uk")
	if ok, _ := portal.VerifyPassword("Walnut-Ember-Cascade-93", u.PasswordHash); !ok {
		t.Fatal("reset password does not verify")
	}
}

func TestStaffListDisableEnable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := writeConfig(t, "data: {dir: "+dir+"}\ncollege: {name: Croydon College, public_base_url: \"https://parents.example.ac.uk\"}\n"+
		"portal: {argon2: {memory_kib: 1024, iterations: 1}}\n")
	var out, errOut bytes.Buffer
	run := func(args ...string) error {
		out.Reset()
		errOut.Reset()
		return runStaffIO(ctx, append(args, "--config", cfg), strings.NewReader(""), &out, &errOut)
	}
	for _, email := range []string{"registry@college.ac.uk", "exams@college.ac.uk"} {
		if err := run("add", "--email", email, "--name", "Team "+email[:4]); err != nil {
			t.Fatalf("%v: %s", err, errOut.String())
		}
	}
	store, err := sqlite.Open(ctx, filepath.Join(dir, "mypt.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := store.StaffUserByEmail(ctx, "registry@college.ac.uk")
	raw, _, err := store.CreateStaffSession(ctx, u.ID)
	store.Close()
	if err != nil {
		t.Fatal(err)
	}

	if err := run("disable", "--email", "Registry@College.ac.uk"); err != nil {
		t.Fatalf("disable: %v %s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "registry@college.ac.uk disabled") {
		t.Errorf("disable said %q", out.String())
	}
	if err := run("list"); err != nil {
		t.Fatalf("list: %v %s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "exams@college.ac.uk") || !strings.Contains(lines[1], "active") ||
		!strings.Contains(lines[2], "registry@college.ac.uk") || !strings.Contains(lines[2], "disabled") {
		t.Fatalf("list:\n%s", out.String())
	}
	store, _ = sqlite.Open(ctx, filepath.Join(dir, "mypt.db"), sqlite.Options{})
	if _, err := store.StaffSession(ctx, raw); err == nil {
		t.Error("the disabled user's session survives")
	}
	store.Close()

	if err := run("enable", "--email", "registry@college.ac.uk"); err != nil {
		t.Fatalf("enable: %v %s", err, errOut.String())
	}
	run("list")
	if strings.Contains(out.String(), "disabled") {
		t.Errorf("still disabled:\n%s", out.String())
	}
	if err := run("disable", "--email", "nobody@college.ac.uk"); err == nil || !strings.Contains(err.Error(), "no staff user") {
		t.Errorf("disable an unknown email: %v", err)
	}
	if err := run("disable"); err == nil {
		t.Error("disable without --email succeeded")
	}
}
