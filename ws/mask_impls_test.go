//go:build (purego || !amd64) && !js

package ws

// maskImpls where Mask has one path: NEON on arm64, maskGeneric with the
// purego tag and on every other architecture.
func maskImpls() []maskImpl {
	return []maskImpl{{name: "default", use: func() func() { return func() {} }}}
}
