package mssql_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// deploy/mssql/compose.yaml starts SQL Server 2022 on 127.0.0.1:14330 and loads the contract
// (01), the sample data and the read-only login (03); its sa password is the one the documented
// MYPT_TEST_MSSQL_DSN uses.
func TestMSSQLComposeFile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "mssql", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Entrypoint  []string          `yaml:"entrypoint"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	db, init := c.Services["mssql"], c.Services["init"]
	if !strings.Contains(db.Image, "mssql/server:2022") || !strings.Contains(init.Image, "mssql/server:2022") {
		t.Errorf("images %q %q, want SQL Server 2022", db.Image, init.Image)
	}
	if len(db.Ports) != 1 || db.Ports[0] != "127.0.0.1:14330:1433" {
		t.Errorf("ports %v", db.Ports)
	}
	pass := db.Environment["MSSQL_SA_PASSWORD"]
	if pass == "" || !strings.Contains(string(raw), "sqlserver://sa:"+pass+"@127.0.0.1:14330?database=master") {
		t.Error("the documented MYPT_TEST_MSSQL_DSN does not match the sa password and port")
	}
	script := strings.Join(init.Entrypoint, "\n")
	last := -1
	for _, f := range []string{"01_contract_views.sql", "sample_data.sql", "03_readonly_login.sql"} {
		i := strings.Index(script, "/scripts/"+f)
		if i < 0 {
			t.Errorf("the init service does not run %s", f)
		} else if i < last {
			t.Errorf("%s runs out of order", f)
		}
		last = i
		if _, err := os.Stat(filepath.Join("..", "..", "deploy", "mssql", f)); err != nil {
			t.Error(err)
		}
	}
	if !strings.Contains(script, "-P "+pass) {
		t.Error("the init service logs in with another sa password")
	}
	if len(init.Volumes) != 1 || init.Volumes[0] != "./:/scripts:ro" {
		t.Errorf("init volumes %v", init.Volumes)
	}
}
