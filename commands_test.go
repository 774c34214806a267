package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// The command tests run each README command line against a loopback API and
// check what it sent (method, path, query, JSON body) and what it printed.

const (
	projectPath = "/v2/project/" + testKey
	sessionPath = projectPath + "/session/" + sid
)

// queryAPI fronts a recordingAPI, which verifies the REST JWT and answers,
// and also records the raw query string, which the recordingAPI does not key on.
type queryAPI struct {
	*recordingAPI
	url    string
	mu     sync.Mutex
	calls  []string // "METHOD path" or "METHOD path?query"
	bodies []string
}

func newQueryAPI(t *testing.T, replies map[string]reply) *queryAPI {
	q := &queryAPI{recordingAPI: newRecordingAPI(t, replies)}
	inner := q.srv.Config.Handler
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		call := r.Method + " " + r.URL.Path
		if r.URL.RawQuery != "" {
			call += "?" + r.URL.RawQuery
		}
		q.mu.Lock()
		q.calls = append(q.calls, call)
		q.bodies = append(q.bodies, string(body))
		q.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	q.url = front.URL
	return q
}

func (q *queryAPI) seen() (calls, bodies []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.calls...), append([]string(nil), q.bodies...)
}

// Reply fixtures. streamsJSON is the Ruby SDK's
// spec/cassettes/OpenTok_Streams/get_all_streams_information.yml and
// connectionsJSON the Java SDK's testListConnections stub (the official SDKs' test fixtures).
const (
	streamsJSON = `{
  "count": 2,
  "items": [
    {"id": "1234356-0a06-46a2-8ea8-074e64d43422", "videoType": "camera", "name": "", "layoutClassList": ["full", "focus"]},
    {"id": "8b732909-0a06-46a2-8ea8-074e64d43422", "videoType": "screen", "name": "", "layoutClassList": ["full"]}
  ]
}`
	connectionsJSON = `{
  "count": 2,
  "projectId": "47665971",
  "sessionId": "SESSIONID",
  "items": [
    {"connectionId": "527775e1-626e-42c3-b0e8-e2122d20661a", "createdAt": 1747655658197, "connectionState": "Connected"},
    {"connectionId": "c6db93f0-8692-438c-944b-cfbaf577c878", "createdAt": 1747655658227, "connectionState": "Disconnected"}
  ]
}`
	archiveID    = "5b1521e6-115f-4efd-bed9-e527b87f0699"
	archiveURL   = "https://tokbox.s3.example/47665971/" + archiveID + "/archive.mp4"
	broadcastID  = "f03fad17-4591-4422-8bd3-00a4df1e616a"
	broadcastHLS = "https://broadcast.example/" + broadcastID + "/playlist.m3u8"
)

// archiveJSON is vonage-python's video/tests/data/archive.json in the legacy
// shape, with the status and download URL given.
func archiveJSON(status, downloadURL string) string {
	u := "null"
	if downloadURL != "" {
		u = `"` + downloadURL + `"`
	}
	return `{"id":"` + archiveID + `","status":"` + status + `","name":"n","reason":"","sessionId":"` + sid +
		`","projectId":47665971,"createdAt":1727870434974,"size":0,"duration":0,"outputMode":"composed","streamMode":"auto",` +
		`"hasAudio":false,"hasVideo":true,"resolution":"1280x720","url":` + u + `}`
}

// broadcastJSON is vonage-python's video/tests/data/broadcast.json in the legacy shape.
func broadcastJSON(status string) string {
	return `{"id":"` + broadcastID + `","sessionId":"` + sid + `","projectId":"47665971","createdAt":1728039361014,` +
		`"broadcastUrls":{"rtmp":[{"status":"connecting","id":"rtmp1","serverUrl":"rtmp://h/app","streamName":"key"}],"hls":"` + broadcastHLS + `"},` +
		`"updatedAt":1728039361511,"status":"` + status + `","streamMode":"auto","hasAudio":true,"hasVideo":true,` +
		`"settings":{"hls":{"lowLatency":true,"dvr":false}},"resolution":"1280x720"}`
}

// exchange is one request and its answer.
type exchange struct {
	req    string // "METHOD path[?query]"
	body   string // the JSON the request carries (compared as JSON); "" is no body
	status int
	reply  string
}

// commandCase is one command line, the requests it must send and what it must print.
type commandCase struct {
	name    string
	args    []string
	stdin   string
	noCreds bool // run with no credentials and no config at all
	// api is every request the command must send, in order, and the
	// answers; none means nothing may reach the API.
	api    []exchange
	code   int
	stdout []string // substrings of the human output
	stderr []string
	// json, when set, runs the command again with --json: the output must be
	// JSON that holds every key and value of this document.
	json  string
	check func(t *testing.T, stdout string) // extra checks, on both runs
}

func TestCommands(t *testing.T) {
	const rtmpBody = `[{"id":"rtmp1","serverUrl":"rtmp://h/app","streamName":"key"}]`
	cases := []commandCase{
		// Moderation.
		{
			name:   "mute one stream",
			args:   []string{"mute", sid, "ST"},
			api:    []exchange{{req: "POST " + sessionPath + "/stream/ST/mute", status: 200}},
			stdout: []string{"muted stream ST"},
			json:   `{"ok":true,"action":"mute","session_id":"` + sid + `","target":"ST"}`,
		},
		{
			name:   "mute all except",
			args:   []string{"mute", sid, "--all", "--except", "a,b", "--yes"},
			api:    []exchange{{req: "POST " + sessionPath + "/mute", body: `{"active":true,"excludedStreamIds":["a","b"]}`, status: 200}},
			stdout: []string{"muted every stream, now and later, except 2"},
			json:   `{"ok":true,"action":"mute_all","session_id":"` + sid + `"}`,
		},
		{
			name:   "mute all sends an empty exclusion list",
			args:   []string{"mute", sid, "--all", "--yes"},
			api:    []exchange{{req: "POST " + sessionPath + "/mute", body: `{"active":true,"excludedStreamIds":[]}`, status: 200}},
			stdout: []string{"except 0"},
			json:   `{"ok":true,"action":"mute_all"}`,
		},
		{
			name:   "mute all off",
			args:   []string{"mute", sid, "--all", "--off"},
			api:    []exchange{{req: "POST " + sessionPath + "/mute", body: `{"active":false}`, status: 200}},
			stdout: []string{"new streams are no longer muted", "streams already muted stay muted"},
			json:   `{"ok":true,"action":"mute_all_off","session_id":"` + sid + `"}`,
		},
		{name: "mute --off needs --all", args: []string{"mute", sid, "--off"}, code: 2, stderr: []string{"--off and --except only go with --all"}},
		{name: "mute --except needs --all", args: []string{"mute", sid, "ST", "--except", "a"}, code: 2, stderr: []string{"only go with --all"}},
		{name: "mute --all --off --except", args: []string{"mute", sid, "--all", "--off", "--except", "a"}, code: 2, stderr: []string{"--except has no meaning with --off"}},
		{name: "mute all asks first", args: []string{"mute", sid, "--all"}, code: 2, stderr: []string{"mute every stream in session", "pass --yes"}},
		{
			name:   "disconnect",
			args:   []string{"disconnect", sid, "C", "--yes"},
			api:    []exchange{{req: "DELETE " + sessionPath + "/connection/C", status: 204}},
			stdout: []string{"disconnected C"},
			json:   `{"ok":true,"action":"disconnect","session_id":"` + sid + `","target":"C"}`,
		},
		{
			name:   "signal one connection with data from stdin",
			args:   []string{"signal", sid, "--to", "C", "--type", "t", "--data", "-"},
			stdin:  "  line one\nline two\n\n", // only the final newline goes
			api:    []exchange{{req: "POST " + sessionPath + "/connection/C/signal", body: `{"type":"t","data":"  line one\nline two\n"}`, status: 204}},
			stdout: []string{`signal "t" sent to connection C`},
			json:   `{"ok":true,"action":"signal","session_id":"` + sid + `","target":"C"}`,
		},

		// Inspection.
		{
			name:   "streams",
			args:   []string{"streams", sid},
			api:    []exchange{{req: "GET " + sessionPath + "/stream", status: 200, reply: streamsJSON}},
			stdout: []string{"1234356-0a06-46a2-8ea8-074e64d43422", "8b732909-0a06-46a2-8ea8-074e64d43422", "camera", "screen", "full,focus", "2 stream(s)"},
			json:   `[{"id":"1234356-0a06-46a2-8ea8-074e64d43422","videoType":"camera"},{"id":"8b732909-0a06-46a2-8ea8-074e64d43422","videoType":"screen"}]`,
		},
		{
			name:   "connections",
			args:   []string{"connections", sid},
			api:    []exchange{{req: "GET " + sessionPath + "/connection", status: 200, reply: connectionsJSON}},
			stdout: []string{"527775e1-626e-42c3-b0e8-e2122d20661a", "Connected", "c6db93f0-8692-438c-944b-cfbaf577c878", "Disconnected", "2 connection(s)"},
			json: `{"count":2,"items":[{"connectionId":"527775e1-626e-42c3-b0e8-e2122d20661a","connectionState":"Connected","createdAt":1747655658197},` +
				`{"connectionId":"c6db93f0-8692-438c-944b-cfbaf577c878","connectionState":"Disconnected"}]}`,
		},

		// Archives.
		{
			name:   "archive start",
			args:   []string{"archive", "start", sid, "--name", "n", "--resolution", "1280x720", "--layout", "bestFit", "--no-audio"},
			api:    []exchange{{req: "POST " + projectPath + "/archive", body: `{"sessionId":"` + sid + `","name":"n","hasAudio":false,"resolution":"1280x720","layout":{"type":"bestFit"}}`, status: 200, reply: archiveJSON("started", "")}},
			stdout: []string{archiveID, "started", "composed"},
			json:   `{"id":"` + archiveID + `","status":"started","sessionId":"` + sid + `","hasAudio":false}`,
		},
		{
			name: "archive start refuses a resolution for individual output",
			args: []string{"archive", "start", sid, "--output-mode", "individual", "--resolution", "1280x720"},
			code: 2, stderr: []string{"archive start: resolution: only allowed with outputMode=composed"},
		},
		{
			name: "archive start on a relayed session",
			args: []string{"archive", "start", sid},
			api:  []exchange{{req: "POST " + projectPath + "/archive", body: `{"sessionId":"` + sid + `"}`, status: 409, reply: `{"code":409,"message":"Session is relayed (p2p)"}`}},
			code: 1, stderr: []string{"archive start: the session is relayed — archiving needs a routed session"},
		},
		{
			name:   "archive stop",
			args:   []string{"archive", "stop", archiveID, "--yes"},
			api:    []exchange{{req: "POST " + projectPath + "/archive/" + archiveID + "/stop", status: 200, reply: archiveJSON("stopped", "")}},
			stdout: []string{archiveID, "stopped"},
			json:   `{"id":"` + archiveID + `","status":"stopped"}`,
		},
		{name: "archive stop asks first", args: []string{"archive", "stop", archiveID}, code: 2, stderr: []string{"stop recording archive " + archiveID, "pass --yes"}},
		{
			name:   "archive get",
			args:   []string{"archive", "get", archiveID},
			api:    []exchange{{req: "GET " + projectPath + "/archive/" + archiveID, status: 200, reply: archiveJSON("available", archiveURL)}},
			stdout: []string{archiveID, "available", "download (valid for minutes): " + archiveURL},
			json:   `{"id":"` + archiveID + `","status":"available","url":"` + archiveURL + `"}`,
		},
		{
			name:   "archive get before the file is ready",
			args:   []string{"archive", "get", archiveID},
			api:    []exchange{{req: "GET " + projectPath + "/archive/" + archiveID, status: 200, reply: archiveJSON("stopped", "")}},
			stdout: []string{archiveID, "stopped"},
			check: func(t *testing.T, out string) {
				if strings.Contains(out, "download") {
					t.Errorf("no download URL yet, but the output offers one:\n%s", out)
				}
			},
		},
		{
			name:   "archive list",
			args:   []string{"archive", "list", "--session", sid, "--count", "10", "--offset", "5"},
			api:    []exchange{{req: "GET " + projectPath + "/archive?count=10&offset=5&sessionId=" + url.QueryEscape(sid), status: 200, reply: `{"count":7,"items":[` + archiveJSON("available", archiveURL) + `]}`}},
			stdout: []string{archiveID, "available", "1 of 7 archive(s)"},
			json:   `{"count":7,"items":[{"id":"` + archiveID + `"}]}`,
		},
		{
			name:   "archive delete",
			args:   []string{"archive", "delete", archiveID, "--yes"},
			api:    []exchange{{req: "DELETE " + projectPath + "/archive/" + archiveID, status: 204}},
			stdout: []string{"deleted archive " + archiveID},
			json:   `{"ok":true,"action":"archive_delete","archive_id":"` + archiveID + `"}`,
		},
		{name: "archive delete asks first", args: []string{"archive", "delete", archiveID}, code: 2, stderr: []string{"pass --yes"}},

		// Broadcasts.
		{
			name:   "broadcast start",
			args:   []string{"broadcast", "start", sid, "--hls", "--low-latency", "--rtmp", "rtmp://h/app/key"},
			api:    []exchange{{req: "POST " + projectPath + "/broadcast", body: `{"sessionId":"` + sid + `","outputs":{"hls":{"lowLatency":true},"rtmp":` + rtmpBody + `}}`, status: 200, reply: broadcastJSON("started")}},
			stdout: []string{broadcastID, "started", "1280x720"},
			json:   `{"id":"` + broadcastID + `","status":"started","broadcastUrls":{"hls":"` + broadcastHLS + `"}}`,
		},
		{name: "broadcast start: rtmp without a stream name", args: []string{"broadcast", "start", sid, "--rtmp", "nokey"}, code: 2, stderr: []string{`--rtmp "nokey": expected SERVER_URL/STREAM_NAME`}},
		{name: "broadcast start: rtmp with a host only", args: []string{"broadcast", "start", sid, "--rtmp", "rtmp://host"}, code: 2, stderr: []string{`--rtmp "rtmp://host": expected SERVER_URL/STREAM_NAME`}},
		{name: "broadcast start: dvr and low latency", args: []string{"broadcast", "start", sid, "--dvr", "--low-latency"}, code: 2, stderr: []string{"broadcast start: outputs.hls.lowLatency: cannot be combined with dvr"}},
		{name: "broadcast start: no output", args: []string{"broadcast", "start", sid}, code: 2, stderr: []string{"outputs"}},
		{
			name:   "broadcast stop",
			args:   []string{"broadcast", "stop", broadcastID, "--yes"},
			api:    []exchange{{req: "POST " + projectPath + "/broadcast/" + broadcastID + "/stop", status: 200, reply: broadcastJSON("stopped")}},
			stdout: []string{broadcastID, "stopped"},
			json:   `{"id":"` + broadcastID + `","status":"stopped"}`,
		},
		{name: "broadcast stop asks first", args: []string{"broadcast", "stop", broadcastID}, code: 2, stderr: []string{"stop broadcast " + broadcastID, "pass --yes"}},
		{
			name:   "broadcast get",
			args:   []string{"broadcast", "get", broadcastID},
			api:    []exchange{{req: "GET " + projectPath + "/broadcast/" + broadcastID, status: 200, reply: broadcastJSON("started")}},
			stdout: []string{broadcastID, "started", "hls: " + broadcastHLS, "rtmp rtmp1: rtmp://h/app/key (connecting)"},
			json:   `{"id":"` + broadcastID + `","broadcastUrls":{"hls":"` + broadcastHLS + `","rtmp":[{"id":"rtmp1","status":"connecting"}]}}`,
		},
		{
			name:   "broadcast list",
			args:   []string{"broadcast", "list"},
			api:    []exchange{{req: "GET " + projectPath + "/broadcast", status: 200, reply: `{"count":3,"items":[` + broadcastJSON("started") + `]}`}},
			stdout: []string{broadcastID, "started", "1 of 3 broadcast(s)"},
			json:   `{"count":3,"items":[{"id":"` + broadcastID + `"}]}`,
		},
		{
			name:   "broadcast list of a session",
			args:   []string{"broadcast", "list", "--session", sid, "--count", "2"},
			api:    []exchange{{req: "GET " + projectPath + "/broadcast?count=2&sessionId=" + url.QueryEscape(sid), status: 200, reply: `{"count":0,"items":[]}`}},
			stdout: []string{"0 of 0 broadcast(s)"},
		},

		// Tokens: minted locally, no request.
		{
			name:  "token --t1",
			args:  []string{"token", sid, "--t1"},
			check: checkT1Token,
			json:  `{"session_id":"` + sid + `","role":"publisher"}`,
		},
		{name: "token ttl over 30 days", args: []string{"token", sid, "--ttl", "800h"}, code: 2, stderr: []string{"token: ttl: at most 30 days"}},
		{name: "token unknown role", args: []string{"token", sid, "--role", "boss"}, code: 2, stderr: []string{`--role: role "boss": expected subscriber, publisher, publisheronly or moderator`}},

		// Session IDs decode offline, without credentials.
		{
			name: "session info", noCreds: true,
			args:   []string{"session", "info", sid},
			stdout: []string{"47665971", "2025-02-14T13:14:54Z"},
		},
		{name: "session info garbage", noCreds: true, args: []string{"session", "info", "garbage"}, code: 2, stderr: []string{"session info:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runCommandCase(t, tc, false)
			if tc.json != "" {
				runCommandCase(t, tc, true)
			}
		})
	}
}

// runCommandCase runs tc, with --json when asJSON, against a fresh API.
func runCommandCase(t *testing.T, tc commandCase, asJSON bool) {
	t.Helper()
	replies := map[string]reply{}
	for _, x := range tc.api {
		key, _, _ := strings.Cut(x.req, "?")
		replies[key] = reply{x.status, x.reply}
	}
	api := newQueryAPI(t, replies)
	env := map[string]string{"HOME": t.TempDir()}
	if !tc.noCreds {
		env["GAVEL_API_KEY"], env["GAVEL_API_SECRET"], env["GAVEL_API_URL"] = testKey, testSecret, api.url
	}
	args := tc.args
	if asJSON {
		args = append(append([]string(nil), args...), "--json")
	}
	code, out, errOut := gavel(t, env, tc.stdin, args...)
	label := strings.Join(args, " ")
	if code != tc.code {
		t.Fatalf("%s: exit %d, want %d\nstdout %s\nstderr %s", label, code, tc.code, out, errOut)
	}
	if strings.Contains(out+errOut, testSecret) {
		t.Errorf("%s: the API secret appears in the output:\nstdout %s\nstderr %s", label, out, errOut)
	}
	for _, want := range tc.stderr {
		if !strings.Contains(errOut, want) {
			t.Errorf("%s: stderr %q, want it to contain %q", label, errOut, want)
		}
	}
	if code != 0 && out != "" {
		t.Errorf("%s failed but wrote to stdout: %q", label, out)
	}

	calls, bodies := api.seen()
	if len(calls) != len(tc.api) {
		t.Errorf("%s: requests %q, want %d", label, calls, len(tc.api))
	}
	for i := 0; i < len(calls) && i < len(tc.api); i++ {
		if want := tc.api[i]; calls[i] != want.req || !sameJSON(bodies[i], want.body) {
			t.Errorf("%s: request %d\n  %s %s\nwant\n  %s %s", label, i, calls[i], bodies[i], want.req, want.body)
		}
	}

	if asJSON {
		var got, want any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s: stdout is not JSON (%v):\n%s", label, err, out)
		}
		if err := json.Unmarshal([]byte(tc.json), &want); err != nil {
			t.Fatalf("bad test JSON %s: %v", tc.json, err)
		}
		if !jsonContains(got, want) {
			t.Errorf("%s: stdout\n%s\ndoes not hold\n%s", label, out, tc.json)
		}
	} else {
		for _, want := range tc.stdout {
			if !strings.Contains(out, want) {
				t.Errorf("%s: stdout does not contain %q:\n%s", label, want, out)
			}
		}
	}
	if tc.check != nil && code == 0 {
		tc.check(t, out)
	}
}

// sameJSON compares two request bodies as JSON values; "" is no body.
func sameJSON(got, want string) bool {
	if got == "" || want == "" {
		return got == want
	}
	var g, w any
	if json.Unmarshal([]byte(got), &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	return reflect.DeepEqual(g, w)
}

// jsonContains reports whether got holds want: every key of a wanted object
// with a value that holds the wanted one, arrays element by element and of
// the same length, other values equal.
func jsonContains(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !jsonContains(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !jsonContains(g[i], w[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

// checkT1Token checks the token printed (alone, or as "token" in JSON) is a
// T1 token for the session, signed with the project secret.
func checkT1Token(t *testing.T, out string) {
	t.Helper()
	tok := strings.TrimSpace(out)
	var j struct{ Token string }
	if json.Unmarshal([]byte(out), &j) == nil {
		tok = j.Token
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(tok, "T1=="))
	if !strings.HasPrefix(tok, "T1==") || err != nil {
		t.Fatalf("not a T1 token: %q (%v)", tok, err)
	}
	head, data, ok := strings.Cut(string(raw), ":")
	if !ok || !strings.HasPrefix(head, "partner_id="+testKey+"&sig=") {
		t.Fatalf("T1 token body %q", raw)
	}
	mac := hmac.New(sha1.New, []byte(testSecret))
	mac.Write([]byte(data))
	if sig := strings.TrimPrefix(head, "partner_id="+testKey+"&sig="); sig != hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("T1 signature %s does not verify with the project secret", sig)
	}
	fields, err := url.ParseQuery(data)
	if err != nil || fields.Get("session_id") != sid || fields.Get("role") != "publisher" {
		t.Errorf("T1 token data %q (%v)", data, err)
	}
}

// TestBuiltinCommands: what fang and cobra add to the tree works and exits 0.
func TestBuiltinCommands(t *testing.T) {
	env := map[string]string{"HOME": t.TempDir()}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--version"}, "version " + version},
		{[]string{"completion", "bash"}, "bash completion"},
		{[]string{"completion", "zsh"}, "compdef"},
		{[]string{"man"}, ".TH"},
	} {
		var code int
		var out, errOut string
		// fang's man command writes to os.Stdout itself.
		stdout := captureStdout(t, func() { code, out, errOut = gavel(t, env, "", tc.args...) })
		out += stdout
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("gavel %s: exit %d, stdout %.200q, want it to contain %q; stderr %q", strings.Join(tc.args, " "), code, out, tc.want, errOut)
		}
	}
}

// captureStdout returns what f writes to os.Stdout.
func captureStdout(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- string(b)
	}()
	func() {
		defer func() {
			os.Stdout = saved
			_ = w.Close()
		}()
		f()
	}()
	out := <-got
	_ = r.Close()
	return out
}
