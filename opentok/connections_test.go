package opentok_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

const (
	connSession = "b40ef09b-3811-4726-b508-e41a0f96c68f"
	connPath    = "/v2/project/{p}/session/" + connSession + "/connection"
)

func TestConnectionList(t *testing.T) {
	fixtures := []struct {
		name  string
		reply string // {p} is the project ID of the environment
		want  opentok.ConnectionList
	}{
		{
			// Java OpenTokTest#testListConnections: projectId, createdAt numbers.
			name: "java",
			reply: `{
  "count": 2,
  "projectId": "{p}",
  "sessionId": "b40ef09b-3811-4726-b508-e41a0f96c68f",
  "items": [
    {
      "connectionId": "527775e1-626e-42c3-b0e8-e2122d20661a",
      "createdAt": 1747655658197,
      "connectionState": "Connected"
    },
    {
      "connectionId": "c6db93f0-8692-438c-944b-cfbaf577c878",
      "createdAt": 1747655658227,
      "connectionState": "Disconnected"
    }
  ]
}`,
			want: opentok.ConnectionList{Count: 2, ProjectID: "{p}", SessionID: connSession, Items: []opentok.ConnectionInfo{
				{ID: "527775e1-626e-42c3-b0e8-e2122d20661a", State: opentok.Connected, CreatedAt: 1747655658197},
				{ID: "c6db93f0-8692-438c-944b-cfbaf577c878", State: opentok.Disconnected, CreatedAt: 1747655658227},
			}},
		},
		{
			// .NET Data/ConnectionTests/ListConnections-response.json: applicationId.
			name: "dotnet",
			reply: `{
  "count": 1,
  "applicationId": "{p}",
  "sessionId": "b40ef09b-3811-4726-b508-e41a0f96c68f",
  "items": [
    {
      "connectionId": "string",
      "connectionState": "Connected",
      "createdAt": 1384221730000
    }
  ]
}`,
			want: opentok.ConnectionList{Count: 1, ProjectID: "{p}", SessionID: connSession, Items: []opentok.ConnectionInfo{
				{ID: "string", State: opentok.Connected, CreatedAt: 1384221730000},
			}},
		},
		{
			// PHP tests/mock/v2/project/APIKEY/session/SESSIONID/connection/get: createdAt strings.
			name: "php",
			reply: `{
  "count": 3,
  "projectId": "{p}",
  "sessionId": "b40ef09b-3811-4726-b508-e41a0f96c68f",
  "items": [
    {
      "connectionId": "8b732909-0a06-46a2-8ea8-074e64d43422",
      "connectionState": "Connected",
      "createdAt": "1384221730000"
    },
    {
      "connectionId": "ab732909-0a06-46a2-8ea8-074e64d43412",
      "connectionState": "Connecting",
      "createdAt": "1384221735000"
    },
    {
      "connectionId": "cd732909-0a06-46a2-8ea8-074e64d43433",
      "connectionState": "Connected",
      "createdAt": "1384221740000"
    }
  ]
}`,
			want: opentok.ConnectionList{Count: 3, ProjectID: "{p}", SessionID: connSession, Items: []opentok.ConnectionInfo{
				{ID: "8b732909-0a06-46a2-8ea8-074e64d43422", State: opentok.Connected, CreatedAt: 1384221730000},
				{ID: "ab732909-0a06-46a2-8ea8-074e64d43412", State: opentok.Connecting, CreatedAt: 1384221735000},
				{ID: "cd732909-0a06-46a2-8ea8-074e64d43433", State: opentok.Connected, CreatedAt: 1384221740000},
			}},
		},
	}
	for _, e := range bothEnvs {
		t.Run(string(e), func(t *testing.T) {
			api, c := newFakeAPI(t, e)
			for _, fx := range fixtures {
				api.expect(call{Method: "GET", Path: connPath, Status: 200, Reply: strings.ReplaceAll(fx.reply, "{p}", api.projectID)})
				got, err := c.Connections.List(context.Background(), connSession)
				if err != nil {
					t.Fatalf("%s: %v", fx.name, err)
				}
				want := fx.want
				want.ProjectID = api.projectID
				if !reflect.DeepEqual(*got, want) {
					t.Errorf("%s:\n got %+v\nwant %+v", fx.name, *got, want)
				}
			}
		})
	}
}

func TestConnectionListBadCreatedAt(t *testing.T) {
	api, c := newFakeAPI(t, legacyEnv)
	api.expect(call{Method: "GET", Path: connPath, Status: 200,
		Reply: `{"count":1,"projectId":"47665971","sessionId":"b40ef09b-3811-4726-b508-e41a0f96c68f","items":[{"connectionId":"c1","connectionState":"Connected","createdAt":"yesterday"}]}`})
	_, err := c.Connections.List(context.Background(), connSession)
	if err == nil || !strings.HasPrefix(err.Error(), "connection list: decode response: ") || !strings.Contains(err.Error(), "createdAt") {
		t.Errorf("err %v, want a decode error naming createdAt", err)
	}
}

func TestConnectionListErrors(t *testing.T) {
	checkErrCases(t, call{Method: "GET", Path: connPath}, []errCase{
		{404, `{"code":404,"message":"Session not found"}`, opentok.ErrNotFound,
			`connection list: the session does not exist or has no connections (service said: "Session not found") [HTTP 404, GET /v2/project/{p}/session/` + connSession + `/connection]`},
		{400, `{"code":400,"message":"Invalid request"}`, opentok.ErrInvalid,
			`connection list: the service refused the session ID (service said: "Invalid request") [HTTP 400, GET /v2/project/{p}/session/` + connSession + `/connection]`},
		{403, `{"code":403,"message":"Authentication error"}`, opentok.ErrAuth, ""},
	}, func(ctx context.Context, c *opentok.Client) error {
		_, err := c.Connections.List(ctx, connSession)
		return err
	})
}

func TestConnectionListValidation(t *testing.T) {
	api, c := newFakeAPI(t, unifiedEnv)
	_, err := c.Connections.List(context.Background(), "")
	mustRefuseField(t, err, "sessionId")
	_, err = c.Connections.List(context.Background(), strings.Repeat("s", opentok.MaxSessionIDLength+1))
	mustRefuseField(t, err, "sessionId")
	mustNotSend(t, api)
}
