package opentoktest

import (
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"math/rand/v2"
	"strconv"
)

// callbackJWTHeader is the encoded JWT header of every signed callback,
// {"alg":"HS256","typ":"JWT"} as in Vonage's example: alg first, no spaces.
var callbackJWTHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// callbackSigner builds the Authorization header of signed callbacks. It
// is written by hand rather than with jwt.NewWithClaims because it runs
// for every request: one reused HMAC state and buffers, no maps, no
// reflection; the tests verify its output with golang-jwt.
type callbackSigner struct {
	mac    hash.Hash
	rng    *rand.ChaCha8 // jti source: unique, need not be secret or seeded
	claims []byte
	buf    []byte
	sum    []byte

	// tail caches the encoded api_key/application_id claims, which only
	// change when one emulator serves several projects.
	tailKey, tailApp string
	tail             []byte
}

func newCallbackSigner(key []byte) *callbackSigner {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (Go 1.24+)
	s := &callbackSigner{mac: hmac.New(sha256.New, key), rng: rand.NewChaCha8(seed)}
	s.setTail("", "")
	return s
}

func (s *callbackSigner) setTail(apiKey, appID string) {
	s.tailKey, s.tailApp = apiKey, appID
	t := s.tail[:0]
	if apiKey != "" {
		q, _ := json.Marshal(apiKey)
		t = append(append(t, `,"api_key":`...), q...)
	}
	if appID != "" {
		q, _ := json.Marshal(appID)
		t = append(append(t, `,"application_id":`...), q...)
	}
	s.tail = append(t, '}')
}

// authorization returns "Bearer <jwt>" with the claims of Vonage's
// example, in its order: iat, jti, iss, payload_hash, api_key,
// application_id (the Secure callbacks guide above). There is no exp, as in the example.
func (s *callbackSigner) authorization(payloadHash *[sha256.Size]byte, iat int64, apiKey, appID string) string {
	if apiKey != s.tailKey || appID != s.tailApp || s.tail == nil {
		s.setTail(apiKey, appID)
	}
	c := append(s.claims[:0], `{"iat":`...)
	c = strconv.AppendInt(c, iat, 10)
	c = append(c, `,"jti":"`...)
	c = appendUUIDv4(c, s.rng)
	c = append(c, `","iss":"Vonage","payload_hash":"`...)
	c = hex.AppendEncode(c, payloadHash[:])
	c = append(c, '"')
	c = append(c, s.tail...)
	s.claims = c

	b := append(s.buf[:0], "Bearer "...)
	signed := len(b)
	b = append(b, callbackJWTHeader...)
	b = append(b, '.')
	b = base64.RawURLEncoding.AppendEncode(b, c)
	s.mac.Reset()
	s.mac.Write(b[signed:])
	s.sum = s.mac.Sum(s.sum[:0])
	b = append(b, '.')
	b = base64.RawURLEncoding.AppendEncode(b, s.sum)
	s.buf = b
	return string(b)
}

// appendUUIDv4 appends a random version-4 UUID in its canonical form.
func appendUUIDv4(dst []byte, r *rand.ChaCha8) []byte {
	var u [16]byte
	hi, lo := r.Uint64(), r.Uint64()
	for i := range 8 {
		u[i], u[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	dst = hex.AppendEncode(dst, u[0:4])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[4:6])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[6:8])
	dst = append(dst, '-')
	dst = hex.AppendEncode(dst, u[8:10])
	dst = append(dst, '-')
	return hex.AppendEncode(dst, u[10:16])
}
