package capture

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStdout(t *testing.T) {
	boom := errors.New("boom")
	out, err := Stdout(func() error { fmt.Println("hello"); return boom })
	require.Equal(t, "hello\n", out)
	require.ErrorIs(t, err, boom)
}
