package sshconsole

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
)

// Two real ed25519 public keys (ssh-keygen -t ed25519), and a line that
// is not one.
const (
	anaKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3tnOeaunL8WRalZsgOQXEyFAszbUm0Dkf+zDJWLPE ana@laptop"
	benKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDWBrQhk3hkn3ccp2Y6xpJCO05WGUChhLWSnk9aQHi0N ben@desk"
)

// TestFromConfigReadsUsersAndSaysWhatIsWrong: users with keys inline or
// in a file come through with their roles, the host key defaults under
// the data directory; every mistake is a ConfigError naming its key.
func TestFromConfigReadsUsersAndSaysWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "ben.pub")
	if err := os.WriteFile(keysFile, []byte("# ben's desk\n\n"+benKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := config.SSH{Listen: ":2222", Users: []config.SSHUser{
		{Name: "ana", Role: "moderator", Keys: []string{anaKey}},
		{Name: "ben", Role: "viewer", KeysFile: keysFile},
	}}
	cfg, err := FromConfig(ok, "/var/lib/gavel")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HostKeyFile != "/var/lib/gavel/ssh_host_ed25519_key" || cfg.MaxSessions != config.DefaultSSHMaxSessions || cfg.IdleTimeout != config.DefaultSSHIdleTimeout {
		t.Errorf("defaults: %+v", cfg)
	}
	ben, _ := parseKey(benKey)
	if u, found := userOf(cfg.Users, ben); !found || u.Name != "ben" || u.Role != events.RoleViewer {
		t.Errorf("ben's key: %+v %v", u, found)
	}

	for key, c := range map[string]config.SSH{
		"users[0].role":             {Users: []config.SSHUser{{Name: "ana", Role: "owner", Keys: []string{anaKey}}}},
		"users[0].keys[0]":          {Users: []config.SSHUser{{Name: "ana", Role: "viewer", Keys: []string{"ssh-ed25519 not-base64"}}}},
		"users[0].keys_file":        {Users: []config.SSHUser{{Name: "ana", Role: "viewer", KeysFile: filepath.Join(dir, "missing.pub")}}},
		"users[0]: ana has no keys": {Users: []config.SSHUser{{Name: "ana", Role: "viewer"}}},
		"users[1].name":             {Users: []config.SSHUser{{Name: "ana", Role: "viewer", Keys: []string{anaKey}}, {Name: "ana", Role: "viewer", Keys: []string{benKey}}}},
		"is ana's too":              {Users: []config.SSHUser{{Name: "ana", Role: "viewer", Keys: []string{anaKey}}, {Name: "ben", Role: "viewer", Keys: []string{anaKey}}}},
		"users: listen is set":      {Listen: ":2222"},
		"max_sessions":              {MaxSessions: -1},
	} {
		_, err := FromConfig(c, dir)
		var ce *exitcode.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v, want a ConfigError saying it", key, err)
		}
	}
}
