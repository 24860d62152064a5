#
# 061_tier_crash.pl: crashes in the middle of an offload.  A backend is
# killed with SIGKILL while objects are being written, then the
# postmaster; after each, every blob must read back with the hash Perl
# computes over the bytes the test generated, the catalog must still call
# every blob hot, and the collector must remove the orphaned objects
# without touching a readable blob.  A rollback of an offload must leave
# the same state.
#
# The offload is slowed by a trigger that sleeps on each catalog update,
# so that the kill lands between objects; when exactly does not matter to
# the assertions, only that objects were written before it.
#
use strict;
use warnings;

use File::Find;
use FindBin;
use lib $FindBin::RealBin;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use TierCrash qw(blob_hashes make_samples check_all start_offload
  offloading_pid kill_backend kill_postmaster);

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $tier = "$tmp/tier";
my $n = 30;
my $kb = 32;

my $node = PostgreSQL::Test::Cluster->new('tier_crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
ftstore.tier_url = 'file://$tier'
ftstore.blob_cache_size = 0
restart_after_crash = on
});
$node->start;

make_samples($node, 'crash', $n, $kb);
my $expected = join ',', blob_hashes('crash', $n, $kb);

sub objects
{
	my @f;
	find(sub { push @f, $File::Find::name if -f $_ && !/^\./ }, $tier) if -d $tier;
	return scalar @f;
}

check_all($node, $expected, $n, 'before', 'hot');

# A backend killed in the middle.
my ($h) = start_offload($node, \&objects);
my $pid = offloading_pid($node);
ok($pid > 0, 'the offloading backend is found');
kill_backend($node, $pid, $h);
check_all($node, $expected, $n, 'after SIGKILL of the backend', 'hot');
my $orphans = objects();
ok($orphans > 0, "the crash left $orphans orphaned objects");

# The postmaster killed in the middle.
($h) = start_offload($node, \&objects);
kill_postmaster($node, $h);
check_all($node, $expected, $n, 'after SIGKILL of the postmaster', 'hot');

# A rollback leaves the blobs hot too.
$node->safe_psql('postgres', q{
	DROP TRIGGER slow ON ftstore.blob_catalog;
	BEGIN; SELECT ftstore.offload('crash'); ROLLBACK;});
check_all($node, $expected, $n, 'after a rolled back offload', 'hot');

# The collector removes the orphans, which are all objects of hot blobs.
$orphans = objects();
is( $node->safe_psql('postgres', q{
		SET ftstore.collect_grace = 0; SELECT objects FROM ftstore.collect()}),
	$orphans, "the collector removes the $orphans orphaned objects");
is(objects(), 0, 'no object is left');
check_all($node, $expected, $n, 'after collecting', 'hot');

# The offload completes, and the objects are those of cold blobs.
is($node->safe_psql('postgres', q{SELECT ftstore.offload('crash')}), $n,
	'the offload completes');
check_all($node, $expected, $n, 'after the offload', 'cold');
is( $node->safe_psql('postgres', q{
		SET ftstore.collect_grace = 0; SELECT blobs || '/' || objects FROM ftstore.collect()}),
	'0/0', 'the collector removes nothing referenced');
is(objects(), $n, 'one object per blob');
check_all($node, $expected, $n, 'after collecting again', 'cold');

$node->stop;
done_testing();
