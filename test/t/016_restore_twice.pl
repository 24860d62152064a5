# 016_restore_twice.pl: a dump restored a second time into the database
# it was already restored into.  The samples' keys refuse the copy; the
# audit trail must refuse it too, rather than take the dumped entries
# again under new ids, which would show the same history twice, the
# second copy out of time order.  The trail after the first restore,
# read before the second, is the truth.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $node = PostgreSQL::Test::Cluster->new('twice');
$node->init;
$node->append_conf('postgresql.conf', qq{
ftstore.tier_url = 'file://$tmp/tier'
ftstore.blob_cache_dir = '$tmp/cache'
});
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
	CREATE EXTENSION ftstore;
	SELECT ftstore.create_dataset('a');
	INSERT INTO ftstore.samples (dataset_id, sample, source, record)
	SELECT ftstore.dataset_id('a'),
		   ftstore.ftsample(jsonb_build_object('text', 'sample ' || i)), 'gen', i
	FROM generate_series(1, 3) i;});
my $src_entries = $node->safe_psql('src', 'SELECT count(*) FROM ftstore.audit_log');
is($src_entries, '2', 'the source trail holds the dataset and the insert');

my $dump = "$tmp/src.dump";
command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $dump ],
	'pg_dump writes the source');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst'), $dump ],
	'the first restore succeeds');

my $trail = q{SELECT count(*) || ' ' || md5(string_agg(t::text, E'\n' ORDER BY t.id))
			  FROM ftstore.audit_log t};
my $after_first = $node->safe_psql('dst', $trail);
# The dumped entries, then the restore's own: one per entry of the source.
like($after_first, qr/^4 /, 'after one restore: the two dumped entries and the restore\'s two');

# Again, without stopping at errors, as a careless second run would.
my ($stdout, $stderr);
IPC::Run::run([ 'pg_restore', '-d', $node->connstr('dst'), $dump ],
	'>', \$stdout, '2>', \$stderr);
like($stderr, qr/duplicate key value violates unique constraint "samples_pkey"/,
	'the second restore fails on the samples');
like($stderr, qr/COPY audit_log/, 'and on the audit trail');
is($node->safe_psql('dst', $trail), $after_first,
	'the trail is as the first restore left it');

# The trail goes on after both.
$node->safe_psql('dst', q{SELECT ftstore.create_dataset('b')});
is( $node->safe_psql('dst', q{
		SELECT count(*) = 5 AND max(id) = 5 AND count(DISTINCT id) = 5
		FROM ftstore.audit_log}),
	't', 'a new entry follows with the next id');

$node->stop;
done_testing();
