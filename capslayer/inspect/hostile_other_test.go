//go:build !unix

package inspect

func hostileUnix() []hostile { return nil }
