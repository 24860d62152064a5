#!/bin/bash
#
# deps.sh: install what building, running and testing ftstore needs on
# Debian 12, and nothing that is already there.
#
# Safe to run any number of times: it asks dpkg what is installed and only
# calls apt-get (with one "apt-get update" first) when something is missing.
# Runs as root, or through sudo when it is available.

set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

# What the build (PGXS, zstd, zlib, libcurl), the throwaway server
# (PostgreSQL 15 with contrib for pgcrypto), the TAP tests (IPC::Run, and
# PostgreSQL::Test::Cluster, which ships in the server-dev package) and the
# scripts (python3 with psycopg, jq, compressors) use; for the S3
# store's tests, botocore (python3-boto3) as the independent SigV4 signer,
# node and npm to install and run s3rver, openssl to make a test CA; and
# valgrind for scripts/valgrind.sh ("make valgrind").
PACKAGES=(
	build-essential
	postgresql-15
	postgresql-server-dev-15
	postgresql-contrib-15
	libzstd-dev
	zlib1g-dev
	libcurl4-openssl-dev
	libssl-dev
	libipc-run-perl
	python3
	python3-psycopg
	python3-boto3
	nodejs
	npm
	openssl
	jq
	zstd
	gzip
	valgrind
)

die()
{
	echo "deps.sh: error: $*" >&2
	exit 1
}

# Installed, or provided by an installed package: on Debian 12,
# postgresql-contrib-15 is a virtual package that postgresql-15 provides.
is_installed()
{
	[ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ] ||
		dpkg-query -W -f='${db:Status-Status}\t${Provides}\n' 2>/dev/null |
		awk -F'\t' -v want="$1" '
			$1 == "installed" {
				n = split($2, names, ",")
				for (i = 1; i <= n; i++)
				{
					sub(/^ +/, "", names[i])
					sub(/ .*$/, "", names[i])
					if (names[i] == want)
						found = 1
				}
			}
			END { exit !found }'
}

# The Debian 12 perl ships JSON::PP in perl-modules; only an unusual perl
# lacks it, and then the separate package brings it.
json_pp_missing()
{
	! perl -MJSON::PP -e 1 >/dev/null 2>&1
}

missing=()
for pkg in "${PACKAGES[@]}"; do
	is_installed "$pkg" || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ] && ! json_pp_missing; then
	echo "deps: all packages present"
	exit 0
fi

command -v apt-get >/dev/null 2>&1 ||
	die "apt-get not found: this script installs Debian 12 packages (${missing[*]})"

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo env DEBIAN_FRONTEND=noninteractive)
else
	die "not root and no sudo: install these as root first: ${missing[*]}"
fi

log=$(mktemp /tmp/ftstore-deps.XXXXXX.log)

apt_quiet()
{
	if ! "${as_root[@]}" apt-get -q -y -o Dpkg::Use-Pty=0 "$@" >>"$log" 2>&1; then
		echo "deps.sh: error: 'apt-get $*' failed; its last lines:" >&2
		tail -n 25 "$log" >&2
		echo "deps.sh: full log: $log" >&2
		exit 1
	fi
}

echo "deps: installing ${missing[*]:-libjson-pp-perl} (log: $log)"
apt_quiet update

if [ ${#missing[@]} -gt 0 ]; then
	apt_quiet install --no-install-recommends "${missing[@]}"
fi

if json_pp_missing; then
	apt_quiet install --no-install-recommends libjson-pp-perl
	json_pp_missing && die "perl still cannot load JSON::PP after installing libjson-pp-perl"
fi

for pkg in "${missing[@]}"; do
	is_installed "$pkg" || die "package $pkg is still not installed; see $log"
done

rm -f "$log"
echo "deps: done"
