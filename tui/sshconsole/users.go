package sshconsole

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"charm.land/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
)

// User is someone allowed in: the name the audit trail shows, the role
// their consoles have (as a console token's), and the keys that prove it.
type User struct {
	Name string
	Role events.Role
	Keys []ssh.PublicKey
}

// Config is the SSH console's configuration, read from [relay.ssh].
type Config struct {
	Listen      string
	HostKeyFile string
	MaxSessions int
	IdleTimeout time.Duration
	Users       []User
}

// FromConfig reads [relay.ssh], with the host key under dataDir unless
// host_key_file says otherwise. Mistakes are *exitcode.ConfigError naming
// the key: a key that does not parse, a role that is not one, a name used
// twice, the same key given to two users.
func FromConfig(c config.SSH, dataDir string) (Config, error) {
	cfg := Config{Listen: c.Listen, HostKeyFile: c.HostKeyFile, MaxSessions: c.MaxSessions, IdleTimeout: c.IdleTimeout.Duration}
	bad := func(format string, a ...any) (Config, error) {
		return Config{}, &exitcode.ConfigError{Err: fmt.Errorf("relay.ssh."+format, a...)}
	}
	if cfg.HostKeyFile == "" {
		cfg.HostKeyFile = filepath.Join(dataDir, "ssh_host_ed25519_key")
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = config.DefaultSSHMaxSessions
	}
	if cfg.MaxSessions < 1 {
		return bad("max_sessions: expected 1 or more, got %d", c.MaxSessions)
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = config.DefaultSSHIdleTimeout
	}
	if cfg.IdleTimeout < time.Minute {
		return bad("idle_timeout: expected at least 1m, got %s", cfg.IdleTimeout)
	}
	names := map[string]bool{}
	owner := map[string]string{} // key fingerprint → user
	for i, u := range c.Users {
		at := fmt.Sprintf("users[%d]", i)
		if strings.TrimSpace(u.Name) == "" {
			return bad("%s.name: expected the name the audit trail shows", at)
		}
		if names[u.Name] {
			return bad("%s.name: %q is listed twice", at, u.Name)
		}
		names[u.Name] = true
		role := events.Role(u.Role)
		if !role.Valid() {
			return bad("%s.role: expected viewer, moderator or admin, got %q", at, u.Role)
		}
		user := User{Name: u.Name, Role: role}
		for j, line := range u.Keys {
			k, err := parseKey(line)
			if err != nil {
				return bad("%s.keys[%d]: %v", at, j, err)
			}
			user.Keys = append(user.Keys, k)
		}
		if u.KeysFile != "" {
			ks, err := readKeysFile(u.KeysFile)
			if err != nil {
				return bad("%s.keys_file: %v", at, err)
			}
			user.Keys = append(user.Keys, ks...)
		}
		if len(user.Keys) == 0 {
			return bad("%s: %s has no keys (keys or keys_file)", at, u.Name)
		}
		for _, k := range user.Keys {
			fp := gossh.FingerprintSHA256(k)
			if other, ok := owner[fp]; ok && other != u.Name {
				return bad("%s: key %s is %s's too: a key must say who someone is", at, fp, other)
			}
			owner[fp] = u.Name
		}
		cfg.Users = append(cfg.Users, user)
	}
	if cfg.Listen != "" && len(cfg.Users) == 0 {
		return bad("users: listen is set but no [[relay.ssh.users]] are: nobody could log in")
	}
	return cfg, nil
}

// parseKey reads one authorized_keys line ("ssh-ed25519 AAAA… comment").
// The comment is not kept: it is no proof of anything.
func parseKey(line string) (ssh.PublicKey, error) {
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return nil, fmt.Errorf("expected an authorized_keys line (ssh-ed25519 AAAA… name): %w", err)
	}
	return k, nil
}

// readKeysFile reads an authorized_keys file: a key a line, blank lines
// and # comments skipped.
func readKeysFile(path string) ([]ssh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []ssh.PublicKey
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := parseKey(line)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		out = append(out, k)
	}
	return out, sc.Err()
}

// userOf is the user key belongs to.
func userOf(users []User, key ssh.PublicKey) (User, bool) {
	if key == nil {
		return User{}, false
	}
	for _, u := range users {
		for _, k := range u.Keys {
			if ssh.KeysEqual(k, key) {
				return u, true
			}
		}
	}
	return User{}, false
}
