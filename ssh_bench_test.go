package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/vt"
	gossh "golang.org/x/crypto/ssh"
)

// BenchmarkSSHConsoles measures the SSH console at the scale of a busy
// event: sshBenchConsoles consoles logged in at once to one `gavel relay`
// process while callbacks arrive at sshBenchRate a second. It reports the
// relay process's own CPU and memory per console (from /proc, with and
// without the consoles, under the same load), and the time from a
// callback's POST to its effect on each console's screen — the screen as
// a terminal shows it: every console's output is fed to a VT emulator
// (github.com/charmbracelet/x/vt), and a probe counts as seen when its
// name is on that screen.
//
//	go test . -run '^$' -bench SSHConsoles -benchtime 1x -count 3
func BenchmarkSSHConsoles(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("needs /proc for the relay's CPU and memory")
	}
	bin := filepath.Join(b.TempDir(), "gavel")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for range b.N {
		runSSHLoad(b, bin)
	}
}

const (
	sshBenchConsoles = 50
	sshBenchRate     = 500 // callbacks a second
	sshBenchPhase    = 10 * time.Second
	sshBenchProbe    = 250 * time.Millisecond
)

func runSSHLoad(b *testing.B, bin string) {
	dir := b.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	relayAddr, sshAddr := freeAddr(b), freeAddr(b)
	cfg := filepath.Join(dir, "gavel.toml")
	key := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(signer.PublicKey())))
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "[relay]\nlisten = %q\ndata_dir = %q\n[relay.ssh]\nlisten = %q\nmax_sessions = %d\n"+
		"[[relay.ssh.users]]\nname = \"bench\"\nrole = \"moderator\"\nkeys = [%q]\n",
		relayAddr, filepath.Join(dir, "relay"), sshAddr, sshBenchConsoles+10, key), 0o600); err != nil {
		b.Fatal(err)
	}
	relay := exec.Command(bin, "--config", cfg, "relay")
	relay.Env = append(os.Environ(), "GAVEL_RELAY_SECRET="+relaySecret, "HOME="+dir)
	out, _ := relay.StdoutPipe()
	if err := relay.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = relay.Process.Signal(syscall.SIGTERM)
		_ = relay.Wait()
	}()
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(sc.Text(), "ssh:") {
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	post := func(body string) {
		resp, err := http.Post("http://"+relayAddr+"/v1/callbacks/session", "application/json", strings.NewReader(body))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	// The load: joins and leaves in 20 sessions, sshBenchRate a second.
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for range sshBenchRate / 100 {
				n++
				kind, id := "connectionCreated", n
				if n%2 == 0 {
					kind, id = "connectionDestroyed", n-1
				}
				post(fmt.Sprintf(`{"sessionId":"1_MX4-load-%02d","projectId":"1","event":%q,"timestamp":%d,"connection":{"id":"c%d","createdAt":%d,"data":"{\"name\":\"Viewer %d\"}"}}`,
					id%20, kind, time.Now().UnixMilli(), id, time.Now().UnixMilli(), id))
			}
		}
	}()
	time.Sleep(time.Second)
	cpuA, rssA := procUsage(b, relay.Process.Pid)
	time.Sleep(sshBenchPhase / 2)
	cpuA2, _ := procUsage(b, relay.Process.Pid)
	idleCPU := (cpuA2 - cpuA).Seconds() / (sshBenchPhase / 2).Seconds()

	// The consoles, each on a screen of its own.
	var mu sync.Mutex
	probes := map[string]time.Time{} // name → when its callback was posted
	var lat []time.Duration
	ready := make(chan struct{}, sshBenchConsoles)
	for i := range sshBenchConsoles {
		client, err := gossh.Dial("tcp", sshAddr, &gossh.ClientConfig{User: "bench", Auth: []gossh.AuthMethod{gossh.PublicKeys(signer)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
		if err != nil {
			b.Fatalf("console %d: %v", i, err)
		}
		defer client.Close()
		sess, err := client.NewSession()
		if err != nil {
			b.Fatal(err)
		}
		if err := sess.RequestPty("xterm-256color", 40, 120, gossh.TerminalModes{}); err != nil {
			b.Fatal(err)
		}
		stdin, _ := sess.StdinPipe()
		stdout, _ := sess.StdoutPipe()
		if err := sess.Shell(); err != nil {
			b.Fatal(err)
		}
		emu := vt.NewEmulator(120, 40)
		go func() { _, _ = io.Copy(stdin, emu) }() // the terminal's answers (colours, modes)
		go func() {
			buf := make([]byte, 64<<10)
			seen := map[string]bool{}
			isReady := false
			for {
				n, err := stdout.Read(buf)
				if err != nil {
					return
				}
				_, _ = emu.Write(buf[:n])
				now := time.Now()
				// Reading the screen is the apparatus's dearest step,
				// on the relay's 2 cores: only when there is something
				// to look for.
				mu.Lock()
				pending := len(seen) < len(probes)
				mu.Unlock()
				if isReady && !pending {
					continue
				}
				screen := emu.String()
				if !isReady && strings.Contains(screen, "sessions(live)") {
					isReady = true
					ready <- struct{}{}
				}
				mu.Lock()
				for name, at := range probes {
					if !seen[name] && strings.Contains(screen, name) {
						seen[name] = true
						lat = append(lat, now.Sub(at))
					}
				}
				mu.Unlock()
			}
		}()
	}
	for range sshBenchConsoles {
		select {
		case <-ready:
		case <-time.After(30 * time.Second):
			b.Fatal("the consoles did not all draw their sessions list within 30 s")
		}
	}
	time.Sleep(2 * time.Second) // settled: every console has its snapshot
	_, rssB := procUsage(b, relay.Process.Pid)
	cpuB, _ := procUsage(b, relay.Process.Pid)
	selfB, _ := procUsage(b, os.Getpid())
	start := time.Now()
	for k := 0; time.Since(start) < sshBenchPhase; k++ {
		name := "Probe" + strconv.Itoa(100000+k)
		if k > 0 {
			post(fmt.Sprintf(`{"sessionId":"1_MX4-probe","projectId":"1","event":"connectionDestroyed","timestamp":%d,"connection":{"id":"p%d","createdAt":1}}`,
				time.Now().UnixMilli(), k-1))
		}
		mu.Lock()
		probes[name] = time.Now()
		mu.Unlock()
		post(fmt.Sprintf(`{"sessionId":"1_MX4-probe","projectId":"1","event":"connectionCreated","timestamp":%d,"connection":{"id":"p%d","createdAt":%d,"data":"{\"name\":\"%s\",\"role\":\"host\"}"}}`,
			time.Now().UnixMilli(), k, time.Now().UnixMilli(), name))
		time.Sleep(sshBenchProbe)
	}
	cpuB2, _ := procUsage(b, relay.Process.Pid)
	selfB2, _ := procUsage(b, os.Getpid())
	loadCPU := (cpuB2 - cpuB).Seconds() / time.Since(start).Seconds()
	clientCPU := (selfB2 - selfB).Seconds() / time.Since(start).Seconds()
	time.Sleep(time.Second) // the last probes' frames
	mu.Lock()
	defer mu.Unlock()
	want := len(probes) * sshBenchConsoles
	if len(lat) < want*9/10 {
		b.Fatalf("only %d of %d probe sightings (consoles × probes): the screens fell behind", len(lat), want)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric((loadCPU-idleCPU)*1000/sshBenchConsoles, "relay-cpu-ms/s/console")
	b.ReportMetric(float64(rssB-rssA)/sshBenchConsoles/(1<<20), "relay-MB/console")
	b.ReportMetric(float64(len(lat))/float64(want), "seen-ratio")
	// The apparatus on the same 2 cores: the clients, their terminal
	// emulators and the load, in cores.
	b.ReportMetric(clientCPU, "bench-clients-cores")
	b.ReportMetric(loadCPU, "relay-cores")
}

// procUsage is a process's CPU time (user + system) and resident memory.
func procUsage(b *testing.B, pid int) (time.Duration, int64) {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) in ")".
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	var rss int64
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			rss = kb << 10
		}
	}
	return time.Duration(utime+stime) * time.Second / ticks, rss
}
