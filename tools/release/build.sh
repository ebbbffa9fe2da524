#!/usr/bin/env bash
# tools/release/build.sh: builds a release of rules_capslayer into a folder.
#
#   tools/release/build.sh --version 0.1.0 [--commit REV] [--out DIR]
#                          [--platforms linux_amd64,...]   (default: all five;
#                           fewer only for quick local tries, never a release)
#
# Writes, from the committed tree of REV (default HEAD; uncommitted changes are
# never part of a release):
#
#   capslayer-<os>-<arch>[.exe]          static capslayer for linux/amd64,
#                                        linux/arm64, darwin/amd64,
#                                        darwin/arm64, windows/amd64
#   capslayer-<os>-<arch>[.exe].sha256   its sha256, as `sha256sum` prints it
#   rules_capslayer-v<VERSION>.tar.gz    the module source: the tree of REV
#                                        under rules_capslayer-<VERSION>/, with
#                                        MODULE.bazel's version set and
#                                        rules/private/release.bzl listing the
#                                        binaries and their integrity
#   rules_capslayer-v<VERSION>.tar.gz.sha256
#   SHA256SUMS                           every file above
#   release-notes.md                     tools/release/notes.md.tpl, filled in
#                                        (install snippet with the integrity)
#   integrity.txt                        the archive's SRI (sha256-<base64>)
#
# Every byte is reproducible: two runs for the same commit and Go version
# give identical files (tools/release/repro_test.sh proves it). The binaries
# are built with -trimpath -buildvcs=false, an empty build id and CGO off, from
# a copy of the tree, with GOFLAGS and GOAMD64/GOARM64 fixed. The archive is a
# GNU tar with sorted names, owner 0:0, the commit's time as mtime, and gzip
# without name or time.
#
# Needs: git, go (the version in go.mod; its version is in release-notes.md),
# GNU tar, gzip, sha256sum, base64, xxd. Measured here (2 shared cores): 57 s
# with a warm Go build cache, 150 s with an empty one.
set -euo pipefail

PLATFORMS=(linux_amd64 linux_arm64 darwin_amd64 darwin_arm64 windows_amd64)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/../.." && pwd -P)

die() {
  printf 'tools/release/build.sh: %s\n' "$*" >&2
  exit 2
}

version='' rev=HEAD out=''
while (($#)); do
  case $1 in
    --version) version=${2:-} && shift 2 ;;
    --version=*) version=${1#*=} && shift ;;
    --commit) rev=${2:-} && shift 2 ;;
    --commit=*) rev=${1#*=} && shift ;;
    --platforms) IFS=, read -r -a PLATFORMS <<<"${2:-}" && shift 2 ;;
    --platforms=*) IFS=, read -r -a PLATFORMS <<<"${1#*=}" && shift ;;
    --out) out=${2:-} && shift 2 ;;
    --out=*) out=${1#*=} && shift ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown argument '$1'; see --help" ;;
  esac
done
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] ||
  die "--version must be a semantic version such as 0.1.0 or 0.1.0-rc.1 (no leading v), got '$version'"
for platform in "${PLATFORMS[@]}"; do
  case $platform in
    linux_amd64 | linux_arm64 | darwin_amd64 | darwin_arm64 | windows_amd64) ;;
    *) die "--platforms: unknown platform '$platform' (linux_amd64, linux_arm64, darwin_amd64, darwin_arm64, windows_amd64)" ;;
  esac
done
out=${out:-$repo/dist/v$version}
# Absolute: the binaries are built from inside the staged tree.
mkdir -p "$out" && out=$(cd "$out" && pwd -P)
commit=$(git -C "$repo" rev-parse --verify "$rev^{commit}") || die "--commit $rev is not a commit"
commit_time=$(git -C "$repo" log -1 --format=%ct "$commit")
if [[ $rev == HEAD ]] && ! git -C "$repo" diff --quiet HEAD -- 2>/dev/null; then
  printf 'tools/release/build.sh: note: uncommitted changes are not part of the release (it is built from %s)\n' "$commit" >&2
fi

# sri prints the Subresource Integrity string of a file: sha256-<base64>.
sri() {
  printf 'sha256-%s\n' "$(sha256sum "$1" | cut -d' ' -f1 | xxd -r -p | base64 -w0)"
}

started=$SECONDS
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
umask 022
prefix=rules_capslayer-$version
stage=$work/$prefix
mkdir -p "$out" "$stage"
rm -f "$out"/capslayer-* "$out"/rules_capslayer-* "$out"/SHA256SUMS "$out"/release-notes.md "$out"/integrity.txt

# 1. The committed tree.
git -C "$repo" archive --format=tar "$commit" | tar -x -C "$stage"

# 2. The binaries, from that tree. Only what is listed here reaches the
# compiler: no GOFLAGS, CGO or microarchitecture level from the caller.
go_version=$(cd "$stage" && go version)
for platform in "${PLATFORMS[@]}"; do
  goos=${platform%_*} goarch=${platform#*_}
  ext=
  [[ $goos == windows ]] && ext=.exe
  file=capslayer-$goos-$goarch$ext
  (
    cd "$stage"
    env -u GOFLAGS -u GOEXPERIMENT CGO_ENABLED=0 GOOS="$goos" GOARCH="$goarch" GOAMD64=v1 GOARM64=v8.0 \
      go build -mod=readonly -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X main.version=$version -X main.commit=$commit" \
      -o "$out/$file" ./capslayer
  )
  (cd "$out" && sha256sum "$file" >"$file.sha256")
done

# 3. The module source, stamped with the version and the binaries' integrity.
sed -i -E '0,/^    version = "[^"]*",$/s//    version = "'"$version"'",/' "$stage/MODULE.bazel"
grep -q "^    version = \"$version\",\$" "$stage/MODULE.bazel" || die "could not set the version in MODULE.bazel"
{
  printf '"""What tools/release/build.sh released. Generated; in git this file is empty."""\n\n'
  printf 'RELEASE_VERSION = "%s"\n\n' "$version"
  printf 'RELEASE_COMMIT = "%s"\n\n' "$commit"
  printf '# Platform (as in rules/private/platforms.bzl) to file name and integrity.\n'
  printf 'RELEASE_BINARIES = {\n'
  for platform in "${PLATFORMS[@]}"; do
    goos=${platform%_*} goarch=${platform#*_}
    ext=
    [[ $goos == windows ]] && ext=.exe
    file=capslayer-$goos-$goarch$ext
    printf '    "%s": struct(file = "%s", integrity = "%s"),\n' "$platform" "$file" "$(sri "$out/$file")"
  done
  printf '}\n'
} >"$stage/rules/private/release.bzl"
archive=rules_capslayer-v$version.tar.gz
tar -C "$work" --sort=name --format=gnu --mtime="@$commit_time" \
  --owner=0 --group=0 --numeric-owner --mode=go-w -cf - "$prefix" |
  gzip -n -9 >"$out/$archive"
(cd "$out" && sha256sum "$archive" >"$archive.sha256")
integrity=$(sri "$out/$archive")
printf '%s\n' "$integrity" >"$out/integrity.txt"
(cd "$out" && sha256sum capslayer-* "$archive" | grep -v '\.sha256$' >SHA256SUMS)

# 4. Release notes with the install snippet.
snippet=$("$here/snippet.sh" "$version" "$integrity")
while IFS= read -r line; do
  case $line in
    '{INSTALL_SNIPPET}') printf '%s\n' "$snippet" ;;
    *)
      line=${line//\{VERSION\}/$version}
      line=${line//\{COMMIT\}/$commit}
      printf '%s\n' "${line//\{GO_VERSION\}/$go_version}"
      ;;
  esac
done <"$here/notes.md.tpl" >"$out/release-notes.md"
{
  printf '\n## Files\n\n```\n'
  cat "$out/SHA256SUMS"
  printf '```\n'
} >>"$out/release-notes.md"

printf 'tools/release/build.sh: v%s (%s) in %s, %d s\n' "$version" "$commit" "$out" "$((SECONDS - started))" >&2
printf '%s\n' "$integrity"
