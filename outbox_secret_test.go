package mypt

import "testing"

func TestSecretKeyIsAHashPrefix(t *testing.T) {
	// SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
	if got := SecretKey("abc"); got != "ba7816bf8f01cfea" {
		t.Fatalf("SecretKey(abc) = %q", got)
	}
}

func TestScrubSecret(t *testing.T) {
	const tok = "a+b/c_d-e"
	const ph = "[gone]"
	for _, c := range []struct{ name, in, want string }{
		{"text link on its own line", "Open:\n\nhttps://p.example/reset-password?token=a+b/c_d-e\n\nBye", "Open:\n\n[gone]\n\nBye"},
		{"html href and link text", `<p><a href="https://p.example/x?token=a%2Bb%2Fc_d-e">https://p.example/x?token=a%2Bb%2Fc_d-e</a></p>`,
			`<p><a href="[gone]">[gone]</a></p>`},
		{"raw in a sentence", "code a+b/c_d-e. done", "code [gone] done"},
		{"twice on a line", "x a+b/c_d-e y a+b/c_d-e", "x [gone] y [gone]"},
		{"in parentheses", "(see https://p.example/?token=a+b/c_d-e)", "(see [gone])"},
		{"absent", "nothing here", "nothing here"},
	} {
		if got := ScrubSecret(c.in, tok, ph); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if got := ScrubSecret("keep me", "", ph); got != "keep me" {
		t.Errorf("empty secret changed the body: %q", got)
	}
}

func TestOutboxMessageRefusesATokenInTheEventKey(t *testing.T) {
	m := OutboxMessage{EventKey: "reset:Zq3v9-Xy_k0LmNoP", ToEmail: "a@example.org", Subject: "s", Text: "t",
		Secret: "Zq3v9-Xy_k0LmNoPqRsTuVwXyZ0123456789abcdefG"}
	if err := m.Validate(); err == nil {
		t.Fatal("an event key holding the token was accepted")
	}
	m.EventKey = "reset:" + SecretKey(m.Secret)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
}
