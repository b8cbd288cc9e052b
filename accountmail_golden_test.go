package mypt

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var updateEmails = flag.Bool("update", false, "rewrite testdata/emails/*.txt from the current templates")

// TestEmailGolden keeps every account email's subject and text under testdata/emails, so a
// change to what parents read shows in review. Run with -update to accept a change.
func TestEmailGolden(t *testing.T) {
	s := MailSettings{CollegeName: "Croydon College", PortalName: "Croydon College Parent Portal",
		SupportEmail: "ParentPortalSupport@croydon.example.ac.uk", AttendanceEmail: "attendance@croydon.example.ac.uk",
		PublicBaseURL: "https://parentportal.croydon.example.ac.uk"}
	for _, k := range EmailKinds {
		m, err := s.Compose(k, "golden:"+string(k), EmailData{ToEmail: "aoife@example.org", ToName: "Aoife O’Neill-Smith",
			Token: "TOKEN", ExpiresIn: 48 * time.Hour, StudentName: "Siobhán O’Neill-Smith", ParentName: "Uncle Bob",
			Relation: "Uncle", Reason: TooOld.ParentReason()})
		if err != nil {
			t.Fatal(err)
		}
		got := "Subject: " + m.Subject + "\n\n" + m.Text
		path := filepath.Join("testdata", "emails", string(k)+".txt")
		if *updateEmails {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -run TestEmailGolden -update .)", err)
		}
		if string(want) != got {
			t.Errorf("%s email changed (run go test -run TestEmailGolden -update . to accept):\n%s", k, got)
		}
	}
}
