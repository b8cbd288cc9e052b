package config

import (
	"strings"
	"testing"
)

func TestWarnings(t *testing.T) {
	all := strings.Join(mustParse(t, threeLines).Warnings(), "\n")
	for _, want := range []string{WarnNoMailTransport, WarnNoDataSource} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
	c := mustParse(t, strings.Replace(threeLines, "college: {", "college: {support_email: parentportal@example.ac.uk, ", 1)+"mail: {transport: file, from_address: a@example.ac.uk, file: {dir: /tmp/m}}\n",
		"MYPT_PUSH_TOKENS=0123456789abcdef0123456789abcdef")
	if w := c.Warnings(); len(w) != 0 {
		t.Errorf("mail and push configured: warnings %q", w)
	}
	c = mustParse(t, threeLines+`mis: {dsn: "sqlserver://u@h"}`+"\n")
	if w := strings.Join(c.Warnings(), "\n"); strings.Contains(w, WarnNoDataSource) {
		t.Errorf("pull configured: %q", w)
	}
}
