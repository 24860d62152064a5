#!/bin/bash
#
# s3rver.sh: the S3 service the S3 store's tests and benchmark run against.
#
#   s3rver.sh install   installs s3rver 3.7.1 from the npm registry into
#                       .s3rver/ at the top of the tree (git-ignored), once:
#                       a later call finds it there and does nothing.
#   s3rver.sh path      prints the path of its entry script, for node.
#
# Tests start it themselves, on 127.0.0.1, with a data directory of their
# own, and stop it at the end.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VERSION=3.7.1
PREFIX=$ROOT/.s3rver
ENTRY=$PREFIX/node_modules/s3rver/bin/s3rver.js

installed_version()
{
	[ -f "$PREFIX/node_modules/s3rver/package.json" ] &&
		node -e 'process.stdout.write(require(process.argv[1]).version)' \
			"$PREFIX/node_modules/s3rver/package.json" 2>/dev/null
}

case ${1:-} in
	install)
		command -v node >/dev/null 2>&1 || { echo "s3rver.sh: node is missing (scripts/deps.sh installs it)" >&2; exit 1; }
		command -v npm >/dev/null 2>&1 || { echo "s3rver.sh: npm is missing (scripts/deps.sh installs it)" >&2; exit 1; }
		if [ "$(installed_version || true)" = "$VERSION" ] && [ -f "$ENTRY" ]; then
			echo "s3rver: $VERSION present in $PREFIX"
			exit 0
		fi
		echo "s3rver: installing s3rver@$VERSION into $PREFIX"
		mkdir -p "$PREFIX"
		npm install --prefix "$PREFIX" --no-audit --no-fund --no-save --loglevel=error \
			"s3rver@$VERSION" >/dev/null
		[ "$(installed_version || true)" = "$VERSION" ] ||
			{ echo "s3rver.sh: s3rver $VERSION is still not in $PREFIX" >&2; exit 1; }
		;;
	path)
		[ -f "$ENTRY" ] || { echo "s3rver.sh: not installed; run: $0 install" >&2; exit 1; }
		echo "$ENTRY"
		;;
	*)
		echo "usage: $0 install | path" >&2
		exit 2
		;;
esac
