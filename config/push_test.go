package config

import (
	"strings"
	"testing"
)

func TestPushConfigProblems(t *testing.T) {
	t.Parallel()
	var c PushConfig
	c.setDefaults()
	if ps := c.Problems(); len(ps) != 0 {
		t.Errorf("defaults: %v", ps)
	}
	c.Tokens = []Secret{"0123456789abcdef0123", "short-tok", "has a space in it, long"}
	c.MaxBodyBytes = 0
	c.SnapshotMaxDeleteShare = 1.5
	ps := strings.Join(c.Problems(), "\n")
	for _, want := range []string{"tokens[1]: is 9 characters", "tokens[2]: contains spaces", "max_body_bytes", "snapshot_max_delete_share"} {
		if !strings.Contains(ps, want) {
			t.Errorf("problems %q lack %q", ps, want)
		}
	}
	if strings.Contains(ps, "short-tok") || strings.Contains(ps, "0123456789abcdef") {
		t.Errorf("problems show a token: %q", ps)
	}
	if strings.Contains(ps, "tokens[0]") {
		t.Errorf("a good token flagged: %q", ps)
	}
}
