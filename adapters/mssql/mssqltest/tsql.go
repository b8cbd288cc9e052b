package mssqltest

// The T-SQL a test sends to set up a database on a real SQL Server, accepted here too so the same
// setup code runs against both (adapters/mssql's "tsql" test backend):
//
//   - CREATE DATABASE, ALTER DATABASE, DROP DATABASE, USE: databases are names only (every one
//     shares the server's tables); a created database may be named in the login.
//     ALTER DATABASE … SET ALLOW_SNAPSHOT_ISOLATION ON|OFF switches snapshot isolation (error 3952).
//   - CREATE SCHEMA: accepted, nothing to do (schema prefixes are dropped).
//   - CREATE TABLE with SQL Server types (nvarchar(n|max), date, time(n), datetime, datetime2(n),
//     uniqueidentifier, varbinary(max), bit, int, rowversion …), NULL / NOT NULL, PRIMARY KEY
//     inline or as a table constraint: the table is created as by Server.CreateTable.
//   - INSERT and UPDATE (parameterised or not, multi-row VALUES too) on a table with a rowversion
//     column give every row written a fresh rowversion, as SQL Server does. Written inside an open
//     transaction (BEGIN TRAN or the driver's BeginTx), the rows hold MIN_ACTIVE_ROWVERSION() at
//     the lowest rowversion the transaction allocated until it commits or rolls back. (Writes are
//     not isolated or undone: they are visible at once and a ROLLBACK keeps them. The adapter only
//     reads below MIN_ACTIVE_ROWVERSION(), so it cannot tell.)
//   - BACKUP DATABASE … TO DISK = N'file' and RESTORE DATABASE … FROM DISK = N'file': a copy of
//     every table and of @@DBTS, kept in the server's directory under the file's base name; a
//     restore puts the rows and @@DBTS back (rowversions go back, as after a real restore).

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	reIdent       = `(?:\[[^\]]+\]|"[^"]+"|[\w@#$]+)`
	reObjName     = `(` + reIdent + `(?:\s*\.\s*` + reIdent + `)*)`
	reCreateTable = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+` + reObjName + `\s*\((.*)\)\s*$`)
	reDatabaseCmd = regexp.MustCompile(`(?is)^(CREATE|DROP|ALTER)\s+DATABASE\s+(` + reIdent + `)(.*)$`)
	reSnapshotOpt = regexp.MustCompile(`(?is)\bSET\s+ALLOW_SNAPSHOT_ISOLATION\s+(ON|OFF)\b`)
	reBackup      = regexp.MustCompile(`(?is)^BACKUP\s+DATABASE\s+` + reIdent + `\s+TO\s+DISK\s*=\s*N?'([^']+)'`)
	reRestore     = regexp.MustCompile(`(?is)^RESTORE\s+DATABASE\s+` + reIdent + `\s+FROM\s+DISK\s*=\s*N?'([^']+)'`)
	reWriteTarget = regexp.MustCompile(`(?is)^\s*(?:INSERT\s+(?:INTO\s+)?|UPDATE\s+)` + reObjName)
	reColumnDef   = regexp.MustCompile(`(?is)^(` + reIdent + `)\s+(\w+(?:\s*\(\s*\w+\s*(?:,\s*\w+\s*)?\))?)(.*)$`)
	reKeyCols     = regexp.MustCompile(`(?is)PRIMARY\s+KEY\s*(?:CLUSTERED|NONCLUSTERED)?\s*\(([^)]*)\)`)
)

func unquote(ident string) string {
	ident = strings.TrimSpace(ident)
	if len(ident) >= 2 && (ident[0] == '[' || ident[0] == '"') {
		return ident[1 : len(ident)-1]
	}
	return ident
}

// lastPart is the object name without its schema: [mypt].[Student] → Student.
func lastPart(name string) string {
	parts := regexp.MustCompile(reIdent).FindAllString(name, -1)
	if len(parts) == 0 {
		return unquote(name)
	}
	return unquote(parts[len(parts)-1])
}

// splitTop splits s on commas outside parentheses and quotes.
func splitTop(s string) []string {
	var out []string
	depth, start := 0, 0
	inQ := false
	for i, r := range s {
		switch {
		case inQ:
			if r == '\'' {
				inQ = false
			}
		case r == '\'':
			inQ = true
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

// parseCreateTable reads CREATE TABLE name (col type [NULL|NOT NULL] [PRIMARY KEY], …,
// [CONSTRAINT c] PRIMARY KEY (cols)).
func parseCreateTable(stmt string) (string, []Column, error) {
	m := reCreateTable.FindStringSubmatch(strings.TrimSpace(stmt))
	if m == nil {
		return "", nil, errors.New("cannot read this CREATE TABLE")
	}
	var cols []Column
	keys := map[string]bool{}
	for _, def := range splitTop(m[2]) {
		upper := strings.ToUpper(def)
		if strings.HasPrefix(upper, "CONSTRAINT") || strings.HasPrefix(upper, "PRIMARY") ||
			strings.HasPrefix(upper, "UNIQUE") || strings.HasPrefix(upper, "INDEX") {
			if k := reKeyCols.FindStringSubmatch(def); k != nil {
				for _, c := range strings.Split(k[1], ",") {
					f := strings.Fields(c) // [Col] ASC
					if len(f) > 0 {
						keys[strings.ToLower(unquote(f[0]))] = true
					}
				}
			}
			continue
		}
		cm := reColumnDef.FindStringSubmatch(def)
		if cm == nil {
			return "", nil, fmt.Errorf("cannot read column definition %q", def)
		}
		rest := " " + strings.ToUpper(strings.Join(strings.Fields(cm[3]), " ")) + " "
		c := Column{Name: unquote(cm[1]), Type: strings.Join(strings.Fields(cm[2]), ""),
			Nullable: !strings.Contains(rest, " NOT NULL ") && !strings.Contains(rest, " PRIMARY KEY ")}
		if strings.Contains(rest, " PRIMARY KEY ") {
			keys[strings.ToLower(c.Name)] = true
		}
		if _, err := ParseType(c.Type); err != nil {
			return "", nil, err
		}
		cols = append(cols, c)
	}
	for i := range cols {
		if keys[strings.ToLower(cols[i].Name)] {
			cols[i].Key, cols[i].Nullable = true, false
		}
	}
	return m[1], cols, nil
}

// adminStmt runs the statements of the list at the top of this file other than INSERT/UPDATE;
// handled reports whether st was one of them.
func (c *conn) adminStmt(st string, word string) (handled bool, err error) {
	s := c.s
	switch word {
	case "USE":
		return true, nil
	case "CREATE":
		upper := strings.ToUpper(strings.Join(strings.Fields(st), " "))
		switch {
		case strings.HasPrefix(upper, "CREATE SCHEMA "):
			return true, nil
		case strings.HasPrefix(upper, "CREATE TABLE "):
			name, cols, err := parseCreateTable(st)
			if err != nil {
				return true, err
			}
			return true, s.CreateTable(c.ctx, name, cols...)
		}
	case "BACKUP":
		m := reBackup.FindStringSubmatch(st)
		if m == nil {
			return true, errors.New("BACKUP: only BACKUP DATABASE name TO DISK = N'file'")
		}
		return true, s.backup(c.ctx, m[1])
	case "RESTORE":
		m := reRestore.FindStringSubmatch(st)
		if m == nil {
			return true, errors.New("RESTORE: only RESTORE DATABASE name FROM DISK = N'file'")
		}
		return true, s.restore(c.ctx, m[1])
	}
	m := reDatabaseCmd.FindStringSubmatch(strings.TrimSpace(st))
	if m == nil {
		return false, nil
	}
	name := strings.ToLower(unquote(m[2]))
	s.mu.Lock()
	defer s.mu.Unlock()
	switch strings.ToUpper(m[1]) {
	case "CREATE":
		if s.databases[name] || strings.EqualFold(name, s.opts.Database) {
			return true, sqlError{1801, fmt.Sprintf("Database '%s' already exists. Choose a different database name.", unquote(m[2]))}
		}
		s.databases[name] = true
	case "DROP":
		if !s.databases[name] {
			return true, sqlError{3701, fmt.Sprintf("Cannot drop the database '%s', because it does not exist or you do not have permission.", unquote(m[2]))}
		}
		delete(s.databases, name)
	case "ALTER":
		if o := reSnapshotOpt.FindStringSubmatch(m[3]); o != nil {
			s.noSnapshot.Store(strings.EqualFold(o[1], "OFF"))
		}
	}
	return true, nil
}

// sqlError is an error answered with its own SQL Server number.
type sqlError struct {
	number int32
	msg    string
}

func (e sqlError) Error() string { return e.msg }

// writeTable is the table an INSERT or UPDATE writes, when it has a rowversion column.
func (s *Server) writeTable(st string) *table {
	m := reWriteTarget.FindStringSubmatch(st)
	if m == nil {
		return nil
	}
	t, err := s.table(lastPart(m[1]))
	if err != nil || t.rowver < 0 {
		return nil
	}
	return t
}

// execWrite runs an INSERT or UPDATE (already rewritten) on t and gives each row it wrote the
// next rowversion; inside an open transaction the first one holds MIN_ACTIVE_ROWVERSION().
func (c *conn) execWrite(q string, args []namedArg, t *table) (int64, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(c.ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	q, bound := bindArgs(strings.TrimRight(strings.TrimSpace(q), ";")+" RETURNING rowid", args)
	rows, err := tx.QueryContext(c.ctx, q, bound...)
	if err != nil {
		return 0, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	dbts := s.dbts
	rvCol := t.cols[t.rowver].Name
	if n := len(ids); n > 0 && ids[n-1]-ids[0] == int64(n-1) {
		// One INSERT's rows have consecutive rowids (RETURNING gives them in order): one statement.
		q := fmt.Sprintf(`UPDATE "%s" SET "%s" = unhex(printf('%%016X', ? + rowid)) WHERE rowid BETWEEN ? AND ?`, t.name, rvCol)
		if _, err := tx.ExecContext(c.ctx, q, int64(dbts)+1-ids[0], ids[0], ids[n-1]); err != nil {
			return 0, err
		}
		dbts += uint64(n)
	} else {
		set, err := tx.PrepareContext(c.ctx, fmt.Sprintf(`UPDATE "%s" SET "%s" = ? WHERE rowid = ?`, t.name, rvCol))
		if err != nil {
			return 0, err
		}
		defer set.Close()
		for _, id := range ids {
			dbts++
			if _, err := set.ExecContext(c.ctx, RowVersion(dbts), id); err != nil {
				return 0, err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	if c.tranid != 0 && c.txMinRV == 0 && len(ids) > 0 {
		c.txMinRV = s.dbts + 1
	}
	s.dbts = dbts
	return int64(len(ids)), nil
}

func (s *Server) backupPath(file string) string {
	base := filepath.Base(strings.ReplaceAll(file, `\`, "/"))
	return filepath.Join(s.dir, "backup-"+base)
}

// backup copies every table and @@DBTS (BACKUP DATABASE).
func (s *Server) backup(ctx context.Context, file string) error {
	path := s.backupPath(file)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("BACKUP: %w", err)
	}
	s.backups[path] = s.dbts
	return nil
}

// restore puts back the rows and @@DBTS of a backup (RESTORE DATABASE … WITH REPLACE).
func (s *Server) restore(ctx context.Context, file string) error {
	path := s.backupPath(file)
	s.mu.Lock()
	defer s.mu.Unlock()
	dbts, ok := s.backups[path]
	if !ok {
		return sqlError{3201, fmt.Sprintf("Cannot open backup device '%s'. Operating system error 2(The system cannot find the file specified.).", file)}
	}
	conn, err := s.db.Conn(ctx) // ATTACH is per connection
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS bak`, path); err != nil {
		return fmt.Errorf("RESTORE: %w", err)
	}
	defer conn.ExecContext(context.Background(), `DETACH DATABASE bak`)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range s.tables {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM bak.sqlite_master WHERE type = 'table' AND name = ?`, t.name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM main."%s"`, t.name)); err != nil {
			return fmt.Errorf("RESTORE %s: %w", t.name, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO main."%s" SELECT * FROM bak."%s"`, t.name, t.name)); err != nil {
			return fmt.Errorf("RESTORE %s: %w", t.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.dbts = dbts
	return nil
}

var reDropTable = regexp.MustCompile(`(?is)^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?` + reObjName)

// forgetTable drops the table of a DROP TABLE from the server's list.
func (s *Server) forgetTable(stmt string) {
	m := reDropTable.FindStringSubmatch(strings.TrimSpace(stmt))
	if m == nil {
		return
	}
	s.mu.Lock()
	delete(s.tables, strings.ToLower(lastPart(m[1])))
	s.mu.Unlock()
}

// Backup keeps a copy of every table and of @@DBTS under name, as BACKUP DATABASE does.
func (s *Server) Backup(ctx context.Context, name string) error { return s.backup(ctx, name) }

// Restore puts back the rows and @@DBTS of the backup called name, as RESTORE DATABASE does:
// rows written since are gone and rowversions go back.
func (s *Server) Restore(ctx context.Context, name string) error { return s.restore(ctx, name) }
