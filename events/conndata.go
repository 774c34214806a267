package events

import (
	"encoding/json"
	"strconv"
	"strings"
)

// ConnectionData is what a connection's data (the token's, verbatim) says
// about its person, when the app writes it in one of the usual forms: a
// JSON object ({"name":"Ana","role":"host","userId":"u-17"}) or a query
// string (name=Ana&role=host). It is untrusted text: whatever shows it
// must sanitise it first.
type ConnectionData struct {
	// Name is its "name" (or "username", "displayName", "display_name",
	// "user"); for data in neither form, the whole data.
	Name string
	// Role is its "role" (or "type"), as the app spells it.
	Role   string
	fields map[string]string // string values
	nums   map[string]string // numeric values (a user id), as written
}

// ParseConnectionData reads data; it never fails: data in no known form
// is a name.
func ParseConnectionData(data string) ConnectionData {
	d := strings.TrimSpace(data)
	if d == "" {
		return ConnectionData{}
	}
	if d[0] == '{' {
		var obj map[string]any
		if json.Unmarshal([]byte(d), &obj) == nil {
			c := ConnectionData{fields: make(map[string]string, len(obj))}
			for k, v := range obj {
				switch v := v.(type) {
				case string:
					c.fields[k] = v
				case float64: // a numeric user id: a field, never a name
					if c.nums == nil {
						c.nums = map[string]string{}
					}
					c.nums[k] = strconv.FormatFloat(v, 'f', -1, 64)
				}
			}
			c.Name = c.first("name", "username", "displayName", "display_name", "user")
			c.Role = c.first("role", "type")
			return c
		}
	}
	if strings.Contains(d, "=") && !strings.ContainsAny(d, " {") {
		c := ConnectionData{fields: map[string]string{}}
		for kv := range strings.SplitSeq(d, "&") {
			k, v, _ := strings.Cut(kv, "=")
			c.fields[k] = v
		}
		c.Name, c.Role = c.first("name", "username"), c.fields["role"]
		if c.Name != "" || c.Role != "" {
			return c
		}
	}
	return ConnectionData{Name: d}
}

// Field is the value of one field of the data ("" if it has none).
func (c ConnectionData) Field(key string) string {
	if v, ok := c.fields[key]; ok {
		return v
	}
	return c.nums[key]
}

func (c ConnectionData) first(keys ...string) string {
	for _, k := range keys {
		if v := c.fields[k]; v != "" {
			return v
		}
	}
	return ""
}
