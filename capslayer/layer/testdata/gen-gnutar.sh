#!/bin/sh
# Regenerates the GNU tar reference layers gnutar-*.tar from src/, using the
# real setcap(8) and GNU tar(1). Needs root (setcap, chown) on a filesystem
# with xattrs. layer_test.go (TestGNUTarReference) checks that package layer
# writes the same bytes, except for one field GNU tar fills differently: the
# mode of PAX extended headers (GNU tar 0644, Go's archive/tar 0).
#
# Produced with GNU tar 1.34, libcap2-bin 2.66 (Debian 12):
#   cd capslayer/layer/testdata && sudo ./gen-gnutar.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# mkstage OWNER MODE: lays out the files as capslayer writes them.
mkstage() {
	rm -rf "$stage/root"
	mkdir -p "$stage/root/app/tools" "$stage/root/app-data"
	cp "$here/src/server" "$stage/root/app/server"
	cp "$here/src/tcpdump" "$stage/root/app/tools/tcpdump"
	cp "$here/src/motd" "$stage/root/app-data/motd"
	chmod 0755 "$stage/root/app" "$stage/root/app/tools" "$stage/root/app-data"
	for f in app/server app/tools/tcpdump app-data/motd; do
		chown "$1" "$stage/root/$f" # before setcap: chown clears file capabilities
		chmod "$2" "$stage/root/$f"
	done
	setcap cap_net_bind_service=ep "$stage/root/app/server"
	setcap cap_net_admin,cap_net_raw=ep "$stage/root/app/tools/tcpdump"
}

# gnutar MTIME OUT PATHS...
gnutar() {
	mtime=$1 out=$2
	shift 2
	tar --format=pax --xattrs --xattrs-include=security.capability \
		--pax-option='exthdr.name=%d/PaxHeaders.0/%f,delete=atime,delete=ctime,exthdr.mtime=0' \
		--mtime="@$mtime" --numeric-owner --sort=name --blocking-factor=1 \
		-C "$stage/root" -cf "$here/$out" "$@"
}

mkstage 0:0 0755
gnutar 0 gnutar-default.tar app app-data
getcap -r "$stage/root"
mkstage 65532:65532 0750
gnutar 1700000000 gnutar-owner.tar app app-data

# A revision 3 value, limited to the user namespace whose root is uid 1000.
rm -rf "$stage/root"
mkdir -p "$stage/root/opt"
cp "$here/src/nstool" "$stage/root/opt/nstool"
chmod 0755 "$stage/root/opt" "$stage/root/opt/nstool"
setcap -n 1000 cap_net_bind_service=p "$stage/root/opt/nstool"
gnutar 0 gnutar-rootid.tar opt
getcap -n -r "$stage/root"
