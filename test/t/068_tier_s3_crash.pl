#
# 068_tier_s3_crash.pl: crashes in the middle of an offload to an S3
# store (s3rver on 127.0.0.1), and the cache writes a cold read defers.
#
# With an S3 store an offload is a pipeline: while one object is on its
# way to the service, the blob before it is marked cold and the one after
# it locked and encoded (docs/tier.md).  A trigger that sleeps on each
# catalog update holds the offload inside that window, between a PUT sent
# and its answer read; the backend, then the postmaster, is killed with
# SIGKILL there.  After each, every blob must read back with the hash Perl
# computes over the bytes the test generated, and the catalog must call
# every blob hot with its hot copy in place; a cancel in the window must
# leave the same, and the session must go on to use the store.  The
# collector then removes every orphaned object, and a whole offload makes
# every blob cold, one object each, read back whole from the service.
#
# A cold read caches the blob while the next fetch is under way, or when
# its transaction commits: after reads in a transaction that rolls back,
# every blob read is cached but the last; after reads in one that
# commits, every blob read is; and a blob read twice in one transaction
# is cached before its second read.
#
use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use File::Find;
use File::Path qw(make_path);
use FindBin;
use lib $FindBin::RealBin;
use IO::Socket::INET;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TierCrash qw(blob_hashes make_samples check_all start_offload
  offloading_pid kill_backend kill_postmaster);

my $root = "$FindBin::RealBin/../..";
my $entry = "$root/.s3rver/node_modules/s3rver/bin/s3rver.js";
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $s3dir = "$tmp/s3";
my $cache = "$tmp/cache";
my $n = 30;
my $kb = 32;

ok(-f $entry, 's3rver is installed (scripts/s3rver.sh)')
  or BAIL_OUT('no s3rver');
make_path($s3dir, $cache);

# s3rver on a free port of 127.0.0.1, stopped at the end whatever happens.
my $port;
{
	my $sock = IO::Socket::INET->new(
		LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1)
	  or die "no free port: $!";
	$port = $sock->sockport;
	close $sock;
}
my ($s3out, $s3err) = ('', '');
my $s3rver = IPC::Run::start(
	[ 'node', '--openssl-legacy-provider', $entry, '-d', $s3dir,
	  '-a', '127.0.0.1', '-p', $port, '--silent', '--configure-bucket', 'crash' ],
	'>', \$s3out, '2>', \$s3err);
END { local $?; $s3rver->kill_kill if $s3rver; }
my $up = 0;
for (1 .. 300)
{
	if (IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port))
	{
		$up = 1;
		last;
	}
	select(undef, undef, undef, 0.1);
}
ok($up, 's3rver accepts connections') or BAIL_OUT("s3rver did not start: $s3err");

my $node = PostgreSQL::Test::Cluster->new('tier_s3_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'ftstore'
ftstore.s3_endpoint = 'http://127.0.0.1:$port'
ftstore.s3_access_key_id = 'S3RVER'
ftstore.s3_secret_access_key = 'S3RVER'
ftstore.tier_url = 's3://crash/tier'
ftstore.blob_cache_dir = '$cache'
ftstore.blob_cache_size = 0
restart_after_crash = on
});
$node->start;

make_samples($node, 's3crash', $n, $kb);

my @hashes = blob_hashes('s3crash', $n, $kb);
my $expected = join ',', @hashes;

# The objects s3rver holds under the store's prefix: one file per object
# (beside it, s3rver keeps metadata files, which are not counted).
sub objects
{
	my @f;
	find(sub { push @f, $_ if -f $_ && /\._S3rver_object$/ },
		"$s3dir/crash/tier")
	  if -d "$s3dir/crash/tier";
	return scalar @f;
}

check_all($node, $expected, $n, 'before', 'hot');

# The backend killed inside a PUT.
my ($h) = start_offload($node, \&objects);
my $pid = offloading_pid($node);
ok($pid > 0, 'the offloading backend is found');
kill_backend($node, $pid, $h);
check_all($node, $expected, $n, 'after SIGKILL of the backend', 'hot');
ok(objects() > 0, 'the crash left orphaned objects');

# The postmaster killed inside a PUT.
($h) = start_offload($node, \&objects);
kill_postmaster($node, $h);
check_all($node, $expected, $n, 'after SIGKILL of the postmaster', 'hot');

# A cancel inside a PUT: the offload fails cleanly, and the next one in
# the same session, on the same connection to the service, works.
{
	my ($in, $out, $err) = ('', '', '');
	my $session = IPC::Run::start(
		[ 'psql', '-X', '-v', 'ON_ERROR_STOP=0', '-d', $node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err);
	$in .= "SELECT ftstore.offload('crash');\n";
	$session->pump_nb;
	my $before = objects();
	for (1 .. 600)
	{
		$session->pump_nb;
		last if objects() >= $before + 3;
		select(undef, undef, undef, 0.1);
	}
	ok(objects() >= $before + 3, 'objects are being written before the cancel');
	ok($node->safe_psql('postgres', 'SELECT pg_cancel_backend(' . offloading_pid($node) . ')') eq 't',
		'the offload is cancelled');
	$in .= "DROP TRIGGER slow ON ftstore.blob_catalog;\n"
	  . "BEGIN; SELECT ftstore.offload('crash') AS moved; ROLLBACK;\n";
	$in .= "\\q\n";
	$session->finish;
	like($err, qr/canceling statement due to user request/, 'the first offload was cancelled');
	like($out, qr/^\s*$n\s*$/m, 'the same session then offloads every blob');
}
check_all($node, $expected, $n, 'after a cancel and a rolled back offload', 'hot');

# The collector removes the orphans, which are all objects of hot blobs.
my $orphans = objects();
ok($orphans > 0, "$orphans orphaned objects");
is( $node->safe_psql('postgres', q{
		SET ftstore.collect_grace = 0; SELECT objects FROM ftstore.collect()}),
	$orphans, 'the collector removes every orphaned object');
is(objects(), 0, 'no object is left');

# The offload completes; every object is that of a cold blob.
is($node->safe_psql('postgres', q{SELECT ftstore.offload('crash')}), $n,
	'the offload completes');
check_all($node, $expected, $n, 'after the offload', 'cold');
is( $node->safe_psql('postgres', q{
		SET ftstore.collect_grace = 0; SELECT blobs || '/' || objects FROM ftstore.collect()}),
	'0/0', 'the collector removes nothing referenced');
is(objects(), $n, 'one object per blob');

# The cache writes a cold read defers.
sub cached
{
	opendir(my $d, $cache) or return ();
	my @f = sort grep { /^[0-9a-f]{64}$/ } readdir $d;
	closedir $d;
	return @f;
}
my $read_all = q{SELECT string_agg(encode(sha256(ftstore.blob(sample, 1)), 'hex'), ',' ORDER BY record)
	FROM ftstore.samples};
is($node->safe_psql('postgres', "SET ftstore.blob_cache_size = '64MB'; BEGIN; $read_all; ROLLBACK;"),
	$expected, 'cold reads in a transaction that rolls back give every blob');
# Each blob's file is written while the next one is fetched; the last
# one's was still waiting for the commit, and went with the rollback.
is(scalar(cached()), $n - 1, 'and cache all but the last blob read');
is(scalar(grep { my $f = $_; grep { $_ eq $f } @hashes } cached()), $n - 1,
	'each under the name of a blob read');
unlink map { "$cache/$_" } cached();
is($node->safe_psql('postgres', "SET ftstore.blob_cache_size = '64MB'; $read_all"),
	$expected, 'cold reads in a transaction that commits give every blob');
is(join(',', cached()), join(',', sort @hashes), 'and cache every blob');
is(join(',', map { sha256_hex(slurp_file("$cache/$_")) } cached()),
	join(',', sort @hashes), 'each cache file holds the blob its name says');

unlink map { "$cache/$_" } cached();
my $read_first = q{SELECT encode(sha256(ftstore.blob(sample, 1)), 'hex')
	FROM ftstore.samples WHERE record = 1};
is( $node->safe_psql('postgres', qq{
		SET ftstore.blob_cache_size = '64MB';
		BEGIN;
		$read_first;
		SELECT count(*) FROM pg_ls_dir('$cache') f WHERE f = '$hashes[0]';
		$read_first;
		SELECT count(*) FROM pg_ls_dir('$cache') f WHERE f = '$hashes[0]';
		COMMIT;}),
	"$hashes[0]\n0\n$hashes[0]\n1",
	'a blob read twice in a transaction is cached before its second read');

$node->stop;
done_testing();
