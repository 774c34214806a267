package opentoktest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// sdkDir holds the official-SDK conformance harness: package.json,
// package-lock.json and conformance.mjs.
const sdkDir = "testdata/sdk"

// sdkStep is one line of conformance.mjs output.
type sdkStep struct {
	SDK     string `json:"sdk"`
	Step    string `json:"step"`
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Session string `json:"session"`
	Token   string `json:"token"`
	Role    string `json:"role"`
	Value   string `json:"value"`
}

// sdkFixture is a routed session with a publishing participant, and another
// participant the SDK force-disconnects, for one SDK run.
type sdkFixture struct {
	sessionID string
	publisher *Participant
	target    *Participant
}

// requireNodeSDKs finds node and the installed SDKs. On CI their absence
// is a failure, so the conformance check cannot silently stop running;
// elsewhere it is a skip.
func requireNodeSDKs(t *testing.T) string {
	t.Helper()
	const fix = "install Node.js 20.19+ and npm, and run `npm ci` in opentok/opentoktest/testdata/sdk, to run the official-SDK conformance test (.ci/run does both)"
	node, err := exec.LookPath("node")
	missing := ""
	if err != nil {
		missing = "node is not installed"
	} else if v := nodeVersion(node); !nodeNewEnough(v) {
		// The SDKs require() ES-only modules (uuid 13+), which Node.js
		// does from 20.19 on; Debian 12's nodejs is 18.
		missing = "node " + v + " is too old for the SDKs (they need Node.js 20.19 or later)"
	} else {
		for _, pkg := range []string{"opentok", filepath.Join("@vonage", "video")} {
			if _, err := os.Stat(filepath.Join(sdkDir, "node_modules", pkg, "package.json")); err != nil {
				missing = "the npm package " + filepath.ToSlash(pkg) + " is not installed"
				break
			}
		}
	}
	if missing != "" {
		// The rule of the tmux tests too (tui/e2e_test.go): any CI value
		// means CI, where .ci/run installs what the test needs.
		if os.Getenv("CI") != "" {
			t.Fatalf("%s (CI=%s): %s", missing, os.Getenv("CI"), fix)
		}
		t.Skipf("%s: %s", missing, fix)
	}
	return node
}

// nodeVersion is what `node` reports as its version, without the v.
func nodeVersion(node string) string {
	out, err := exec.Command(node, "-p", "process.versions.node").Output()
	if err != nil {
		return "(unknown version)"
	}
	return strings.TrimSpace(string(out))
}

// nodeNewEnough reports whether version is 20.19 or later.
func nodeNewEnough(version string) bool {
	var major, minor int
	if _, err := fmt.Sscanf(version, "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 20 || major == 20 && minor >= 19
}

// TestOfficialSDKConformance runs the official Node server SDKs — npm
// opentok (legacy credentials and Vonage credentials) and @vonage/video —
// against the emulator and requires every call to behave as against the
// real service (as the official SDKs send it, which sdk_test.go runs): any request they send that the emulator
// refuses is an emulator bug.
func TestOfficialSDKConformance(t *testing.T) {
	node := requireNodeSDKs(t)
	// Scenarios run under the application: @vonage/video, which only
	// has application credentials, acts on a scenario's participants.
	srv, err := NewServer(WithScenarioOwner(OwnerApplication))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	der, err := x509.MarshalPKCS8PrivateKey(srv.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "private.key")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fixtures := map[string]sdkFixture{
		"opentok":        prepareSDKFixture(ctx, t, srv, false),
		"@vonage/video":  scenarioSDKFixture(ctx, t, srv),
		"opentok-vonage": prepareSDKFixture(ctx, t, srv, true),
	}

	script, err := filepath.Abs(filepath.Join(sdkDir, "conformance.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Dir = sdkDir
	cmd.Env = append(os.Environ(),
		"OT_URL="+srv.URL,
		"OT_KEY="+srv.APIKey,
		"OT_SECRET="+srv.APISecret,
		"VG_APP_ID="+srv.ApplicationID,
		"VG_KEY_FILE="+keyFile,
		"SESSION_ID_WITH_PEOPLE="+fixtures["opentok"].sessionID,
		"CONNECTION_ID_TO_DISCONNECT="+fixtures["opentok"].target.ConnectionID(),
		"VG_SESSION_ID_WITH_PEOPLE="+fixtures["@vonage/video"].sessionID,
		"VG_CONNECTION_ID_TO_DISCONNECT="+fixtures["@vonage/video"].target.ConnectionID(),
		"OTVG_SESSION_ID_WITH_PEOPLE="+fixtures["opentok-vonage"].sessionID,
		"OTVG_CONNECTION_ID_TO_DISCONNECT="+fixtures["opentok-vonage"].target.ConnectionID(),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	steps := map[string][]sdkStep{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var st sdkStep
		if err := json.Unmarshal([]byte(line), &st); err != nil {
			t.Errorf("conformance.mjs printed a line that is not a step: %q", line)
			continue
		}
		steps[st.SDK] = append(steps[st.SDK], st)
		t.Logf("%s: %s: ok=%v %s %s", st.SDK, st.Step, st.OK, st.Error, st.Value)
		if !st.OK {
			t.Errorf("%s: %s: %s", st.SDK, st.Step, st.Error)
		}
	}
	if runErr != nil {
		t.Errorf("node conformance.mjs: %v\nstderr:\n%s", runErr, stderr.String())
	}

	for sdk, fx := range fixtures {
		t.Run(sdk, func(t *testing.T) {
			got := steps[sdk]
			names := make([]string, len(got))
			for i, st := range got {
				names[i] = st.Step
			}
			for _, want := range expectedSDKSteps(sdk) {
				if !slices.Contains(names, want) {
					t.Errorf("step %q did not run (ran %q)", want, names)
				}
			}
			checkSDKTokens(t, srv, got)
			checkSDKEffects(t, srv, fx, sdk)
		})
	}
}

// expectedSDKSteps are the steps conformance.mjs must report for sdk, so a
// script that stops early cannot pass.
func expectedSDKSteps(sdk string) []string {
	steps := []string{
		"session create routed", "session create relayed", "token jwt", "token jwt moderator",
		"signal nobody connected", "signal all", "signal one", "stream list", "stream get",
		"stream layout classes", "mute stream", "mute all", "disable mute all", "play dtmf",
		"force disconnect unknown", "force disconnect",
		"archive start", "archive get", "archive stop", "archive list", "archive start relayed",
		"broadcast start", "broadcast get", "broadcast list", "broadcast stop",
		"sip dial", "audio connector", "render start", "render get", "render stop", "captions start", "captions stop",
	}
	switch sdk {
	case "opentok":
		steps = append(steps, "session create with location", "token t1")
	case "opentok-vonage":
		steps = append(steps, "session create with location")
	case "@vonage/video":
		steps = append(steps, "session create defaults")
	}
	return steps
}

// prepareSDKFixture creates a routed session through the Go client with a
// publishing participant and a second one to be disconnected.
func prepareSDKFixture(ctx context.Context, t *testing.T, srv *Server, application bool) sdkFixture {
	t.Helper()
	c, err := srv.Client(application)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := c.Sessions.Create(ctx, opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	join := func(role opentok.Role, data string) *Participant {
		tok, err := c.Token(sess.ID, opentok.TokenOptions{Role: role, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		p, err := srv.Join(sess.ID, tok.Value)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	fx := sdkFixture{sessionID: sess.ID, publisher: join(opentok.RolePublisher, "publisher"), target: join(opentok.RoleSubscriber, "target")}
	if _, err := fx.publisher.Publish(PublishOptions{Name: "camera"}); err != nil {
		t.Fatal(err)
	}
	return fx
}

// scenarioSDKFixture plays the classroom scenario until its (routed)
// session has a student publishing and someone else connected, then stops
// the script there (its participants stay connected): the classroom is the
// SDK's session with people, the student its publisher, the other its
// target.
func scenarioSDKFixture(ctx context.Context, t *testing.T, srv *Server) sdkFixture {
	t.Helper()
	for attempt := range 5 {
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- Classroom{Seed: uint64(7 + attempt), Speed: 50}.Run(sctx, srv) }()
		var fx sdkFixture
		for deadline := time.Now().Add(30 * time.Second); fx.sessionID == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			fx = sessionWithPeople(srv)
		}
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("classroom scenario: %v", err)
		}
		if fx.sessionID == "" {
			t.Fatal("the classroom scenario had no one publishing within 30 s")
		}
		// Look again, now that the script has stopped: it may have acted
		// between the look and the stop.
		if fx = sessionWithPeople(srv); fx.sessionID != "" {
			return fx
		}
	}
	t.Fatal("the classroom scenario never stopped with someone publishing")
	return sdkFixture{}
}

// sessionWithPeople is a routed scenario session owned by the
// application with a participant publishing and another connected, or the
// zero fixture.
func sessionWithPeople(srv *Server) sdkFixture {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for id, sess := range srv.st.sessions {
		if !sess.owner.application || !sess.routed {
			continue
		}
		var fx sdkFixture
		for _, c := range sess.conns {
			switch {
			case c.p == nil:
			case fx.publisher == nil && len(c.streams) > 0:
				fx.publisher = c.p
			case fx.target == nil:
				fx.target = c.p
			}
		}
		if fx.publisher != nil && fx.target != nil {
			fx.sessionID = id
			return fx
		}
	}
	return sdkFixture{}
}

// checkSDKTokens joins with every client token the SDK generated: the
// emulator must accept what the official generators produce, with the role
// they were asked for.
func checkSDKTokens(t *testing.T, srv *Server, steps []sdkStep) {
	t.Helper()
	for _, st := range steps {
		if st.Token == "" {
			continue
		}
		p, err := srv.Join(st.Session, st.Token)
		if err != nil {
			t.Errorf("%s: join with the SDK's token: %v", st.Step, err)
			continue
		}
		if string(p.Role()) != st.Role {
			t.Errorf("%s: joined as %s, the SDK was asked for %s", st.Step, p.Role(), st.Role)
		}
		_ = p.Leave()
	}
}

// checkSDKEffects compares the emulator's ground truth with what the SDK's
// calls should have done.
func checkSDKEffects(t *testing.T, srv *Server, fx sdkFixture, sdk string) {
	t.Helper()
	if !slices.ContainsFunc(fx.publisher.Signals(), func(s Signal) bool { return s.Type == "sdk" && s.Data == sdk && s.From == "" }) {
		t.Errorf("the publisher did not receive the SDK's signal to all: %+v", fx.publisher.Signals())
	}
	if !slices.ContainsFunc(fx.target.Signals(), func(s Signal) bool { return s.Type == "sdk-one" && s.Data == sdk }) {
		t.Errorf("the target did not receive the SDK's signal to one connection: %+v", fx.target.Signals())
	}
	if slices.ContainsFunc(fx.publisher.Signals(), func(s Signal) bool { return s.Type == "sdk-one" }) {
		t.Errorf("the signal to one connection reached another: %+v", fx.publisher.Signals())
	}
	if connected, reason := fx.target.Connected(); connected || reason != ReasonForceDisconnected {
		t.Errorf("target after the SDK's force disconnect: connected=%v reason=%q, want forceDisconnected", connected, reason)
	}
	st, ok := srv.Session(fx.sessionID)
	if !ok {
		t.Fatalf("session with people %s is gone", fx.sessionID)
	}
	// SIP calls, renders and audio connectors join the session too; the
	// participant's own stream is the one the SDK muted.
	i := slices.IndexFunc(st.Streams, func(x StreamState) bool { return x.ConnectionID == fx.publisher.ConnectionID() })
	if i < 0 {
		t.Fatalf("the publisher's stream is gone: %+v", st.Streams)
	}
	if !st.Streams[i].AudioMuted {
		t.Errorf("stream %s is not muted after the SDK's mute stream", st.Streams[i].ID)
	}
	if st.MuteAll {
		t.Errorf("mute-all is still on after the SDK's disable")
	}
}
