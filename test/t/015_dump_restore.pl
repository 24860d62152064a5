# 015_dump_restore.pl: a database holding ftstore's data survives pg_dump
# and a restore with no options, in plain and in custom format.  The
# source database is the truth: every table of the extension must come
# back row for row, blobs must read back with their hashes (hot ones from
# the dump, cold ones from the store), the policies must still hold, and
# the audit trail must go on after its restored entries.
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/../..');
my $data_dir = abs_path("$root/../shared/data") // "$root/../shared/data";
BAIL_OUT("shared data not found at $data_dir")
  unless -f "$data_dir/llamafactory/mllm_demo.json";

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', qq{
ftstore.tier_url = 'file://$tmp/tier'
ftstore.blob_cache_dir = '$tmp/cache'
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE DATABASE src;
	CREATE ROLE tap_reader LOGIN;
	CREATE ROLE tap_stranger LOGIN;});
$node->safe_psql('src', qq{
	CREATE EXTENSION ftstore;
	SELECT ftstore.create_roles();
	GRANT ftstore_reader TO tap_reader, tap_stranger;
	SELECT * FROM ftstore.import_file('alpaca', '$data_dir/llamafactory/alpaca_en_demo.json');
	SELECT * FROM ftstore.import_file('tools', '$data_dir/llamafactory/glaive_toolcall_en_demo.json');
	SELECT * FROM ftstore.import_file('chat', '$data_dir/openai-cookbook/toy_chat_fine_tuning.jsonl');
	SELECT * FROM ftstore.import_file('mm', '$data_dir/llamafactory/mllm_demo.json');
	SELECT * FROM ftstore.import_data('chat', 'bad.jsonl', E'{"messages": [}\\n{"text": "ok"}\\n');
	SELECT ftstore.dedup_exact('alpaca');
	SELECT ftstore.dedup_exact('tools');
	SELECT ftstore.label('tools', NULL, '{"reviewed": true}');
	SELECT ftstore.grant('alpaca', 'tap_reader', 'read');
	SELECT ftstore.store_blob('chat', convert_to(repeat('a long document ', 4096), 'UTF8'), 'text/plain');
	SELECT ftstore.offload('mm');});

# What must come back: each table of the extension, row for row.
my @tables = qw(datasets samples rejects imports dataset_grants blob_catalog
  blob_hot blob_claims blob_refs blob_keys duplicates);
my $audit_top = $node->safe_psql('src', 'SELECT max(id) FROM ftstore.audit_log');
sub digests
{
	my ($db) = @_;
	my %d;
	for my $t (@tables)
	{
		$d{$t} = $node->safe_psql($db,
			"SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '-') FROM ftstore.$t t");
	}
	$d{audit_log} = $node->safe_psql($db,
		"SELECT count(*) || ' ' || md5(string_agg(t::text, E'\\n' ORDER BY t.id)) FROM ftstore.audit_log t WHERE t.id <= $audit_top");
	return \%d;
}
my $want = digests('src');
ok($want->{samples} =~ /^(\d+) / && $1 > 1000, 'the source holds the samples of four files');
ok($want->{blob_catalog} =~ /^4 /, 'and four blobs: three images and a document');
ok($want->{duplicates} =~ /^(\d+) / && $1 > 0, 'and the marks of two dedup_exact runs');
is($node->safe_psql('src', q{SELECT count(*) FROM ftstore.blob_catalog WHERE tier = 'cold'}),
	'3', 'of which the images are cold');
ok($want->{rejects} =~ /^[1-9]/, 'and a reject');
ok($want->{dataset_grants} =~ /^[1-9]/, 'and grants');

my $blob_check = q{
	SELECT count(*) || '/' || count(*) FILTER (WHERE encode(sha256(ftstore.blob(s.sample, b.ordinal)), 'hex') = b.sha256)
	FROM ftstore.samples s, ftstore.blobs(s.sample) b};
my $blobs_src = $node->safe_psql('src', $blob_check);
like($blobs_src, qr{^8/8$}, 'the eight image references of the source read back with their hashes');

my $plain = "$tmp/src.sql";
my $custom = "$tmp/src.dump";
command_ok([ 'pg_dump', '-d', $node->connstr('src'), '-f', $plain ], 'pg_dump, plain format');
command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('src'), '-f', $custom ], 'pg_dump, custom format');

$node->safe_psql('postgres', 'CREATE DATABASE dst_plain; CREATE DATABASE dst_custom;');
command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('dst_plain'), '-f', $plain ],
	'the plain dump restores with psql, no options, stopping at any error');
command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst_custom'), $custom ],
	'the custom dump restores with pg_restore, no options, stopping at any error');

for my $db ('dst_plain', 'dst_custom')
{
	my $got = digests($db);
	for my $t (@tables, 'audit_log')
	{
		is($got->{$t}, $want->{$t}, "$db: ftstore.$t comes back row for row");
	}
	is($node->safe_psql($db, $blob_check), $blobs_src,
		"$db: every blob reads back with its hash");
	is( $node->safe_psql($db, q{
			SELECT count(*) FROM ftstore.samples s, ftstore.blobs(s.sample) b WHERE b.tier = 'cold'}),
		'8', "$db: the cold references read from the store");

	# The policies: tap_reader holds a grant on alpaca only, the stranger none.
	is( $node->safe_psql($db, 'SET ROLE tap_reader; SELECT count(*) FROM ftstore.samples'),
		$node->safe_psql('src', q{SELECT count(*) FROM ftstore.samples WHERE dataset_id = ftstore.dataset_id('alpaca')}),
		"$db: a reader sees the samples of its grant and no others");
	is($node->safe_psql($db, 'SET ROLE tap_stranger; SELECT count(*) FROM ftstore.samples'),
		'0', "$db: a role without a grant sees none");

	# The trail goes on past the restored entries.
	$node->safe_psql($db, "SELECT ftstore.create_dataset('after_restore')");
	is( $node->safe_psql($db, q{
			SELECT id > } . $audit_top . q{ FROM ftstore.audit_log
			WHERE action = 'create_dataset' AND dataset = 'after_restore'}),
		't', "$db: a new audit entry follows the restored trail");
	is($node->safe_psql($db, 'SELECT count(DISTINCT id) = count(*) FROM ftstore.audit_log'),
		't', "$db: and no two entries share an id");

	# A re-import into the restored database adds nothing.
	is( $node->safe_psql($db, qq{
			SELECT imported FROM ftstore.import_file('alpaca', '$data_dir/llamafactory/alpaca_en_demo.json');
			SELECT skipped FROM ftstore.imports ORDER BY id DESC LIMIT 1;}),
		"0\n999", "$db: importing a restored file again adds nothing");
}

# A restore with triggers off leaves blob_refs empty.  The collector must
# not take the blobs for unreferenced: it finds the references in the
# samples, records them again, and removes nothing.
$node->safe_psql('postgres', 'CREATE DATABASE dst_replica');
{
	local $ENV{PGOPTIONS} = '-c session_replication_role=replica';
	command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('dst_replica'), $custom ],
		'the custom dump restores with triggers off too');
}
is($node->safe_psql('dst_replica', 'SELECT count(*) FROM ftstore.blob_refs'),
	'0', 'and then no reference is recorded');
my ($ret, $stdout, $stderr) = $node->psql('dst_replica', q{
	SET ftstore.collect_grace = 0; SELECT blobs || '/' || objects FROM ftstore.collect()});
# The truth from the source, whose blob_refs the triggers kept: the one
# blob no sample names (the document stored with store_blob) may go.
my $unreferenced = $node->safe_psql('src', q{
	SELECT count(*) FROM ftstore.blob_catalog c
	WHERE NOT EXISTS (SELECT 1 FROM ftstore.blob_refs r WHERE r.sha256 = c.sha256)});
is($unreferenced, '1', 'the source holds one blob no sample references');
is($stdout, "$unreferenced/0",
	'the collector removes that one and no referenced blob or object');
like($stderr, qr/collector found 8 blob references missing from ftstore.blob_refs, and recorded them/,
	'and warns that it recorded the eight references it found in the samples');
is(digests('dst_replica')->{blob_refs}, $want->{blob_refs},
	'blob_refs is then what the source holds');
is($node->safe_psql('dst_replica', $blob_check), $blobs_src,
	'and every blob still reads back with its hash');

done_testing();
