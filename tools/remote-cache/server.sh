#!/usr/bin/env bash
# Starts and stops a private nginx that serves a Bazel HTTP remote cache on
# loopback (see nginx.conf.in and docs/remote-cache.md).
#
#   tools/remote-cache/server.sh start DIR [PORT]   prints the cache URL
#   tools/remote-cache/server.sh stop DIR
#   tools/remote-cache/server.sh stats DIR          requests by method and status, cache size
#
# DIR holds everything: conf/, logs/ (pid, error and access logs), tmp/,
# data/ (the cache: ac/ and cas/). PORT defaults to a free port. Nothing of
# the system's nginx is used or touched: not its config, not its service,
# not /run or /var/lib/nginx. As root, the worker runs as www-data (or
# nobody) and owns data/ and tmp/; otherwise everything runs as the caller.
#
# Starting and stopping are bounded: start fails after 10 s without an
# answer, stop escalates from a graceful QUIT to TERM to KILL within 15 s.
# Exit status: 0 ok, 1 failure (the message says why), 2 bad usage.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)

die() {
  printf 'remote-cache: %s\n' "$*" >&2
  exit 1
}
usage() {
  sed -n '4,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# free_port prints a TCP port nobody listens on at 127.0.0.1 (the kernel's
# choice; another process could take it before nginx does, then start fails
# and says so).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

nginx_pid() {
  local f=$1/logs/nginx.pid pid
  [[ -f $f ]] || return 1
  pid=$(<"$f")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  printf '%s\n' "$pid"
}

start() {
  local dir=$1 port=${2:-}
  command -v nginx >/dev/null || die "nginx is not installed (Debian: apt-get install nginx; the dav module is built in)"
  nginx -V 2>&1 | grep -q -- '--with-http_dav_module' ||
    die "this nginx has no http_dav_module, so it cannot accept PUT; install Debian's nginx package"
  command -v curl >/dev/null || die "curl is needed to check that the cache answers (apt-get install curl)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  if nginx_pid "$dir" >/dev/null; then
    die "an nginx already runs for $dir (pid $(nginx_pid "$dir")); stop it first: $0 stop $dir"
  fi
  [[ -n $port ]] || port=$(free_port)
  if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    die "port must be a number from 1 to 65535, not '$port'"
  fi
  mkdir -p "$dir"/{conf,logs,tmp,data}
  local user_line user
  user_line="# (not root: nginx runs as $(id -un))"
  if [[ $(id -u) == 0 ]]; then
    user=nobody
    id www-data >/dev/null 2>&1 && user=www-data
    user_line="user $user $(id -gn "$user");             # the worker owns data/ and tmp/"
    chown "$user:$(id -gn "$user")" "$dir/data" "$dir/tmp"
    chmod 755 "$dir"
    if ! setpriv --reuid="$user" --regid="$(id -g "$user")" --clear-groups test -w "$dir/data" 2>/dev/null; then
      die "nginx's worker user $user cannot reach $dir/data: a parent directory is not searchable by others (mktemp -d makes 0700 directories); use a directory under /var/tmp or chmod o+x the parents"
    fi
  fi
  sed -e "s|@DIR@|$dir|g" -e "s|@PORT@|$port|g" -e "s|@USER_LINE@|$user_line|" \
    "$here/nginx.conf.in" >"$dir/conf/nginx.conf.tmp"
  mv "$dir/conf/nginx.conf.tmp" "$dir/conf/nginx.conf"
  local out
  if ! out=$(nginx -t -q -p "$dir" -c conf/nginx.conf -e "$dir/logs/error.log" 2>&1); then
    die "nginx rejects the configuration $dir/conf/nginx.conf: $out"
  fi
  if ! out=$(timeout 10 nginx -p "$dir" -c conf/nginx.conf -e "$dir/logs/error.log" 2>&1); then
    die "nginx did not start: ${out:-see $dir/logs/error.log}"
  fi
  local url=http://127.0.0.1:$port i
  local code
  for ((i = 0; i < 100; i++)); do
    # A key that does not exist: 404 means the server is up.
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url/ac/0000000000000000000000000000000000000000000000000000000000000000" 2>/dev/null) || true
    if [[ $code != 000 && $code != 404 ]]; then
      stop "$dir"
      die "nginx answers a GET of a missing key with HTTP $code instead of 404; last lines of $dir/logs/error.log:
$(tail -n 3 "$dir/logs/error.log" 2>/dev/null)"
    fi
    if [[ $code == 404 ]]; then
      # And it takes a PUT (the cache is useless read-only).
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT --data-binary probe "$url/cas/probe")
      [[ $code == 201 || $code == 204 ]] || {
        stop "$dir"
        die "nginx answers but a PUT gets HTTP $code instead of 201; last lines of $dir/logs/error.log:
$(tail -n 3 "$dir/logs/error.log" 2>/dev/null)"
      }
      rm -f "$dir/data/cas/probe"
      # The access log counts Bazel's requests only (see stats).
      : >"$dir/logs/access.log"
      printf '%s\n' "$url"
      return 0
    fi
    sleep 0.1
  done
  stop "$dir"
  die "nginx did not answer on $url within 10 s; see $dir/logs/error.log"
}

stop() {
  local dir=$1 pid i
  dir=$(cd "$dir" 2>/dev/null && pwd -P) || return 0
  pid=$(nginx_pid "$dir") || return 0
  for sig in QUIT TERM KILL; do
    kill -"$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      # Gone, or a zombie waiting for init (it no longer listens).
      if ! kill -0 "$pid" 2>/dev/null || [[ $(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) == Z ]]; then
        rm -f "$dir/logs/nginx.pid"
        return 0
      fi
      sleep 0.1
    done
  done
  die "nginx (pid $pid) did not stop"
}

stats() {
  local dir=$1
  [[ -f $dir/logs/access.log ]] || die "no access log in $dir/logs"
  # "GET /ac/... HTTP/1.1" 404 ... -> GET ac 404
  awk '{ split($7, p, "/"); print $6, p[2], $9 }' "$dir/logs/access.log" | tr -d '"' |
    LC_ALL=C sort | uniq -c | awk '{ printf "%s %s %s %d\n", $2, $3, $4, $1 }'
  printf 'size %s files %s\n' "$(du -sh "$dir/data" | cut -f1)" "$(find "$dir/data" -type f | wc -l)"
}

(($# >= 2)) || usage
case $1 in
  start) (($# <= 3)) || usage; start "$2" "${3:-}" ;;
  stop) (($# == 2)) || usage; stop "$2" ;;
  stats) (($# == 2)) || usage; stats "$2" ;;
  *) usage ;;
esac
