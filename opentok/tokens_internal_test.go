package opentok

import (
	"encoding/base64"
	"testing"
)

// TestSignT1GoldenVector reproduces the golden T1 vector of as the official SDKs send it,
// which sdk_test.go runs (from opentok-token's own test): a known key, secret and data
// string must give the known signature, in a token assembled as T1 tokens as
// opentok-node's generateToken builds them:
// https://github.com/opentok/opentok-node/blob/main/lib/opentok.js says.
func TestSignT1GoldenVector(t *testing.T) {
	const (
		apiKey    = "123456"
		apiSecret = "1234567890abcdef1234567890abcdef1234567890"
		data      = "session_id=1_MX4xMjM0NTZ-flNhdCBNYXIgMTUgMTQ6NDI6MjMgUERUIDIwMTR-MC40OTAxMzAyNX4&create_time=1424221013&nonce=0.3942609881050885&role=moderator&expire_time=1424307413&connection_data=%7B%22name%22%3A%22value%22%7D"
		sig       = "df94a64559acc061d7a3752a6fc69493e938c191"
	)
	want := "T1==" + base64.StdEncoding.EncodeToString([]byte("partner_id="+apiKey+"&sig="+sig+":"+data))
	if got := signT1(apiKey, apiSecret, data); got != want {
		t.Errorf("signT1:\n got %s\nwant %s", got, want)
	}
}
