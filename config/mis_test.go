package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mypt/config"
)

func TestMISSection(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pw := filepath.Join(dir, "mis-password")
	if err := os.WriteFile(pw, []byte("Sup3r-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "mypt.yaml")
	yaml := `
mis:
  enabled: true
  host: mis.college.internal
  database: ProSolution
  user: mypt_reader
  password_file: ` + pw + `
  poll_interval: 2m
  queries:
    attendance_mark: SELECT MarkID, RowVer FROM v WHERE RowVer > @p1 AND RowVer < @p2 ORDER BY v.RowVer
  key_queries:
    attendance_mark: SELECT CONVERT(nvarchar(40), ID) FROM dbo.RegisterMark
`
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, []string{"MYPT_MIS_BATCH_ROWS=5000"})
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.MIS
	if m.PollInterval != 2*time.Minute || m.BatchRows != 5000 || m.Port != 1433 || m.Encrypt != "true" || m.ReconcileAt != "02:30" {
		t.Errorf("mis = %+v", m)
	}
	if m.Password.Reveal() != "Sup3r-secret" {
		t.Errorf("password from file: %q", m.Password.Reveal())
	}
	if s := fmt.Sprintf("%v %+v %#v", m, m, m); strings.Contains(s, "Sup3r-secret") {
		t.Error("the password prints")
	}
	for _, p := range m.Problems() {
		t.Errorf("problem: %s", p)
	}
	bad := config.DefaultMIS()
	bad.Enabled, bad.Encrypt, bad.ReconcileAt, bad.Entities = true, "maybe", "2:30", []string{"pupil"}
	got := strings.Join(bad.Problems(), "\n")
	for _, want := range []string{"host:", "password:", "encrypt:", "reconcile_at:", `unknown entity "pupil"`} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}
