# The offload worker that starts with the server: ftstore in
# shared_preload_libraries and ftstore.offload_databases naming the
# databases.  It must come up at start, wait for a database where the
# extension is not yet installed, apply the policy there once it is,
# come back after a restart and after a crash of another backend, and
# share a database with start_offload_worker() rather than run twice.
use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $node = PostgreSQL::Test::Cluster->new('worker');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'ftstore'
restart_after_crash = on
ftstore.offload_databases = 'postgres, "Later db"'
ftstore.offload_naptime = '1s'
ftstore.offload_threshold = '4kB'
ftstore.tier_url = 'file://$tmp/tier'
ftstore.blob_cache_dir = '$tmp/cache'
});
$node->start;

my $workers = q{
	SELECT string_agg(d.datname, ',' ORDER BY d.datname)
	FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid
	WHERE a.backend_type = 'ftstore offload worker'};

# A database named in the setting that does not exist yet: its worker
# fails to connect and is started again, until the database exists.
ok($node->poll_query_until('postgres', "SELECT ($workers) = 'postgres'"),
	'the worker of an existing database starts with the server');
$node->safe_psql('postgres', 'CREATE DATABASE "Later db"');
ok($node->poll_query_until('postgres', "SELECT ($workers) = 'Later db,postgres'"),
	'the worker of a database created later connects to it');

# The extension is not installed anywhere yet: each worker says so once.
my $waiting = qr/ftstore offload worker is waiting for extension "ftstore" in database "postgres"/;
ok( $node->wait_for_log($waiting),
	'a worker says it waits for the extension');
sleep 3;	# three rounds at a naptime of 1s
my @said = (slurp_file($node->logfile) =~ /$waiting/g);
is(scalar @said, 1, 'and says it once, not every round');

my $gen = q{
	SELECT ftstore.create_dataset('%1$s');
	INSERT INTO ftstore.samples (dataset_id, sample, source, record)
	SELECT ftstore.dataset_id('%1$s'), ftstore.ftsample(jsonb_build_object(
		'messages', jsonb_build_array(
			jsonb_build_object('role', 'user', 'content', '<image>' || i),
			jsonb_build_object('role', 'assistant', 'content', 'ok')),
		'images', jsonb_build_array(ftstore.store_blob('%1$s',
			decode(repeat(md5('%1$s' || i), %2$d * 64), 'hex'))))), 'gen', i
	FROM generate_series(1, %3$d) i;
};
# The SHA-256 of what $gen stores, computed here.
sub gen_hex
{
	my ($ds, $i, $kb) = @_;
	return sha256_hex(pack('H*', md5_hex("$ds$i") x ($kb * 64)));
}
my $hot = q{
	SELECT count(*) FROM ftstore.blob_catalog c
	JOIN ftstore.blob_claims cl USING (sha256)
	WHERE cl.dataset_id = ftstore.dataset_id('%s') AND c.tier = 'hot'};
my $hashes = q{
	SELECT string_agg(encode(sha256(ftstore.blob(s.sample, 1)), 'hex'), ',' ORDER BY s.record)
	FROM ftstore.samples s WHERE s.dataset_id = ftstore.dataset_id('%s')};
sub expect_hashes
{
	my ($ds, $kb, $n) = @_;
	return join(',', map { gen_hex($ds, $_, $kb) } 1 .. $n);
}

# Blobs over and under the threshold, in both databases.
for my $db ('postgres', 'Later db')
{
	$node->safe_psql($db, 'CREATE EXTENSION ftstore');
	$node->safe_psql($db, sprintf($gen, 'big', 8, 4));
	$node->safe_psql($db, sprintf($gen, 'small', 2, 3));
	ok($node->poll_query_until($db, "SELECT (" . sprintf($hot, 'big') . ') = 0'),
		"$db: the worker moves the blobs over the threshold");
	is($node->safe_psql($db, sprintf($hot, 'small')), '3',
		"$db: and leaves the three under it hot");
	is($node->safe_psql($db, sprintf($hashes, 'big')), expect_hashes('big', 8, 4),
		"$db: the moved blobs read back with their hashes");
}
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM ftstore.blob_catalog
		WHERE tier = 'cold' AND codec IS NOT NULL AND verified_at IS NOT NULL}),
	'4', 'the catalog records four verified cold objects');

# start_offload_worker() finds the running worker instead of a second one.
my $pid = $node->safe_psql('postgres', q{
	SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'ftstore offload worker' AND datname = 'postgres'});
is($node->safe_psql('postgres', 'SELECT ftstore.start_offload_worker()'), $pid,
	'start_offload_worker() returns the running worker');
is($node->safe_psql('postgres', "SELECT ($workers)"), 'Later db,postgres',
	'and starts no second one');

# A restart: the workers come back with no call.
$node->restart;
ok($node->poll_query_until('postgres', "SELECT ($workers) = 'Later db,postgres'"),
	'both workers start again with the server');
$node->safe_psql('postgres', sprintf($gen, 'after_restart', 8, 3));
ok($node->poll_query_until('postgres', "SELECT (" . sprintf($hot, 'after_restart') . ') = 0'),
	'and offload what came after the restart');
is($node->safe_psql('postgres', sprintf($hashes, 'after_restart')),
	expect_hashes('after_restart', 8, 3), 'which reads back with its hashes');

# A crash of another backend: the postmaster resets every process, the
# workers included, and starts them again.
my $worker_pids = $node->safe_psql('postgres', q{
	SELECT string_agg(pid::text, ',') FROM pg_stat_activity
	WHERE backend_type = 'ftstore offload worker'});
my $victim = $node->background_psql('postgres');
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
kill 'KILL', $victim_pid;
eval { $victim->quit; };
ok( $node->poll_query_until('postgres', qq{
		SELECT count(*) = 2 AND bool_and(pid NOT IN ($worker_pids))
		FROM pg_stat_activity WHERE backend_type = 'ftstore offload worker'}),
	'two new workers are started after a crash of another backend');
$node->safe_psql('Later db', sprintf($gen, 'after_crash', 8, 2));
ok($node->poll_query_until('Later db', "SELECT (" . sprintf($hot, 'after_crash') . ') = 0'),
	'and go on offloading');
is($node->safe_psql('Later db', sprintf($hashes, 'after_crash')),
	expect_hashes('after_crash', 8, 2), 'blobs moved after the crash read back');

# DROP DATABASE and ALTER DATABASE ... RENAME need the database to
# themselves: the worker makes way, for the database's owner only.
$node->safe_psql('postgres', 'CREATE ROLE tap_nobody LOGIN');
my $later_pid = $node->safe_psql('postgres', q{
	SELECT pid FROM pg_stat_activity
	WHERE backend_type = 'ftstore offload worker' AND datname = 'Later db'});
my ($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE "Later db"',
	extra_params => [ '-U', 'tap_nobody' ]);
like($err, qr/must be owner of database/, 'a role that does not own the database may not drop it');
is( $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity
		WHERE backend_type = 'ftstore offload worker' AND datname = 'Later db'}),
	$later_pid, 'and its attempt leaves the worker running');
my $log_at = -s $node->logfile;
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE "Later db"');
is($rc, 0, 'DROP DATABASE, without FORCE, succeeds while the worker runs') or diag $err;
like(substr(slurp_file($node->logfile), $log_at),
	qr/stopped 1 ftstore offload worker\(s\) of database "Later db"/,
	'the worker made way, and the log says so');
sleep 12;	# past the restart interval of a worker that failed
is($node->safe_psql('postgres', "SELECT ($workers)"), 'postgres',
	'the dropped database\'s worker is not started again');
unlike(substr(slurp_file($node->logfile), $log_at), qr/database "Later db" does not exist/,
	'nor tried against the dropped database');

$node->safe_psql('postgres', 'CREATE DATABASE renamed_soon');
$node->safe_psql('renamed_soon', 'CREATE EXTENSION ftstore');
ok($node->safe_psql('renamed_soon', 'SELECT ftstore.start_offload_worker()') > 0,
	'a dynamic worker runs in another database');
($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE renamed_soon RENAME TO renamed');
is($rc, 0, 'and ALTER DATABASE ... RENAME succeeds while it runs') or diag $err;

# A list that does not parse stops the server from starting, with the
# setting's name in the message.
$node->stop;
$node->append_conf('postgresql.conf', qq{ftstore.offload_databases = 'postgres,,x'\n});
my $log_before = -s $node->logfile;
ok(!$node->start(fail_ok => 1), 'a malformed database list stops the start');
like(substr(slurp_file($node->logfile), $log_before),
	qr/invalid list syntax in parameter "ftstore.offload_databases"/,
	'and the log names the setting');

done_testing();
