package exitcode

import (
	"errors"
	"fmt"
	"testing"

	"github.com/gavelhq/gavel/opentok"
)

func TestCode(t *testing.T) {
	validation := &opentok.ValidationError{Op: "signal", Field: "type", Rule: "at most 128 bytes"}
	apiErr := &opentok.APIError{Op: "archive start", Method: "POST", Path: "/v2/project/1/archive", Status: 409}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{&UsageError{Err: errors.New("missing SESSION")}, 2},
		{&ConfigError{Err: errors.New("no Video API credentials")}, 2},
		{validation, 2},
		{fmt.Errorf("wrapped: %w", validation), 2},
		{fmt.Errorf("wrapped: %w", &UsageError{Err: errors.New("x")}), 2},
		{apiErr, 1},
		{fmt.Errorf("wrapped: %w", apiErr), 1},
		{errors.New("dial tcp: connection refused"), 1},
	} {
		if got := Code(tc.err); got != tc.want {
			t.Errorf("Code(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
