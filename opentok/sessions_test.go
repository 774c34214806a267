package opentok_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

func TestSessionCreate(t *testing.T) {
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			api.expect(call{
				Method: "POST", Path: "/session/create", Form: true,
				Body:   "p2p.preference=disabled&archiveMode=always&archiveName=Town+hall&archiveResolution=1280x720&location=10.1.2.3",
				Status: 200,
				Reply:  `[{"session_id":"1_MX40NzY2NTk3MX5-MTczOTUzODg5NDk1OX5ROW1jWEcxUXJOM1RJWXU4eStwcHgvZ3N-UH5-","project_id":"47665971","partner_id":"47665971","create_dt":"Fri Feb 14 05:14:54 PST 2025","session_status":null,"ice_credential_expiration":86100}]`,
			})
			s, err := c.Sessions.Create(context.Background(), opentok.SessionOptions{
				MediaMode: opentok.Routed, ArchiveMode: opentok.ArchiveAlways,
				ArchiveName: "Town hall", ArchiveResolution: "1280x720", Location: "10.1.2.3",
			})
			if err != nil {
				t.Fatal(err)
			}
			if s.ID != "1_MX40NzY2NTk3MX5-MTczOTUzODg5NDk1OX5ROW1jWEcxUXJOM1RJWXU4eStwcHgvZ3N-UH5-" || s.CreateDT == "" {
				t.Errorf("session %+v", s)
			}
		})
	}
}

func TestSessionCreateDefaultsAreExplicit(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	// p2p.preference is always sent: the REST default and the SDK defaults disagree.
	api.expect(call{Method: "POST", Path: "/session/create", Form: true,
		Body: "p2p.preference=enabled&archiveMode=manual", Status: 200, Reply: `[{"session_id":"1_abc"}]`})
	if _, err := c.Sessions.Create(context.Background(), opentok.SessionOptions{}); err != nil {
		t.Fatal(err)
	}
	api.expect(call{Method: "POST", Path: "/session/create", Form: true,
		Body: "p2p.preference=disabled&archiveMode=manual&e2ee=true", Status: 200, Reply: `[{"session_id":"1_abc"}]`})
	if _, err := c.Sessions.Create(context.Background(), opentok.SessionOptions{MediaMode: opentok.Routed, E2EE: true}); err != nil {
		t.Fatal(err)
	}
}

func TestSessionCreateValidation(t *testing.T) {
	_, c := newFakeAPI(t, legacyEnv) // no request may reach the server
	cases := []struct {
		opts  opentok.SessionOptions
		field string
	}{
		{opentok.SessionOptions{ArchiveMode: opentok.ArchiveAlways}, "archiveMode"},
		{opentok.SessionOptions{ArchiveName: "x"}, "archiveName"},
		{opentok.SessionOptions{MediaMode: opentok.Routed, ArchiveMode: opentok.ArchiveAlways, ArchiveResolution: "800x600"}, "archiveResolution"},
		{opentok.SessionOptions{MediaMode: opentok.Routed, ArchiveMode: opentok.ArchiveAlways, ArchiveName: strings.Repeat("n", 81)}, "archiveName"},
		{opentok.SessionOptions{Location: "::1"}, "location"},
		{opentok.SessionOptions{Location: "example.com"}, "location"},
		{opentok.SessionOptions{E2EE: true}, "e2ee"},
		{opentok.SessionOptions{MediaMode: opentok.Routed, ArchiveMode: opentok.ArchiveAlways, E2EE: true}, "e2ee"},
		{opentok.SessionOptions{MediaMode: "p2p"}, "mediaMode"},
	}
	for _, tc := range cases {
		_, err := c.Sessions.Create(context.Background(), tc.opts)
		var ve *opentok.ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field || !errors.Is(err, opentok.ErrInvalid) {
			t.Errorf("%+v: err %v, want a ValidationError on %s", tc.opts, err, tc.field)
		}
	}
}

func TestSessionCreateAuthFailure(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	api.expect(call{Method: "POST", Path: "/session/create", Form: true, Body: "p2p.preference=enabled&archiveMode=manual",
		Status: 403, Reply: `{"code":-1,"message":"Invalid token format"}`})
	_, err := c.Sessions.Create(context.Background(), opentok.SessionOptions{})
	if !errors.Is(err, opentok.ErrAuth) {
		t.Fatalf("err %v, want ErrAuth", err)
	}
	want := `session create: the Video API refused the credentials (check the API key and secret, or the application ID and private key) (service said: "Invalid token format") [HTTP 403, POST /session/create]`
	if err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
	if strings.Contains(err.Error(), testAPISecret) {
		t.Error("error leaks the secret")
	}
	if api.requests() != 1 {
		t.Errorf("session create sent %d times; it must never be retried", api.requests())
	}
}
