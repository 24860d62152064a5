#!/bin/bash
#
# bench-s3.sh: the S3 store's benchmark, behind "make bench-s3" (and
# "make bench").
#
# Builds and installs ftstore, starts a throwaway PostgreSQL 15 server
# (ftstore preloaded, the S3 settings in its postgresql.conf, as
# docs/tier-s3.md asks) and s3rver on 127.0.0.1, writes random files, then
# uploads and downloads them in the same run two ways, with the same
# concurrency:
#
#   ftstore  one psql session per stream, each calling
#            ftstore.object_put(url, key, pg_read_binary_file(path)) or
#            length(ftstore.object_get(url, key)) for its share of files;
#   curl     one curl process per stream, given the same share of files
#            in a config file (curl --aws-sigv4, -T file URL; downloads to
#            /dev/null), so it reuses its connection as ftstore does.
#
# It prints MB/s for both and the ratio ftstore/curl for each step, the
# median of the runs, and how fast the sessions alone read the files with
# pg_read_binary_file, which ftstore's put includes and curl's does not.  curl sends x-amz-content-sha256: UNSIGNED-PAYLOAD
# (curl 7.88 cannot hash each file of one invocation), while ftstore
# hashes every body it signs: the comparison counts that work against
# ftstore.  After the timed runs, every object ftstore wrote is read back
# and its SHA-256 compared with the file's (untimed).
#
# Environment: FTSTORE_BENCH_S3_PORT (PostgreSQL, default 5467, a private
# socket only), FTSTORE_BENCH_S3_S3PORT (s3rver on 127.0.0.1, default
# 4599), FTSTORE_BENCH_S3_SMALL ("count:kB", default 200:256),
# FTSTORE_BENCH_S3_LARGE ("count:MB", default 20:8),
# FTSTORE_BENCH_S3_STREAMS (concurrency, default 4), FTSTORE_BENCH_S3_RUNS
# (default 5).
#
# Then the cold tier itself, in FTSTORE_BENCH_S3_TIER_RUNS rounds (default
# the same as FTSTORE_BENCH_S3_RUNS): each round, FTSTORE_BENCH_S3_TIER
# ("count:kB", default 200:256) JPEGs made from the shared ones, each
# padded with new random bytes so that all differ, and
# FTSTORE_BENCH_S3_TIER_LARGE ("count:MB", default 3:8) more, are stored
# as blobs of the samples of a new dataset (untimed); ftstore.offload()
# moves them to s3rver, and ftstore.blob() reads them all back on an
# emptied cache.  Offload is one backend, so curl is timed at concurrency
# 1, uploading and downloading the same files under keys of its own, in
# the same round, going first every other round.  Offload verifies every
# object it wrote (by the service's ETag, else by reading it back) before
# it commits, and blob() checks every byte's SHA-256; curl does neither.
# Each side does the other's remaining work too, so that neither is given
# less to do: blob() on an emptied cache writes every blob into a cache
# file, and is compared with curl writing every download into a file of
# an emptied directory (and, as before, with curl writing to /dev/null);
# blob() with the cache turned off (ftstore.blob_cache_size = 0) is
# compared with curl writing to /dev/null.  curl's uploads go without the
# "Expect: 100-continue" round trip it adds by default, as ftstore's do.
# The medians of the rounds are printed.
#
# The run's files live in /dev/shm when it exists (TMPDIR chooses another
# place).  FTSTORE_BENCH_S3_ONLY=tier skips the first part.  PG_CONFIG names the
# PostgreSQL 15 installation to build and run against (default the
# system's).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
PORT=${FTSTORE_BENCH_S3_PORT:-5467}
S3PORT=${FTSTORE_BENCH_S3_S3PORT:-4599}
SMALL=${FTSTORE_BENCH_S3_SMALL:-200:256}
LARGE=${FTSTORE_BENCH_S3_LARGE:-20:8}
TIER=${FTSTORE_BENCH_S3_TIER:-200:256}
TIER_LARGE=${FTSTORE_BENCH_S3_TIER_LARGE:-3:8}
STREAMS=${FTSTORE_BENCH_S3_STREAMS:-4}
RUNS=${FTSTORE_BENCH_S3_RUNS:-5}
TIER_RUNS=${FTSTORE_BENCH_S3_TIER_RUNS:-$RUNS}
ONLY=${FTSTORE_BENCH_S3_ONLY:-}
BUCKET=bench

die()
{
	echo "bench-s3.sh: error: $*" >&2
	exit 1
}

for v in "$PORT" "$S3PORT" "$STREAMS" "$RUNS" "$TIER_RUNS" "${SMALL%%:*}" "${SMALL##*:}" "${LARGE%%:*}" "${LARGE##*:}" \
	"${TIER%%:*}" "${TIER##*:}" "${TIER_LARGE%%:*}" "${TIER_LARGE##*:}"; do
	case $v in '' | *[!0-9]*) die "settings must be numbers (got \"$v\")" ;; esac
done
[ "$STREAMS" -ge 1 ] && [ "$RUNS" -ge 1 ] && [ "$TIER_RUNS" -ge 1 ] || die "streams and runs must be at least 1"
case $ONLY in '' | tier) ;; *) die "FTSTORE_BENCH_S3_ONLY is empty or \"tier\" (got \"$ONLY\")" ;; esac

# SERVER_USER, as_server, as_root
. "$ROOT/scripts/lib/accounts.sh"

now()
{
	date +%s.%N
}

# ---------------------------------------------------------------------------
# Packages, s3rver, build, install.
# ---------------------------------------------------------------------------

bash "$ROOT/scripts/deps.sh"
bash "$ROOT/scripts/s3rver.sh" install
S3RVER=$(bash "$ROOT/scripts/s3rver.sh" path)

BUILD_LOG=$(mktemp /tmp/ftstore-bench-s3-build.XXXXXX.log)
echo "==> Building and installing ftstore (log: $BUILD_LOG)"
make -C "$ROOT" PG_CONFIG="$PG_CONFIG" >"$BUILD_LOG" 2>&1 || { tail -n 30 "$BUILD_LOG" >&2; die "the build failed"; }
as_root make -C "$ROOT" PG_CONFIG="$PG_CONFIG" install >>"$BUILD_LOG" 2>&1 || { tail -n 20 "$BUILD_LOG" >&2; die "make install failed"; }
rm -f "$BUILD_LOG"

# ---------------------------------------------------------------------------
# The servers.
# ---------------------------------------------------------------------------

# The servers' files (s3rver's objects, the cluster, the test files) go to
# memory when the machine has /dev/shm, so that the disk's writeback, which
# stalls whichever side happens to be writing, does not decide the figures;
# both sides get the same.  About 1.5 GB with the defaults.  TMPDIR chooses.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
	BASE_DIR=/dev/shm
else
	BASE_DIR=${TMPDIR:-/tmp}
fi
RUN_DIR=$(mktemp -d "$BASE_DIR/ftstore-bench-s3.XXXXXX")
chmod 755 "$RUN_DIR"
PGDATA_DIR=$RUN_DIR/pgdata
SOCK_DIR=$RUN_DIR/sock
SERVER_STARTED=0
S3RVER_PID=

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup()
{
	local rc=$?
	trap - EXIT INT TERM
	[ -z "$S3RVER_PID" ] || kill "$S3RVER_PID" 2>/dev/null || true
	if [ "$SERVER_STARTED" -eq 1 ]; then
		as_server "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$RUN_DIR"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$SOCK_DIR" "$RUN_DIR/s3" "$RUN_DIR/files" "$RUN_DIR/jobs"
[ "$(id -u)" -ne 0 ] || chown -R "$SERVER_USER" "$RUN_DIR"

echo "==> Starting s3rver on 127.0.0.1:$S3PORT"
# s3rver 3.7.1 makes continuation tokens with DES, in OpenSSL 3's legacy
# provider.
node --openssl-legacy-provider "$S3RVER" -d "$RUN_DIR/s3" -a 127.0.0.1 -p "$S3PORT" \
	--silent --configure-bucket "$BUCKET" >"$RUN_DIR/s3rver.log" 2>&1 &
S3RVER_PID=$!
for _ in $(seq 1 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$S3PORT") 2>/dev/null && break
	kill -0 "$S3RVER_PID" 2>/dev/null || { cat "$RUN_DIR/s3rver.log" >&2; die "s3rver did not start"; }
	sleep 0.1
done

echo "==> Starting a throwaway PostgreSQL 15 server (port $PORT)"
as_server "$PGBIN/initdb" -D "$PGDATA_DIR" -A trust -U "$SERVER_USER" -E UTF8 --no-locale -N \
	>"$RUN_DIR/initdb.log" 2>&1 || { cat "$RUN_DIR/initdb.log" >&2; die "initdb failed"; }
as_server tee -a "$PGDATA_DIR/postgresql.conf" >/dev/null <<EOF
shared_preload_libraries = 'ftstore'
ftstore.s3_endpoint = 'http://127.0.0.1:$S3PORT'
ftstore.s3_region = 'us-east-1'
ftstore.s3_access_key_id = 'S3RVER'
ftstore.s3_secret_access_key = 'S3RVER'
EOF
as_server "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$RUN_DIR/server.log" -w -t 60 \
	-o "-p $PORT -k $SOCK_DIR -c listen_addresses=''" start >/dev/null ||
	{ cat "$RUN_DIR/server.log" >&2; die "the server did not start"; }
SERVER_STARTED=1
export PGHOST=$SOCK_DIR PGPORT=$PORT PGUSER=$SERVER_USER PGDATABASE=postgres
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c 'CREATE EXTENSION ftstore' || die "CREATE EXTENSION failed"

# MB/s of BYTES moved in SECONDS.
mbps()
{
	awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f\n", b / 1048576 / t }'
}

median()
{
	tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

bytes_of()
{
	du -cb "$RUN_DIR"/files/"$1"/* | tail -n 1 | cut -f1
}

# ---------------------------------------------------------------------------
# The files, and each stream's share of them.
# ---------------------------------------------------------------------------

if [ "$ONLY" != tier ]; then
	small_n=${SMALL%%:*}
	small_kb=${SMALL##*:}
	large_n=${LARGE%%:*}
	large_mb=${LARGE##*:}
	echo "==> Writing $small_n files of $small_kb kB and $large_n of $large_mb MB (random bytes)"
	mkdir -p "$RUN_DIR/files/small" "$RUN_DIR/files/large"
	for ((i = 0; i < small_n; i++)); do
		head -c $((small_kb * 1024)) /dev/urandom >"$RUN_DIR/files/small/$(printf %04d "$i")"
	done
	for ((i = 0; i < large_n; i++)); do
		head -c $((large_mb * 1024 * 1024)) /dev/urandom >"$RUN_DIR/files/large/$(printf %04d "$i")"
	done
	[ "$(id -u)" -ne 0 ] || chown -R "$SERVER_USER" "$RUN_DIR/files"

	# jobs SET: one psql script and one curl config per stream and direction.
	write_jobs()
	{
		local set=$1 files=("$RUN_DIR"/files/"$1"/*) s i f key
		for ((s = 0; s < STREAMS; s++)); do
			: >"$RUN_DIR/jobs/$set-put-$s.sql"
			: >"$RUN_DIR/jobs/$set-get-$s.sql"
			: >"$RUN_DIR/jobs/$set-read-$s.sql"
			printf '%s\n' 'aws-sigv4 = "aws:amz:us-east-1:s3"' 'user = "S3RVER:S3RVER"' \
				'header = "x-amz-content-sha256: UNSIGNED-PAYLOAD"' 'silent' 'show-error' 'fail' \
				>"$RUN_DIR/jobs/$set-put-$s.curl"
			cp "$RUN_DIR/jobs/$set-put-$s.curl" "$RUN_DIR/jobs/$set-get-$s.curl"
		done
		for ((i = 0; i < ${#files[@]}; i++)); do
			f=${files[$i]}
			s=$((i % STREAMS))
			key=$set/$(basename "$f")
			echo "SELECT ftstore.object_put('s3://$BUCKET/ft', '$key', pg_read_binary_file('$f'));" \
				>>"$RUN_DIR/jobs/$set-put-$s.sql"
			echo "SELECT length(ftstore.object_get('s3://$BUCKET/ft', '$key'));" \
				>>"$RUN_DIR/jobs/$set-get-$s.sql"
			echo "SELECT length(pg_read_binary_file('$f'));" \
				>>"$RUN_DIR/jobs/$set-read-$s.sql"
			printf 'upload-file = "%s"\nurl = "http://127.0.0.1:%s/%s/curl/%s"\n' \
				"$f" "$S3PORT" "$BUCKET" "$key" >>"$RUN_DIR/jobs/$set-put-$s.curl"
			printf 'url = "http://127.0.0.1:%s/%s/curl/%s"\noutput = "/dev/null"\n' \
				"$S3PORT" "$BUCKET" "$key" >>"$RUN_DIR/jobs/$set-get-$s.curl"
		done
	}
	write_jobs small
	write_jobs large

	# timed TOOL SET DIRECTION: seconds for all streams, run at once.
	timed()
	{
		local tool=$1 set=$2 dir=$3 s t0 t1 pids=() rc=0
		t0=$(now)
		for ((s = 0; s < STREAMS; s++)); do
			if [ "$tool" = ftstore ] || [ "$tool" = read ]; then
				"${PSQL[@]}" -At -f "$RUN_DIR/jobs/$set-$dir-$s.sql" >/dev/null &
			else
				curl -K "$RUN_DIR/jobs/$set-$dir-$s.curl" &
			fi
			pids+=($!)
		done
		for p in "${pids[@]}"; do
			wait "$p" || rc=$?
		done
		t1=$(now)
		[ "$rc" -eq 0 ] || die "$tool $dir of the $set files failed"
		echo "$t0 $t1" | awk '{ printf "%.4f\n", $2 - $1 }'
	}

	declare -A secs=()
	for ((r = 1; r <= RUNS; r++)); do
		echo "==> Run $r of $RUNS"
		for set in small large; do
			# What ftstore's put spends reading the files into bytea values,
			# for the reader of the figures: curl reads them as it sends.
			t=$(timed read "$set" read)
			secs[read.$set.read]+="$t "
			for dir in put get; do
				# Alternate which tool goes first, so neither always meets a
				# warmer service.
				if [ $((r % 2)) -eq 1 ]; then order="ftstore curl"; else order="curl ftstore"; fi
				for tool in $order; do
					t=$(timed "$tool" "$set" "$dir")
					secs[$tool.$set.$dir]+="$t "
					printf '    %-7s %-5s %-3s %8.3f s\n' "$tool" "$set" "$dir" "$t"
				done
			done
		done
	done

	echo "==> Checking every object ftstore wrote against its file (untimed)"
	bad=0
	for f in "$RUN_DIR"/files/small/* "$RUN_DIR"/files/large/*; do
		set=$(basename "$(dirname "$f")")
		want=$(sha256sum "$f" | cut -d' ' -f1)
		got=$("${PSQL[@]}" -At -c "SELECT encode(sha256(ftstore.object_get('s3://$BUCKET/ft', '$set/$(basename "$f")')), 'hex')")
		[ "$want" = "$got" ] || { echo "    $set/$(basename "$f"): sha256 differs" >&2; bad=$((bad + 1)); }
	done
	[ "$bad" -eq 0 ] || die "$bad objects came back different"
	echo "    all $((small_n + large_n)) objects identical"

	echo
	echo "S3 store against curl, s3rver 3.7.1 on 127.0.0.1, $STREAMS streams, median of $RUNS runs"
	echo "  machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1); $(curl --version | head -n 1 | cut -d' ' -f1-2)"
	printf '  %-26s %12s %12s %10s\n' step "ftstore MB/s" "curl MB/s" ratio
	for set in small large; do
		b=$(bytes_of "$set")
		if [ "$set" = small ]; then what="$small_n x $small_kb kB"; else what="$large_n x $large_mb MB"; fi
		rd=$(echo "${secs[read.$set.read]}" | median)
		awk -v b="$b" -v rd="$rd" -v what="read $what" 'BEGIN {
			printf "  %-26s %12.1f %12s %10s\n", what " (in put)", b / 1048576 / rd, "-", "-" }'
		for dir in put get; do
			ft=$(echo "${secs[ftstore.$set.$dir]}" | median)
			cu=$(echo "${secs[curl.$set.$dir]}" | median)
			awk -v b="$b" -v ft="$ft" -v cu="$cu" -v what="$dir $what" 'BEGIN {
				f = b / 1048576 / ft; c = b / 1048576 / cu;
				printf "  %-26s %12.1f %12.1f %9.2fx\n", what, f, c, f / c }'
		done
	done
fi

# ---------------------------------------------------------------------------
# The cold tier: offload and cold reads against curl at concurrency 1.
# ---------------------------------------------------------------------------

tier_n=${TIER%%:*}
tier_kb=${TIER##*:}
tier_large_n=${TIER_LARGE%%:*}
tier_large_mb=${TIER_LARGE##*:}
JPEGS=("$ROOT"/../shared/data/llamafactory/mllm_demo_data/*.jpg)
[ -f "${JPEGS[0]}" ] || die "no shared JPEGs in $ROOT/../shared/data/llamafactory/mllm_demo_data"
echo
echo "==> The cold tier: $TIER_RUNS rounds of $tier_n JPEGs of $tier_kb kB and $tier_large_n of $tier_large_mb MB"
mkdir -p "$RUN_DIR/cache" "$RUN_DIR/curlfiles"
[ "$(id -u)" -ne 0 ] || chown "$SERVER_USER" "$RUN_DIR/cache"

# make_jpeg SRC SIZE OUT: a shared JPEG, then random bytes up to the size,
# so that every file, and so every blob, differs.
make_jpeg()
{
	{ cat "$1"; head -c $(($2 - $(stat -c %s "$1"))) /dev/urandom; } >"$3"
}

TIER_SET=(-c "SET ftstore.tier_url = 's3://$BUCKET/tier'"
	-c "SET ftstore.blob_cache_dir = '$RUN_DIR/cache'"
	-c "SET ftstore.blob_cache_size = '4GB'")

# tier_round R: new files, stored as the blobs of dataset bench_s3_tier_R,
# and the curl configs that upload and download the same files.
tier_round()
{
	local r=$1 dir=$RUN_DIR/files/tier$1 ds=bench_s3_tier_$1 i n=0 f
	mkdir -p "$dir"
	for ((i = 0; i < tier_n; i++)); do
		make_jpeg "${JPEGS[$((i % ${#JPEGS[@]}))]}" $((tier_kb * 1024)) "$dir/s$(printf %04d "$i").jpg"
	done
	for ((i = 0; i < tier_large_n; i++)); do
		make_jpeg "${JPEGS[$((i % ${#JPEGS[@]}))]}" $((tier_large_mb * 1024 * 1024)) "$dir/l$(printf %04d "$i").jpg"
	done
	[ "$(id -u)" -ne 0 ] || chown -R "$SERVER_USER" "$dir"
	printf '%s\n' 'aws-sigv4 = "aws:amz:us-east-1:s3"' 'user = "S3RVER:S3RVER"' \
		'header = "x-amz-content-sha256: UNSIGNED-PAYLOAD"' 'silent' 'show-error' 'fail' \
		>"$RUN_DIR/jobs/tier-get-$r.curl"
	cp "$RUN_DIR/jobs/tier-get-$r.curl" "$RUN_DIR/jobs/tier-getf-$r.curl"
	# ftstore sends a body at once; curl would wait for "100 Continue".
	# (s3rver checks no signature: the header curl removes is signed.)
	{ cat "$RUN_DIR/jobs/tier-get-$r.curl"; echo 'header = "Expect:"'; } \
		>"$RUN_DIR/jobs/tier-put-$r.curl"
	echo "SELECT ftstore.create_dataset('$ds') IS NOT NULL;" >"$RUN_DIR/jobs/tier-load-$r.sql"
	for f in "$dir"/*; do
		n=$((n + 1))
		printf '%s\n' "INSERT INTO ftstore.samples (dataset_id, sample, source, record)" \
			"SELECT ftstore.dataset_id('$ds'), ftstore.ftsample(jsonb_build_object(" \
			"  'messages', jsonb_build_array(" \
			"    jsonb_build_object('role', 'user', 'content', '<image>What is this?')," \
			"    jsonb_build_object('role', 'assistant', 'content', 'A picture.'))," \
			"  'images', jsonb_build_array(ftstore.store_blob('$ds'," \
			"    pg_read_binary_file('$f'), 'image/jpeg')))), 'bench', $n;" \
			>>"$RUN_DIR/jobs/tier-load-$r.sql"
		printf 'upload-file = "%s"\nurl = "http://127.0.0.1:%s/%s/curltier%s/%s"\n' \
			"$f" "$S3PORT" "$BUCKET" "$r" "$(basename "$f")" >>"$RUN_DIR/jobs/tier-put-$r.curl"
		printf 'url = "http://127.0.0.1:%s/%s/curltier%s/%s"\noutput = "/dev/null"\n' \
			"$S3PORT" "$BUCKET" "$r" "$(basename "$f")" >>"$RUN_DIR/jobs/tier-get-$r.curl"
		printf 'url = "http://127.0.0.1:%s/%s/curltier%s/%s"\noutput = "%s/%s"\n' \
			"$S3PORT" "$BUCKET" "$r" "$(basename "$f")" "$RUN_DIR/curlfiles" \
			"$(basename "$f")" >>"$RUN_DIR/jobs/tier-getf-$r.curl"
	done
	"${PSQL[@]}" -At -f "$RUN_DIR/jobs/tier-load-$r.sql" >/dev/null || die "storing the blobs of round $r failed"
}

seconds()
{
	echo "$1 $2" | awk '{ print $2 - $1 }'
}

# tier_step R WHAT: seconds of one step of round R.
tier_step()
{
	local r=$1 ds=bench_s3_tier_$1 t0 t1 out
	case $2 in
		offload)
			t0=$(now)
			out=$("${PSQL[@]}" -At "${TIER_SET[@]}" -c "SELECT ftstore.offload('$ds')" | tail -n 1)
			t1=$(now)
			[ "$out" = "$tier_count" ] || die "offload moved \"$out\" blobs, not $tier_count"
			;;
		curl-put)
			t0=$(now)
			curl -K "$RUN_DIR/jobs/tier-put-$r.curl" >/dev/null || die "curl's upload failed"
			t1=$(now)
			;;
		blob | blob-nocache)
			as_server find "$RUN_DIR/cache" -type f -delete
			# The dataset's id is looked up once (an init plan), not per row.
			t0=$(now)
			out=$("${PSQL[@]}" -At "${TIER_SET[@]}" \
				-c "SET ftstore.blob_cache_size = '$([ "$2" = blob ] && echo 4GB || echo 0)'" \
				-c "SELECT sum(length(ftstore.blob(s.sample, 1)))
				FROM ftstore.samples s WHERE s.dataset_id = (SELECT ftstore.dataset_id('$ds'))" | tail -n 1)
			t1=$(now)
			[ "$out" = "$tier_bytes" ] || die "blob() read \"$out\" bytes, not $tier_bytes"
			;;
		curl-get)
			t0=$(now)
			curl -K "$RUN_DIR/jobs/tier-get-$r.curl" || die "curl's download failed"
			t1=$(now)
			;;
		curl-get-files)
			find "$RUN_DIR/curlfiles" -type f -delete
			t0=$(now)
			curl -K "$RUN_DIR/jobs/tier-getf-$r.curl" || die "curl's download failed"
			t1=$(now)
			[ "$(du -cb "$RUN_DIR"/curlfiles/* | tail -n 1 | cut -f1)" = "$tier_bytes" ] ||
				die "curl's files are not all there"
			;;
	esac
	seconds "$t0" "$t1"
}

tier_count=$((tier_n + tier_large_n))
declare -A tier_secs=()
offload_ratios=
read_ratios=
readf_ratios=
nocache_ratios=
for ((r = 1; r <= TIER_RUNS; r++)); do
	echo "==> Tier round $r of $TIER_RUNS"
	tier_round "$r"
	tier_bytes=$(bytes_of "tier$r")
	# Alternate which goes first, so neither always meets a warmer service.
	if [ $((r % 2)) -eq 1 ]; then
		steps="offload curl-put blob curl-get-files blob-nocache curl-get"
	else
		steps="curl-put offload curl-get blob-nocache curl-get-files blob"
	fi
	for step in $steps; do
		t=$(tier_step "$r" "$step")
		tier_secs[$step]+="$t "
		eval "t_${step//-/_}=$t"
		printf '    %-8s %8.3f s  %8.1f MB/s\n' "$step" "$t" "$(mbps "$tier_bytes" "$t")"
	done
	offload_ratios+="$(awk -v a="$t_curl_put" -v b="$t_offload" 'BEGIN { print a / b }') "
	read_ratios+="$(awk -v a="$t_curl_get" -v b="$t_blob" 'BEGIN { print a / b }') "
	readf_ratios+="$(awk -v a="$t_curl_get_files" -v b="$t_blob" 'BEGIN { print a / b }') "
	nocache_ratios+="$(awk -v a="$t_curl_get" -v b="$t_blob_nocache" 'BEGIN { print a / b }') "
done

echo
echo "Cold tier on s3rver against curl, concurrency 1 (offload is one backend), median of $TIER_RUNS rounds"
echo "  each round: $tier_count blobs, $((tier_bytes / 1048576)) MB ($tier_n x $tier_kb kB, $tier_large_n x $tier_large_mb MB)"
printf '  %-36s %12s %12s %10s %14s\n' step "ftstore MB/s" "curl MB/s" ratio "round ratios"
for row in "offload|offload|curl-put|$offload_ratios" \
	"blob() of all, cold cache (files)|blob|curl-get-files|$readf_ratios" \
	"blob() cold cache, curl to /dev/null|blob|curl-get|$read_ratios" \
	"blob() of all, no cache (not filled)|blob-nocache|curl-get|$nocache_ratios"; do
	IFS='|' read -r what ft cu ratios <<<"$row"
	ft=$(echo "${tier_secs[$ft]}" | median)
	cu=$(echo "${tier_secs[$cu]}" | median)
	printf '  %-36s %12.1f %12.1f %9.2fx %13.2fx\n' "$what" "$(mbps "$tier_bytes" "$ft")" \
		"$(mbps "$tier_bytes" "$cu")" "$(awk -v f="$ft" -v c="$cu" 'BEGIN { print c / f }')" \
		"$(echo "$ratios" | median)"
done
