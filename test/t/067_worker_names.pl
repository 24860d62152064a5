#
# 067_worker_names.pl: careless lists in ftstore.offload_databases.
#
# A database named twice (in any spelling that SplitIdentifierString folds
# to the same name) gets one worker, not several racing each other; a
# template named there gets none, since CREATE DATABASE copies a template
# only while nobody is connected to it.  DROP DATABASE of a database a
# worker serves succeeds, as it would with no worker.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $node = PostgreSQL::Test::Cluster->new('names');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE w1');
$node->stop;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'ftstore'
ftstore.offload_databases = 'w1, W1, "w1", template1'
ftstore.offload_naptime = '1s'
ftstore.tier_url = 'file://$tmp/tier'
});
$node->start;

# The template's worker connects, says why it will not run, and exits.
ok( eval {
		$node->wait_for_log(
			qr/WARNING:  ftstore offload worker does not run in template database "template1"/);
	},
	'the worker of a template says it does not run there');
ok( $node->wait_for_log(
		qr/ftstore offload worker is waiting for extension "ftstore" in database "w1"/),
	'the worker of w1 runs its first round');

is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid
		WHERE a.backend_type = 'ftstore offload worker' AND d.datname = 'w1'}),
	'1', 'w1, named three times, has one worker');

# CREATE DATABASE copies template1: nobody may be connected to it.
my ($ret, $out, $err) = $node->psql('postgres', 'CREATE DATABASE after_workers');
is($ret, 0, 'CREATE DATABASE works with template1 in the list')
  or diag($err);
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid
		WHERE d.datname = 'template1'}),
	'0', 'and no worker stays in template1');

# DROP DATABASE of a database a worker serves: the drop asks the worker to
# leave, instead of failing with "being accessed by other users".
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE w1');
is($ret, 0, 'DROP DATABASE of a database with a static worker succeeds')
  or diag($err);
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname = 'w1'"),
	'0', 'and the database is gone');

# The same for a worker started by hand.
$node->safe_psql('postgres', 'CREATE DATABASE w2');
$node->safe_psql('w2', 'CREATE EXTENSION ftstore');
ok($node->safe_psql('w2', 'SELECT ftstore.start_offload_worker()') > 0,
	'a dynamic worker starts in w2');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid
		WHERE a.backend_type = 'ftstore offload worker' AND d.datname = 'w2'}),
	'1', 'and is connected there');
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE w2');
is($ret, 0, 'DROP DATABASE of a database with a dynamic worker succeeds')
  or diag($err);

$node->stop;
done_testing();
