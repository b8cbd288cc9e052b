package mssqltest

import (
	"encoding/hex"
	"regexp"
	"strings"
)

// splitStatements splits a T-SQL batch on semicolons outside quotes, brackets and comments.
func splitStatements(sql string) []string {
	var out []string
	var cur strings.Builder
	inQ, inDQ, inBr := false, false, false
	rs := []rune(sql)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case inQ:
			if r == '\'' {
				inQ = false
			}
		case inDQ:
			if r == '"' {
				inDQ = false
			}
		case inBr:
			if r == ']' {
				inBr = false
			}
		case r == '\'':
			inQ = true
		case r == '"':
			inDQ = true
		case r == '[':
			inBr = true
		case r == '-' && i+1 < len(rs) && rs[i+1] == '-':
			for i < len(rs) && rs[i] != '\n' {
				i++
			}
			cur.WriteRune(' ')
			continue
		case r == ';':
			if s := strings.TrimSpace(cur.String()); s != "" {
				out = append(out, s)
			}
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// firstWord is the statement's leading keyword, upper-case.
func firstWord(stmt string) string {
	s := strings.TrimLeft(stmt, " \t\r\n(")
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_')
	})
	if end < 0 {
		end = len(s)
	}
	return strings.ToUpper(s[:end])
}

var (
	reSchema    = regexp.MustCompile(`(?i)(\[mypt\]|\bmypt|\[dbo\]|\bdbo)\s*\.\s*`)
	reMinActive = regexp.MustCompile(`(?i)MIN_ACTIVE_ROWVERSION\s*\(\s*\)`)
	reDBTS      = regexp.MustCompile(`(?i)@@DBTS\b`)
	reTop       = regexp.MustCompile(`(?is)^(\s*SELECT\s+(?:DISTINCT\s+)?)TOP\s*(?:\(\s*(\d+|@\w+)\s*\)|(\d+))\s*`)
	reNolock    = regexp.MustCompile(`(?i)WITH\s*\(\s*NOLOCK\s*\)`)
	reNPrefix   = regexp.MustCompile(`(^|[^\w'])N'`)
	reCastGUID  = regexp.MustCompile(`(?i)CAST\s*\(\s*('[^']*'|@\w+)\s+AS\s+uniqueidentifier\s*\)`)
	reIsNull    = regexp.MustCompile(`(?i)\bISNULL\s*\(`)
	reLen       = regexp.MustCompile(`(?i)\bLEN\s*\(`)
	reSysUTC    = regexp.MustCompile(`(?i)\b(SYSUTCDATETIME|GETUTCDATE)\s*\(\s*\)`)
)

// rewrite turns the T-SQL the adapter sends into SQLite: schema prefixes go (tables live
// in one SQLite database), TOP n becomes LIMIT n, MIN_ACTIVE_ROWVERSION() and @@DBTS become
// binary(8) literals, N” literals lose their prefix.
func rewrite(stmt string, minActive, dbts []byte) string {
	s := reSchema.ReplaceAllString(stmt, "")
	s = reMinActive.ReplaceAllString(s, "X'"+hex.EncodeToString(minActive)+"'")
	s = reDBTS.ReplaceAllString(s, "X'"+hex.EncodeToString(dbts)+"'")
	s = reNolock.ReplaceAllString(s, "")
	s = reNPrefix.ReplaceAllString(s, "$1'")
	s = reCastGUID.ReplaceAllString(s, "UPPER($1)")
	s = reIsNull.ReplaceAllString(s, "IFNULL(")
	s = reLen.ReplaceAllString(s, "LENGTH(")
	s = reSysUTC.ReplaceAllString(s, "strftime('%Y-%m-%d %H:%M:%f','now')")
	if m := reTop.FindStringSubmatch(s); m != nil {
		n := m[2]
		if n == "" {
			n = m[3]
		}
		s = m[1] + s[len(m[0]):] + " LIMIT " + n
	}
	return s
}

// paramNames lists the @names a statement mentions (so only those are bound).
var reParam = regexp.MustCompile(`@(\w+)`)

func paramNames(stmt string) map[string]bool {
	out := map[string]bool{}
	for _, m := range reParam.FindAllStringSubmatch(stmt, -1) {
		out[strings.ToLower(m[1])] = true
	}
	return out
}
