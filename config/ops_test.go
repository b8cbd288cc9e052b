package config

import (
	"strings"
	"testing"
	"time"
)

func TestOpsConfig(t *testing.T) {
	t.Parallel()
	if got := (OpsConfig{}).WithDefaults().ReadyMaxSyncAge; got != DefaultReadyMaxSyncAge {
		t.Errorf("default ready_max_sync_age = %s", got)
	}
	cases := []struct {
		age  time.Duration
		want string
	}{
		{0, ""},
		{26 * time.Hour, ""},
		{-time.Minute, "is negative"},
		{30 * time.Second, "under a minute"},
	}
	for _, c := range cases {
		ps := OpsConfig{ReadyMaxSyncAge: c.age}.Problems()
		if c.want == "" && len(ps) != 0 || c.want != "" && (len(ps) != 1 || !strings.HasPrefix(ps[0], "ready_max_sync_age: ") || !strings.Contains(ps[0], c.want)) {
			t.Errorf("%s: problems %q, want %q", c.age, ps, c.want)
		}
	}
}
