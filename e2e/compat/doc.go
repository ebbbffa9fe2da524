// Package compat holds no code: its tests prove which ways of composing
// images keep the PAX record SCHILY.xattr.security.capability of a
// capslayer layer and which lose it or change the layer digest, with the
// real libraries and tools (go-containerregistry, Python's tarfile as
// rules_pkg uses it, GNU tar, podman/buildah, umoci). docs/composing.md
// cites these tests by name.
package compat
