#
# 062_tier_collect.pl: a randomised test that the collector never removes
# a blob a sample references.  Rounds of random operations (new samples
# with new or shared blobs, deletions, blobs stored and never referenced,
# offloads, updates that swap a sample's blob) run against a Perl model of
# which sample holds which bytes; the collector runs with no grace period
# after every few rounds, and every referenced blob must then read back
# with the hash Perl computes over the bytes it generated.  The seed is
# printed, so a failure can be replayed with FTSTORE_TEST_SEED.  Then the
# object sweep runs in a loop in another session while samples are added
# and offloads commit and roll back.
#
use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $seed = $ENV{FTSTORE_TEST_SEED} // int(rand(1 << 30));
srand($seed);
note("seed $seed");

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $node = PostgreSQL::Test::Cluster->new('tier_collect');
$node->init;
$node->append_conf('postgresql.conf', qq{
ftstore.tier_url = 'file://$tmp/tier'
ftstore.blob_cache_size = 0
ftstore.collect_grace = 0
});
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION ftstore;
	SELECT ftstore.create_dataset('c1');
	SELECT ftstore.create_dataset('c2');
	CREATE FUNCTION public.sample_with(ds text, k text, kb integer) RETURNS ftstore.ftsample
	LANGUAGE sql AS $$
	SELECT ftstore.ftsample(jsonb_build_object(
		'messages', jsonb_build_array(
			jsonb_build_object('role', 'user', 'content', '<image>' || k),
			jsonb_build_object('role', 'assistant', 'content', 'ok')),
		'images', jsonb_build_array(ftstore.store_blob(ds,
			decode(repeat(md5(k), kb * 64), 'hex')))))
	$$;
});

my %sample;    # id => blob name
my $record = 0;
my @names = map { "b$_" } 1 .. 12;    # a small pool, so blobs are shared
sub bytes_hex { my ($k) = @_; return sha256_hex(pack('H*', md5_hex($k) x 64)); }

my $ops = 0;
my $collected = 0;
for my $round (1 .. 60)
{
	my $op = int(rand(6));
	my $ds = rand() < 0.5 ? 'c1' : 'c2';
	my $k = $names[ int(rand(@names)) ];
	if ($op <= 1)
	{
		$record++;
		my $id = $node->safe_psql('postgres', qq{
			INSERT INTO ftstore.samples (dataset_id, sample, source, record)
			VALUES (ftstore.dataset_id('$ds'), public.sample_with('$ds', '$k', 1), 'r', $record)
			RETURNING id});
		$sample{$id} = $k;
	}
	elsif ($op == 2 && %sample)
	{
		my @ids = sort keys %sample;
		my $id = $ids[ int(rand(@ids)) ];
		$node->safe_psql('postgres', "DELETE FROM ftstore.samples WHERE id = $id");
		delete $sample{$id};
	}
	elsif ($op == 3)
	{
		# stored, never referenced: the collector may take it
		$node->safe_psql('postgres',
			qq{SELECT ftstore.store_blob('$ds', decode(repeat(md5('$k'), 64), 'hex'))});
	}
	elsif ($op == 4)
	{
		$node->safe_psql('postgres', "SELECT ftstore.offload('$ds')");
	}
	elsif ($op == 5 && %sample)
	{
		my @ids = sort keys %sample;
		my $id = $ids[ int(rand(@ids)) ];
		$node->safe_psql('postgres', qq{
			UPDATE ftstore.samples SET sample = public.sample_with(
				(SELECT d.name FROM ftstore.datasets d WHERE d.id = dataset_id), '$k', 1)
			WHERE id = $id});
		$sample{$id} = $k;
	}
	$ops++;

	next unless $round % 4 == 0;
	$node->safe_psql('postgres', 'SELECT * FROM ftstore.collect()');
	$collected++;
	my $expected = join ',', map { "$_:" . bytes_hex($sample{$_}) } sort { $a <=> $b } keys %sample;
	is( $node->safe_psql('postgres', q{
			SELECT coalesce(string_agg(id || ':' || encode(sha256(ftstore.blob(sample, 1)), 'hex'),
							  ',' ORDER BY id), '')
			FROM ftstore.samples}),
		$expected, "round $round: every referenced blob reads back after collecting");
	is( $node->safe_psql('postgres', q{
			SELECT count(*) FROM ftstore.blob_catalog c
			WHERE NOT EXISTS (SELECT 1 FROM ftstore.blob_refs r WHERE r.sha256 = c.sha256)}),
		'0', "round $round: no unreferenced blob is left");
}
ok($collected == 15 && $ops == 60, "ran $ops operations and $collected collections (seed $seed)");

# The sweep running concurrently, transaction after transaction, while
# samples come and go and offloads commit or roll back.
my ($bg_out, $bg_err) = ('', '');
my $bg = IPC::Run::start(
	[ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c',
	  q{DO $$ BEGIN FOR i IN 1 .. 300 LOOP PERFORM ftstore.collect_objects(); COMMIT; END LOOP; END $$} ],
	'>', \$bg_out, '2>', \$bg_err);
for my $round (1 .. 40)
{
	my $ds = rand() < 0.5 ? 'c1' : 'c2';
	my $k = $names[ int(rand(@names)) ] . "x";
	my $op = int(rand(4));
	if ($op <= 1)
	{
		$record++;
		my $id = $node->safe_psql('postgres', qq{
			INSERT INTO ftstore.samples (dataset_id, sample, source, record)
			VALUES (ftstore.dataset_id('$ds'), public.sample_with('$ds', '$k', 1), 'r', $record)
			RETURNING id});
		$sample{$id} = $k;
	}
	elsif ($op == 2)
	{
		$node->safe_psql('postgres', "BEGIN; SELECT ftstore.offload('$ds'); ROLLBACK;");
	}
	else
	{
		$node->safe_psql('postgres', "SELECT ftstore.offload('$ds')");
	}
}
$bg->finish;
is($bg_err, '', 'the concurrent sweeps ran without error');
my $expected = join ',', map { "$_:" . bytes_hex($sample{$_}) } sort { $a <=> $b } keys %sample;
is( $node->safe_psql('postgres', q{
		SELECT coalesce(string_agg(id || ':' || encode(sha256(ftstore.blob(sample, 1)), 'hex'),
						  ',' ORDER BY id), '')
		FROM ftstore.samples}),
	$expected, 'after concurrent sweeps, every referenced blob reads back');
$node->safe_psql('postgres', 'SELECT ftstore.offload(name) FROM ftstore.datasets');
is( $node->safe_psql('postgres', q{
		SELECT coalesce(string_agg(id || ':' || encode(sha256(ftstore.blob(sample, 1)), 'hex'),
						  ',' ORDER BY id), '')
		FROM ftstore.samples}),
	$expected, 'and again once all are cold');

# TRUNCATE of the samples drops their references; the collector then
# takes every blob and object.
is( $node->safe_psql('postgres', q{
		TRUNCATE ftstore.samples;
		SELECT count(*) FROM ftstore.blob_refs;
		SET ftstore.collect_grace = 0;
		SELECT blobs > 0 AND objects > 0 FROM ftstore.collect();
		SELECT count(*) FROM ftstore.blob_catalog;}),
	"0\nt\n0", 'TRUNCATE of the samples drops their references, and collect() their blobs');

$node->stop;
done_testing();
