package mssql_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"mypt"
	"mypt/adapters/mssql"
)

var update = flag.Bool("update", false, "rewrite deploy/mssql/01_contract_views.sql from the contract")

const contractPath = "../../deploy/mssql/01_contract_views.sql"

// contractSQL renders the view contract as T-SQL: typed tables in schema mypt_data (for colleges
// that feed mypt by ETL, and for the compose sample) and one view per entity in schema mypt.
func contractSQL() string {
	var b strings.Builder
	b.WriteString(`-- deploy/mssql/01_contract_views.sql: the contract between the college's MIS and mypt.
--
-- GENERATED from adapters/mssql/contract.go; edit that file and run
--   go test ./adapters/mssql -run TestContractSQL -update
--
-- mypt reads only the views in schema [mypt], one per entity, with these column names and types.
-- Every view has RowVer (rowversion, 8 bytes, compared big-endian): mypt reads rows whose RowVer
-- is above its watermark and below MIN_ACTIVE_ROWVERSION(), ordered by RowVer.
--
-- This script also creates typed tables in schema [mypt_data] behind the views, for a college that
-- fills them by ETL (and for deploy/compose's sample). A college on ProSolution runs
-- 02_prosolution_mapping.sql afterwards, which re-points the views at ProSolution's own tables.
--
-- Recommended: ALTER DATABASE CURRENT SET ALLOW_SNAPSHOT_ISOLATION ON;
-- (mypt reads in SNAPSHOT isolation when allowed, else READ COMMITTED with a warning in its log.)

SET ANSI_NULLS ON;
SET QUOTED_IDENTIFIER ON;
GO
IF SCHEMA_ID(N'mypt') IS NULL EXEC(N'CREATE SCHEMA mypt AUTHORIZATION dbo');
GO
IF SCHEMA_ID(N'mypt_data') IS NULL EXEC(N'CREATE SCHEMA mypt_data AUTHORIZATION dbo');
GO
`)
	for _, v := range mssql.Contract {
		name := strings.TrimPrefix(v.View, "mypt.")
		fmt.Fprintf(&b, "\n-- %s (entity %q), key %s\n", v.View, v.Entity, v.Key)
		fmt.Fprintf(&b, "IF OBJECT_ID(N'mypt_data.%s', N'U') IS NULL\nCREATE TABLE mypt_data.%s (\n", name, name)
		var cols []string
		for _, c := range v.Columns {
			n := "NOT NULL"
			if c.Nullable {
				n = "NULL"
			}
			cols = append(cols, fmt.Sprintf("    [%s] %s %s,\n", c.Name, c.Type, n))
		}
		b.WriteString(strings.Join(cols, ""))
		fmt.Fprintf(&b, "    [RowVer] rowversion NOT NULL,\n    CONSTRAINT [PK_mypt_data_%s] PRIMARY KEY ([%s])\n);\nGO\n", name, v.Key)
		fmt.Fprintf(&b, "IF NOT EXISTS (SELECT 1 FROM sys.indexes WHERE name = N'IX_mypt_data_%s_RowVer')\n    CREATE UNIQUE INDEX [IX_mypt_data_%s_RowVer] ON mypt_data.%s ([RowVer]);\nGO\n", name, name, name)
		names := make([]string, 0, len(v.Columns)+1)
		for _, c := range v.Columns {
			names = append(names, "["+c.Name+"]")
		}
		names = append(names, "[RowVer]")
		fmt.Fprintf(&b, "CREATE OR ALTER VIEW %s AS\nSELECT %s\nFROM mypt_data.%s;\nGO\n", v.View, strings.Join(names, ", "), name)
	}
	return b.String()
}

func TestContractSQL(t *testing.T) {
	want := contractSQL()
	if *update {
		if err := os.WriteFile(contractPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(contractPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("deploy/mssql/01_contract_views.sql is out of step with adapters/mssql/contract.go: run go test ./adapters/mssql -run TestContractSQL -update")
	}
}

func TestContractCoversEveryEntity(t *testing.T) {
	if len(mssql.Contract) != len(mypt.Entities) {
		t.Fatalf("contract has %d views, domain %d entities", len(mssql.Contract), len(mypt.Entities))
	}
	for i, e := range mypt.Entities {
		v := mssql.Contract[i]
		if v.Entity != e || v.View != e.View() {
			t.Errorf("contract[%d] = %s %s, want %s %s", i, v.Entity, v.View, e, e.View())
		}
	}
}
