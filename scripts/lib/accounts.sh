# shellcheck shell=bash
#
# accounts.sh: which account runs the throwaway PostgreSQL server, and how
# a script runs a command as that account or as root.  Sourced by the
# scripts that start a server (run.sh, test.sh, bench.sh, bench-s3.sh,
# valgrind.sh).
#
# initdb refuses to run as root, so a script run as root runs the server
# as the account the postgresql-15 package creates; anyone else runs it
# as themselves, and reaches root through sudo for what needs it (apt,
# mounting the tests' small file system).

if [ "$(id -u)" -eq 0 ]; then
	SERVER_USER=postgres
else
	SERVER_USER=$(id -un)
fi

as_server()
{
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$SERVER_USER" -- "$@"
	else
		"$@"
	fi
}

as_root()
{
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	else
		sudo "$@"
	fi
}
