package events

import "testing"

// TestParseConnectionData: the forms apps write connection data in give
// a name, a role and fields (a rule matches on a user id); anything else
// is a name.
func TestParseConnectionData(t *testing.T) {
	for data, want := range map[string]struct{ name, role, userID string }{
		`{"name":"Ana","role":"host","userId":"u-17"}`:    {"Ana", "host", "u-17"},
		`{"username":"bo","type":"panelist","userId":42}`: {"bo", "panelist", "42"},
		`name=Cy&role=moderator`:                          {"Cy", "moderator", ""},
		`just a label`:                                    {"just a label", "", ""},
		`{not json`:                                       {"{not json", "", ""},
		``:                                                {"", "", ""},
	} {
		c := ParseConnectionData(data)
		if c.Name != want.name || c.Role != want.role || c.Field("userId") != want.userID {
			t.Errorf("%q: name %q role %q userId %q; want %+v", data, c.Name, c.Role, c.Field("userId"), want)
		}
	}
}
