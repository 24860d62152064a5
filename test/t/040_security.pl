#
# 040_security.pl: row-level security, grants and the audit trail, seen
# from separate login sessions, one per role, on real shared data.
#
# Each role logs in as itself (no SET ROLE from a superuser), so that the
# session user, the audit's login and psql's COPY to and from the client
# are those of a real application.  The expected counts come from the
# files, counted here by JSON::PP; the expected outcomes are the design of
# docs/security.md, written out in %allowed below.
#
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/../..');
my $data_dir = abs_path("$root/../shared/data") // "$root/../shared/data";
BAIL_OUT("shared data not found at $data_dir")
  unless -f "$data_dir/README.md";

# Two files: one the reader is granted, one nobody is.
my $visible_file = "$data_dir/llamafactory/identity.json";
my $hidden_file = "$data_dir/openai-cookbook/toy_chat_fine_tuning.jsonl";

sub slurp
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "$path: $!";
	local $/;
	my $s = <$fh>;
	close $fh;
	return $s;
}

my $n_visible = scalar @{ decode_json(slurp($visible_file)) };
my $n_hidden = grep { /\S/ } split /\n/, slurp($hidden_file);
# The hidden file's first record, a value no other role may ever see.
my ($hidden_line) = grep { /\S/ } split /\n/, slurp($hidden_file);
my $hidden_value = decode_json($hidden_line)->{messages}[0]{content};
ok($n_visible > 10 && $n_hidden > 1, "counted $n_visible and $n_hidden records");

my $node = PostgreSQL::Test::Cluster->new('security');
$node->init;
$node->start;

sub sql_as
{
	my ($user, $sql) = @_;
	my ($ret, $out, $err) = $node->psql(
		'postgres', $sql,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=sqlstate' ],
		on_error_stop => 1);
	if ($ret != 0)
	{
		return $1 if $err =~ /ERROR:\s+([0-9A-Z]{5})/;
		return "failed: $err";
	}
	return "ok $out";
}

$node->safe_psql('postgres', q{
	CREATE EXTENSION ftstore;
	SELECT ftstore.create_roles();
	CREATE ROLE tap_reader LOGIN IN ROLE ftstore_reader;
	CREATE ROLE tap_curator LOGIN IN ROLE ftstore_curator;
	CREATE ROLE tap_admin LOGIN IN ROLE ftstore_admin;
	CREATE ROLE tap_auditor LOGIN IN ROLE ftstore_auditor;
	CREATE ROLE tap_nogrant LOGIN IN ROLE ftstore_reader;
	CREATE ROLE tap_outsider LOGIN;
	-- PostgREST's pattern: a NOINHERIT authenticator that SETs ROLE.
	CREATE ROLE tap_web NOLOGIN IN ROLE ftstore_reader;
	CREATE ROLE tap_web2 NOLOGIN IN ROLE ftstore_reader;
	CREATE ROLE tap_authenticator LOGIN NOINHERIT IN ROLE tap_web, tap_web2;
});

is(sql_as('tap_admin', q{SELECT ftstore.create_dataset('tap_a') > 0}),
	"ok t", 'the admin creates a dataset');
$node->safe_psql('postgres', qq{
	SELECT * FROM ftstore.import_file('tap_a', '$visible_file');
	SELECT * FROM ftstore.import_file('tap_hidden', '$hidden_file');
});
is(sql_as('tap_admin', q{
	SELECT ftstore.grant('tap_a', 'tap_reader', 'read');
	SELECT ftstore.grant('tap_a', 'tap_curator', 'write');
	SELECT ftstore.grant('tap_a', 'tap_web', 'read');}),
	"ok t\nt\nt", 'the admin grants on its dataset');
is(sql_as('tap_admin', q{SELECT ftstore.grant('tap_hidden', 'tap_admin', 'read')}),
	'42501', 'but not on one it does not administer');

my $a_id = $node->safe_psql('postgres',
	q{SELECT id FROM ftstore.datasets WHERE name = 'tap_a'});
my $hidden_id = $node->safe_psql('postgres',
	q{SELECT min(s.id) FROM ftstore.samples s JOIN ftstore.datasets d
	  ON d.id = s.dataset_id WHERE d.name = 'tap_hidden'});

# ---------------------------------------------------------------------------
# The matrix.  For each role and table: the operations allowed ('rows' for
# a count of visible rows, 'ok' for any success) and, implicitly, 42501
# for all others; COPY FROM under row-level security is 0A000 for a role
# that may INSERT.
# ---------------------------------------------------------------------------

my %visible = (
	tap_reader => $n_visible,
	tap_curator => $n_visible,
	tap_admin => $n_visible,
	tap_nogrant => 0);

# What every reader of content may read: the tables but the audit log, and
# the views but the statistics.
my @readable = qw(samples rejects imports datasets dataset_grants
  samples_bi rejects_bi imports_bi duplicate_groups samples_facets_bi
  blob_refs duplicates);
my %views = map { $_ => 1 } qw(samples_bi rejects_bi imports_bi
  duplicate_groups samples_facets_bi dataset_stats);

my %allowed = (
	tap_reader => { map { $_ => [qw(select copy_to)] } @readable },
	tap_nogrant => { map { $_ => [qw(select copy_to)] } @readable },
	tap_curator => {
		(map { $_ => [qw(select copy_to)] } @readable),
		samples => [qw(select copy_to insert update delete)],
		rejects => [qw(select copy_to insert delete)],
		imports => [qw(select copy_to insert)] },
	tap_admin => {
		(map { $_ => [qw(select copy_to)] } @readable),
		samples => [qw(select copy_to insert update delete)],
		rejects => [qw(select copy_to insert delete)],
		imports => [qw(select copy_to insert)],
		datasets => [qw(select copy_to update delete)] },
	tap_auditor => { map { $_ => [qw(select copy_to)] } qw(audit_log dataset_stats) },
	tap_outsider => {});

my %stmt = (
	samples => {
		insert => "INSERT INTO ftstore.samples (dataset_id, sample, source, record, line) VALUES ($a_id, '{\"text\": \"t\"}', 'tap', 1, 1)",
		update => "UPDATE ftstore.samples SET labels = '{\"t\": 1}' WHERE dataset_id = $a_id",
		delete => "DELETE FROM ftstore.samples WHERE dataset_id = $a_id" },
	rejects => {
		insert => "INSERT INTO ftstore.rejects (dataset_id, source, record, line, raw, error_code, message) VALUES ($a_id, 'tap', 1, 1, 'x', '22P02', 'm')",
		update => "UPDATE ftstore.rejects SET message = 'm'",
		delete => "DELETE FROM ftstore.rejects WHERE dataset_id = $a_id" },
	imports => {
		insert => "INSERT INTO ftstore.imports (dataset_id, source, format, records_read, imported, rejected, skipped, started_at) VALUES ($a_id, 'tap', 'jsonl', 0, 0, 0, 0, now())",
		update => "UPDATE ftstore.imports SET source = 'm'",
		delete => "DELETE FROM ftstore.imports" },
	datasets => {
		insert => "INSERT INTO ftstore.datasets (name) VALUES ('tap_new')",
		update => "UPDATE ftstore.datasets SET description = 'd'",
		delete => "DELETE FROM ftstore.datasets" },
	audit_log => {
		insert => "INSERT INTO ftstore.audit_log (actor, action) VALUES ('x', 'forged')",
		update => "UPDATE ftstore.audit_log SET actor = 'x'",
		delete => "DELETE FROM ftstore.audit_log" },
	dataset_grants => {
		insert => "INSERT INTO ftstore.dataset_grants (dataset_id, role, privilege, granted_by) VALUES ($a_id, 'tap_nogrant', 'read', 'x')",
		update => "UPDATE ftstore.dataset_grants SET privilege = 'admin'",
		delete => "DELETE FROM ftstore.dataset_grants" },
	# The cold tier: only blob_refs is readable (through the samples'
	# policies); no role writes any of its tables but through functions.
	blob_catalog => {
		insert => "INSERT INTO ftstore.blob_catalog (sha256, bytes, media_type) VALUES (sha256('t'), 1, 'text/plain')",
		update => "UPDATE ftstore.blob_catalog SET tier = 'cold'",
		delete => "DELETE FROM ftstore.blob_catalog" },
	blob_hot => {
		insert => "INSERT INTO ftstore.blob_hot (sha256, data) VALUES (sha256('t'), 't')",
		update => "UPDATE ftstore.blob_hot SET data = 't'",
		delete => "DELETE FROM ftstore.blob_hot" },
	blob_claims => {
		insert => "INSERT INTO ftstore.blob_claims (dataset_id, sha256) VALUES ($a_id, sha256('t'))",
		update => "UPDATE ftstore.blob_claims SET dataset_id = $a_id",
		delete => "DELETE FROM ftstore.blob_claims" },
	blob_refs => {
		insert => "INSERT INTO ftstore.blob_refs (sample_id, ordinal, dataset_id, sha256) VALUES (1, 1, $a_id, sha256('t'))",
		update => "UPDATE ftstore.blob_refs SET ordinal = 2",
		delete => "DELETE FROM ftstore.blob_refs" },
	blob_keys => {
		insert => "INSERT INTO ftstore.blob_keys (key) VALUES (sha256('t'))",
		update => "UPDATE ftstore.blob_keys SET retired = true",
		delete => "DELETE FROM ftstore.blob_keys" },
	# The duplicate marks: read with their samples, written by
	# dedup_exact alone.
	duplicates => {
		insert => "INSERT INTO ftstore.duplicates (dataset_id, sample_id, restricted, duplicate_of) VALUES ($a_id, 1, false, 2)",
		update => "UPDATE ftstore.duplicates SET duplicate_of = 1",
		delete => "DELETE FROM ftstore.duplicates" },
	map { $_ => {} } keys %views);

# The column COPY names for each table: one every table has.
my %copy_col = (datasets => 'id', blob_keys => 'id',
	map { $_ => 'sha256' } qw(blob_catalog blob_hot blob_claims blob_refs));

# The matrix covers every table and view of the schema.
is( $node->safe_psql('postgres', q{
		SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class
		WHERE relnamespace = 'ftstore'::regnamespace
		  AND relkind IN ('r', 'v', 'm', 'p', 'f')}),
	join(' ', sort keys %stmt),
	'the matrix names every table and view of the schema');

for my $user (sort keys %allowed)
{
	for my $table (sort keys %stmt)
	{
		my %ok = map { $_ => 1 } @{ $allowed{$user}{$table} // [] };

		# SELECT and COPY TO: the visible rows, or refused.
		my $sel = sql_as($user, "SELECT count(*) FROM ftstore.$table");
		my $copy = sql_as($user,
			"COPY (SELECT 1 FROM ftstore.$table) TO STDOUT;");
		my $col = $copy_col{$table} // 'dataset_id';
		my $copy_table = $views{$table} ? $copy
		  : sql_as($user, "COPY ftstore.$table ($col) TO STDOUT;");
		if ($ok{select})
		{
			if ($table =~ /^samples/ && exists $visible{$user})
			{
				is($sel, "ok $visible{$user}", "$user: SELECT $table sees $visible{$user}");
				my @lines = $copy_table =~ /^ok (.*)$/s ? grep { /\S/ } split /\n/, $1 : ();
				is(scalar @lines, $visible{$user}, "$user: COPY $table TO sees $visible{$user}");
			}
			else
			{
				like($sel, qr/^ok \d+$/, "$user: SELECT $table allowed");
				like($copy, qr/^ok/, "$user: COPY $table TO allowed");
			}
		}
		else
		{
			is($sel, '42501', "$user: SELECT $table refused");
			is($copy_table, '42501', "$user: COPY $table TO refused");
		}

		# INSERT, UPDATE, DELETE in a transaction that is rolled back.
		for my $op (qw(insert update delete))
		{
			next unless $stmt{$table}{$op};
			my $got = sql_as($user,
				"BEGIN; $stmt{$table}{$op}; ROLLBACK;");
			if ($ok{$op})
			{
				like($got, qr/^ok/, "$user: \U$op\E $table allowed");
			}
			else
			{
				is($got, '42501', "$user: \U$op\E $table refused");
			}
		}

		# TRUNCATE: nobody; a view is no table at all.
		my $want_trunc = $views{$table} ? '42809' : '42501';
		$want_trunc = '42501' if $user eq 'tap_outsider';
		is(sql_as($user, "TRUNCATE ftstore.$table"), $want_trunc,
			"$user: TRUNCATE $table refused");

		# COPY FROM: refused, by privilege or by row-level security.  No
		# role may insert into a view, which COPY checks first.
		if ($views{$table})
		{
			is(sql_as($user, "COPY ftstore.$table FROM STDIN;\n\\.\n"),
				'42501', "$user: COPY $table FROM refused");
			next;
		}
		my $from = sql_as($user,
			"COPY ftstore.$table ($col) FROM STDIN;\n$a_id\n\\.\n");
		my $want_from =
			($ok{insert} && $table ne 'audit_log' && $table ne 'datasets')
		  ? '0A000' : '42501';
		is($from, $want_from, "$user: COPY $table FROM refused ($want_from)");
	}
}

# ---------------------------------------------------------------------------
# Bypass attempts from a login session.
# ---------------------------------------------------------------------------

is(sql_as('tap_reader', "SELECT count(*) FROM ftstore.samples WHERE id = $hidden_id"),
	'ok 0', 'a hidden sample fetched by id is not there');
is(sql_as('tap_reader', qq{
	SELECT count(*) FROM ftstore.samples
	WHERE sample::jsonb::text LIKE '%' || \$q\$$hidden_value\$q\$ || '%'}),
	'ok 0', 'a hidden sample searched for by its content is not there');
is(sql_as('tap_reader', q{SELECT * FROM ftstore.export('tap_hidden')}),
	'42704', 'a hidden dataset does not exist for export');
my $leak = sql_as('tap_reader', qq{
	CREATE FUNCTION pg_temp.leak(text) RETURNS boolean LANGUAGE plpgsql
	COST 0.0000001 AS \$f\$ BEGIN RAISE NOTICE 'saw %', \$1; RETURN true; END \$f\$;
	SET client_min_messages = notice;
	SELECT count(*) FROM ftstore.samples WHERE pg_temp.leak(sample::jsonb::text);});
is($leak, "ok $n_visible", 'a leaky function sees only the visible rows');

# The authenticator itself has no rows: NOINHERIT, so no privileges of
# tap_web until it SETs ROLE.
is(sql_as('tap_authenticator', 'SELECT count(*) FROM ftstore.samples'),
	'42501', 'a NOINHERIT authenticator reads nothing before SET ROLE');
is(sql_as('tap_authenticator',
		'SET ROLE tap_web; SELECT count(*) FROM ftstore.samples'),
	"ok $n_visible", 'after SET ROLE it reads what the role was granted');

# Cached plans across SET ROLE in one session: a generic plan made as
# tap_web, run as tap_web2 (no grant), as tap_web again, then as the
# authenticator itself.
is(sql_as('tap_authenticator', q{
	SET plan_cache_mode = force_generic_plan;
	SET ROLE tap_web;
	PREPARE q AS SELECT count(*) FROM ftstore.samples;
	EXECUTE q;
	SET ROLE tap_web2;
	EXECUTE q;
	SET ROLE tap_web;
	EXECUTE q;}),
	"ok $n_visible\n0\n$n_visible",
	'a prepared statement follows SET ROLE');
is(sql_as('tap_authenticator', q{
	SET plan_cache_mode = force_generic_plan;
	SET ROLE tap_web;
	PREPARE q AS SELECT count(*) FROM ftstore.samples;
	EXECUTE q;
	RESET ROLE;
	EXECUTE q;}),
	'42501', 'and RESET ROLE');
is(sql_as('tap_curator', 'SET ROLE tap_web'), '42501',
	'a login cannot SET ROLE to a role it is not a member of');

# ---------------------------------------------------------------------------
# The audit trail names the login that did it.
# ---------------------------------------------------------------------------

sql_as('tap_curator', q{SELECT * FROM ftstore.import_data('tap_a', 'tap.jsonl',
	'{"text": "audited"}')});
is( sql_as('tap_auditor', q{
		SELECT actor || ' ' || login || ' ' || action FROM ftstore.audit_log
		WHERE detail ->> 'source' = 'tap.jsonl'}),
	'ok tap_curator tap_curator import',
	'the auditor sees who imported what');
is( sql_as('tap_auditor', q{
		SELECT string_agg(actor || ':' || (detail ->> 'role') || ':' || (detail ->> 'privilege'), ',' ORDER BY id)
		FROM ftstore.audit_log WHERE action = 'grant' AND dataset = 'tap_a'}),
	'ok tap_admin:tap_admin:admin,tap_admin:tap_reader:read,tap_admin:tap_curator:write,tap_admin:tap_web:read',
	'and who granted what');
is(sql_as('tap_auditor', 'DELETE FROM ftstore.audit_log'), '42501',
	'the auditor cannot rewrite it');
is($node->psql('postgres', 'DELETE FROM ftstore.audit_log'), 3,
	'nor can the superuser, short of dropping the trigger');

# ---------------------------------------------------------------------------
# SECURITY DEFINER functions, read from the install script as built and
# from the catalog: the same set, each pinning search_path (pg_catalog
# first, pg_temp last) and not executable by PUBLIC.
# ---------------------------------------------------------------------------

my $script = slurp("$root/sql/ftstore--0.1.sql");
my @in_script;
while ($script =~ /CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([\w."]+)\s*\(/gi)
{
	my $name = $1;
	# The function's header runs to the start of its body.
	my $rest = substr($script, pos($script));
	my ($header) = $rest =~ /^(.*?)\bAS\s+(?:\$|')/s;
	$name =~ s/"//g;
	push @in_script, $name if defined $header && $header =~ /SECURITY\s+DEFINER/i;
}
my @in_catalog = split /\n/, $node->safe_psql('postgres', q{
	SELECT p.pronamespace::regnamespace || '.' || p.proname
	FROM pg_proc p
	JOIN pg_depend dep ON dep.classid = 'pg_proc'::regclass
		AND dep.objid = p.oid AND dep.deptype = 'e'
	JOIN pg_extension e ON e.oid = dep.refobjid AND e.extname = 'ftstore'
	WHERE p.prosecdef ORDER BY 1});
ok(@in_script >= 10, scalar(@in_script) . ' SECURITY DEFINER functions in the install script');
is(join(' ', sort @in_script), join(' ', @in_catalog),
	'the catalog holds exactly the SECURITY DEFINER functions of the script');
for my $f (@in_catalog)
{
	my ($config, $public) = split /\|/, $node->safe_psql('postgres', qq{
		SELECT coalesce(array_to_string(p.proconfig, ';'), ''),
			   has_function_privilege('public', p.oid, 'EXECUTE')
		FROM pg_proc p
		WHERE p.pronamespace::regnamespace || '.' || p.proname = '$f'});
	like($config, qr/(?:^|;)search_path=pg_catalog(?:, [a-z_]+)*, pg_temp(?:;|$)/,
		"$f pins search_path");
	is($public, 'f', "$f is not executable by PUBLIC");
}

$node->stop;
done_testing();
