package sqlite_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"mypt"
)

// Disabling a staff user ends their sessions in the same transaction; the list shows every
// staff user in email order with their state; enabling again lets them sign in.
func TestStaffDisableEnableAndList(t *testing.T) {
	t.Parallel()
	s, _ := openOutboxStore(t)
	ctx := context.Background()
	sam, err := s.CreateStaffUser(ctx, "Sam@College.ac.uk", "Sam", "h")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateStaffUser(ctx, "alex@college.ac.uk", "Alex", "h"); err != nil {
		t.Fatal(err)
	}
	raw, _, err := s.CreateStaffSession(ctx, sam)
	if err != nil {
		t.Fatal(err)
	}
	raw2, _, _ := s.CreateStaffSession(ctx, sam)

	if err := s.SetStaffDisabled(ctx, "SAM@college.ac.uk", true); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{raw, raw2} {
		if _, err := s.StaffSession(ctx, r); !errors.Is(err, mypt.ErrNotFound) {
			t.Errorf("a disabled staff user's session survives: %v", err)
		}
	}
	if u, _ := s.StaffUser(ctx, sam); !u.Disabled {
		t.Error("not disabled")
	}
	if err := s.RecordStaffLogin(ctx, sam); !errors.Is(err, mypt.ErrLocked) {
		t.Errorf("a disabled staff user signed in: %v", err)
	}
	users, err := s.StaffUsers(ctx)
	if err != nil || len(users) != 2 || users[0].Email != "alex@college.ac.uk" || users[1].Email != "sam@college.ac.uk" ||
		users[0].Disabled || !users[1].Disabled {
		t.Fatalf("staff users %+v %v", users, err)
	}
	if err := s.SetStaffDisabled(ctx, "sam@college.ac.uk", false); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordStaffLogin(ctx, sam); err != nil {
		t.Errorf("an enabled staff user cannot sign in: %v", err)
	}
	if err := s.SetStaffDisabled(ctx, "nobody@college.ac.uk", true); !errors.Is(err, mypt.ErrNotFound) {
		t.Errorf("disable an unknown email: %v", err)
	}
	entries, _ := s.AuditEntries(ctx, time.Time{}, 100)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	if !slices.Contains(actions, "staff_disable") || !slices.Contains(actions, "staff_enable") {
		t.Errorf("disable/enable not audited: %v", actions)
	}
}
