#!/bin/sh
# deps.sh: installs the Debian packages dsv builds and tests with, when run as
# root; otherwise prints the command to run. Quiet when everything is there.
pkgs="build-essential pkg-config liblmdb-dev libzstd-dev zstd libgit2-dev libxxhash-dev
      libssl-dev libpcre2-dev libopenblas-dev zlib1g-dev libjansson-dev
      openmpi-bin libopenmpi-dev python3 git"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq $missing >/dev/null || {
		echo "dsv: error: apt-get install failed for:$missing" >&2; exit 1; }
else
	echo "dsv: error: missing Debian packages:$missing" >&2
	echo "run: sudo apt-get install -y$missing" >&2
	exit 1
fi
