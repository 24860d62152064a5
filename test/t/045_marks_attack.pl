
# 045_marks_attack.pl: the duplicate marks (ftstore.duplicates) attacked by
# every role shape of docs/security.md, each logged in as itself.
#
# What must hold: no role but the table's owner writes a mark (only
# dedup_exact and the triggers do); a mark, or a count of marks, tells no
# role anything about a sample or dataset it cannot see, and a hidden
# dataset answers exactly as one that does not exist; actor_holds(), which
# dedup_exact checks, decides as the policies do (can_access(), called as
# the role); SET ROLE makes dedup_exact act as the role set, never as the
# session's superuser; and the marks stay consistent when a sample is
# restricted or deleted while dedup_exact runs in another session, when
# two sessions run dedup_exact at once, when a dataset is deleted and when
# the samples are truncated.
#
# The expected marks are computed here from the records' texts and flags
# (group by text and restricted, keep the earliest), not by the database.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('marks_attack');
$node->init;
$node->start;

# Runs SQL logged in as a role: "ok <output>" or the SQLSTATE; in list
# context also psql's stderr (verbose: message, context and location).
sub sql_as
{
	my ($user, $sql) = @_;
	my ($ret, $out, $err) = $node->psql(
		'postgres', $sql,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=verbose' ],
		on_error_stop => 1);
	my $res;
	if ($ret != 0)
	{
		$res = $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : "failed: $err";
	}
	else
	{
		$res = "ok $out";
	}
	return wantarray ? ($res, $err) : $res;
}

sub su
{
	return $node->safe_psql('postgres', $_[0]);
}

su(q{
	CREATE EXTENSION ftstore;
	SELECT ftstore.create_roles();
	CREATE ROLE tap_admin LOGIN IN ROLE ftstore_admin;
	CREATE ROLE tap_curator LOGIN IN ROLE ftstore_curator;
	CREATE ROLE tap_cleared LOGIN IN ROLE ftstore_curator;
	CREATE ROLE tap_reader LOGIN IN ROLE ftstore_reader;
	CREATE ROLE tap_clearonly LOGIN IN ROLE ftstore_curator;
	CREATE ROLE tap_nogrant LOGIN IN ROLE ftstore_curator;
	CREATE ROLE tap_auditor LOGIN IN ROLE ftstore_auditor;
	CREATE ROLE tap_outsider LOGIN;
	CREATE ROLE tap_bypass LOGIN BYPASSRLS IN ROLE ftstore_curator;
	-- PostgREST's pattern: a NOINHERIT authenticator that SETs ROLE.
	CREATE ROLE tap_web NOLOGIN IN ROLE ftstore_curator;
	CREATE ROLE tap_authenticator LOGIN NOINHERIT IN ROLE tap_web;
});

# pub: texts A A A B B C, then A A B restricted.  hid: nobody's.  rds: a
# restricted dataset the curator writes without clearance.
my @pub = (
	[ 'A', 0 ], [ 'A', 0 ], [ 'A', 0 ], [ 'B', 0 ], [ 'B', 0 ], [ 'C', 0 ],
	[ 'A', 1 ], [ 'A', 1 ], [ 'B', 1 ]);

sub jsonl
{
	return join '', map { qq({"instruction": "$_->[0]", "output": "$_->[0]"}\n) } @_;
}

# {record => record kept} for records [text, restricted], numbered from 1.
sub expected_marks
{
	my @recs = @_;
	my (%keep, %marks);
	for my $i (0 .. $#recs)
	{
		my $key = "$recs[$i][0]/$recs[$i][1]";
		if (exists $keep{$key})
		{
			$marks{ $i + 1 } = $keep{$key};
		}
		else
		{
			$keep{$key} = $i + 1;
		}
	}
	return %marks;
}

su(sprintf(q{
	SELECT ftstore.create_dataset('pub');
	SELECT ftstore.create_dataset('hid');
	SELECT ftstore.create_dataset('rds', restricted => true);
	SELECT count(*) FROM ftstore.import_data('pub', 'pub.jsonl', %s);
	SELECT count(*) FROM ftstore.import_data('hid', 'hid.jsonl', %s);
	SELECT count(*) FROM ftstore.import_data('rds', 'rds.jsonl', %s);
	UPDATE ftstore.samples SET restricted = true
	WHERE dataset_id = ftstore.dataset_id('pub') AND record IN (7, 8, 9);
	SELECT ftstore.grant('pub', 'tap_admin', 'admin');
	SELECT ftstore.grant('pub', 'tap_curator', 'write');
	SELECT ftstore.grant('pub', 'tap_cleared', 'write');
	SELECT ftstore.grant('pub', 'tap_cleared', 'clearance');
	SELECT ftstore.grant('pub', 'tap_reader', 'read');
	SELECT ftstore.grant('pub', 'tap_clearonly', 'clearance');
	SELECT ftstore.grant('pub', 'tap_web', 'write');
	SELECT ftstore.grant('rds', 'tap_curator', 'write');
	SELECT ftstore.grant('rds', 'tap_reader', 'read');
}, map { $node->safe_psql('postgres', "SELECT quote_literal(\$x\$$_\$x\$)") }
	  jsonl(@pub), jsonl([ 'A', 0 ], [ 'A', 0 ]), jsonl([ 'A', 0 ], [ 'A', 0 ])));

my %want = expected_marks(@pub);
my $n_all = scalar keys %want;
my $n_visible = scalar grep { !$pub[ $_ - 1 ][1] } keys %want;
is("$n_all $n_visible", '4 3', 'pub: 4 marks expected, 3 of unrestricted samples');

# Marks as "record>record kept", sorted, read by the superuser.
sub marks_of
{
	my ($ds) = @_;
	return su(qq{
		SELECT coalesce(string_agg(s.record || '>' || t.record, ' '
								   ORDER BY s.record), '')
		FROM ftstore.duplicates m
		JOIN ftstore.samples s ON s.id = m.sample_id
		JOIN ftstore.samples t ON t.id = m.duplicate_of
		WHERE m.dataset_id = ftstore.dataset_id('$ds')});
}
my $want_pub = join ' ', map { "$_>$want{$_}" } sort { $a <=> $b } keys %want;

# ---------------------------------------------------------------------------
# dedup_exact as every role, on a dataset it writes, one it sees but may
# not write, one it cannot see and one that does not exist.
# ---------------------------------------------------------------------------

my %dedup = (
	tap_reader => [ '42501', '42501', '42501', '42501' ],
	tap_auditor => [ '42501', '42501', '42501', '42501' ],
	tap_outsider => [ '42501', '42501', '42501', '42501' ],
	tap_authenticator => [ '42501', '42501', '42501', '42501' ],
	tap_curator => [ "ok $n_visible", '42501', '42704', '42704' ],
	tap_cleared => [ "ok $n_all", '42704', '42704', '42704' ],
	tap_clearonly => [ '42704', '42704', '42704', '42704' ],
	tap_nogrant => [ '42704', '42704', '42704', '42704' ],
	tap_admin => [ "ok $n_visible", '42704', '42704', '42704' ],
	# BYPASSRLS sees every row, so every dataset is its to mark.
	tap_bypass => [ "ok $n_all", 'ok 1', 'ok 1', '42704' ],
);
for my $role (sort keys %dedup)
{
	my @got;
	my %err;
	for my $ds (qw(pub rds hid nope))
	{
		my ($res, $err) = sql_as($role, "SELECT ftstore.dedup_exact('$ds')");
		push @got, $res;
		($err{$ds} = $err) =~ s/(["'])$ds\1/$1X$1/g;
	}
	is(join(', ', @got), join(', ', @{ $dedup{$role} }),
		"$role: dedup_exact on pub, rds, hid, nope");
	is($err{hid}, $err{nope},
		"$role: a hidden dataset's error is the same as a missing one's")
	  unless $got[2] =~ /^ok/;
}
is(sql_as('tap_authenticator', "SET ROLE tap_web; SELECT ftstore.dedup_exact('pub')"),
	"ok $n_visible", 'the authenticator marks pub after SET ROLE, as tap_web');
is(sql_as('tap_authenticator', "SET ROLE tap_web; SELECT ftstore.dedup_exact('hid')"),
	'42704', 'but not hid');
is(marks_of('pub'), $want_pub, "pub's marks are the earliest of each text and flag");
is(marks_of('hid'), '2>1', "hid's, by the BYPASSRLS role");

# ---------------------------------------------------------------------------
# No role writes, alters or removes a mark itself.
# ---------------------------------------------------------------------------

my $before = su('SELECT string_agg(m::text, \' \' ORDER BY m::text) FROM ftstore.duplicates m');
my $pub_id = su("SELECT ftstore.dataset_id('pub')");
my $id6 = su("SELECT id FROM ftstore.samples WHERE dataset_id = $pub_id AND record = 6");
my $id1 = su("SELECT id FROM ftstore.samples WHERE dataset_id = $pub_id AND record = 1");
my @forge = (
	"INSERT INTO ftstore.duplicates VALUES ($pub_id, $id6, false, $id1)",
	"INSERT INTO ftstore.duplicates SELECT dataset_id, sample_id + 100, restricted, duplicate_of FROM ftstore.duplicates",
	'UPDATE ftstore.duplicates SET duplicate_of = sample_id',
	'UPDATE ftstore.duplicates SET restricted = NOT restricted',
	'DELETE FROM ftstore.duplicates',
	'TRUNCATE ftstore.duplicates',
	"\\copy ftstore.duplicates FROM '/dev/null'",
	"UPDATE ftstore.samples_bi SET status = 'active'",
	"DELETE FROM ftstore.samples_bi WHERE status = 'duplicate'",
	"UPDATE ftstore.samples_facets_bi SET status = 'active'",
	"SELECT ftstore.samples_forget_marks()",
	"SELECT ftstore.samples_restriction_changed()");
# The views are joins, which PostgreSQL cannot write through (55000) before
# it checks privileges; a role without the schema (the outsider, the
# authenticator before SET ROLE) stops at the schema.
my @refused = map { /_bi / ? '55000' : '42501' } @forge;
for my $role (sort keys %dedup, 'tap_authenticator SET ROLE')
{
	my ($login, $prefix) = ($role, '');
	($login, $prefix) = ('tap_authenticator', 'SET ROLE tap_web; ')
	  if $role =~ / SET ROLE/;
	my @got = map { scalar sql_as($login, $prefix . $_) } @forge;
	is(join(' ', @got),
		join(' ', $role =~ /^tap_(outsider|authenticator)$/ ? ('42501') x @forge : @refused),
		"$role: every write of a mark is refused");
}
is(su('SELECT string_agg(m::text, \' \' ORDER BY m::text) FROM ftstore.duplicates m'),
	$before, 'and the marks are as dedup_exact left them');

# ---------------------------------------------------------------------------
# What the reader (no clearance) and the curator learn about pub's marks:
# the unrestricted ones only, everywhere.
# ---------------------------------------------------------------------------

my $visible_ids = join ',', map { su("SELECT id FROM ftstore.samples WHERE dataset_id = $pub_id AND record = $_") }
  grep { !$pub[ $_ - 1 ][1] } 1 .. @pub;
my $n_pub_visible = scalar grep { !$_->[1] } @pub;
for my $role (qw(tap_reader tap_curator))
{
	is(sql_as($role, qq{
		SELECT (SELECT count(*) FROM ftstore.duplicates WHERE dataset_id = $pub_id)
			|| ' ' || (SELECT count(*) FROM ftstore.samples_bi
					   WHERE dataset = 'pub' AND status = 'duplicate')
			|| ' ' || (SELECT count(*) FROM ftstore.samples_facets_bi
					   WHERE dataset = 'pub' AND status = 'duplicate')
			|| ' ' || (SELECT count FROM ftstore.report('pub')
					   WHERE code = 'exact_duplicates')
			|| ' ' || (SELECT count(*) FROM ftstore.export('pub'))
			|| ' ' || (SELECT count(*) FROM ftstore.export('pub', 'openai', true))
			|| ' ' || (SELECT count(*) FROM ftstore.samples_bi
					   WHERE dataset = 'pub' AND duplicate_of NOT IN ($visible_ids))
			|| ' ' || (SELECT count(*) FROM ftstore.duplicates
					   WHERE duplicate_of NOT IN ($visible_ids)
						  OR sample_id NOT IN ($visible_ids))}),
		sprintf('ok %d %d %d %d %d %d 0 0', $n_visible, $n_visible, $n_visible, $n_visible,
			$n_pub_visible - $n_visible, $n_pub_visible),
		"$role: marks, samples_bi, samples_facets_bi, report, export count only what it sees");
}
is(sql_as('tap_cleared', "SELECT count FROM ftstore.report('pub') WHERE code = 'exact_duplicates'"),
	"ok $n_all", 'the cleared curator counts the restricted marks too');
# The auditor's statistics count every mark, by design (docs/security.md):
# counts without content.  Nobody else may read them.
is(sql_as('tap_auditor', "SELECT duplicates FROM ftstore.dataset_stats WHERE dataset = 'pub'"),
	"ok $n_all", "the auditor's dataset_stats counts every mark");
is(join(' ', map { scalar sql_as($_, 'SELECT count(*) FROM ftstore.dataset_stats') }
	  qw(tap_reader tap_curator tap_cleared tap_outsider)),
	'42501 42501 42501 42501', 'no other role reads dataset_stats');
# A hidden dataset and a missing one answer the same through report and
# export; rds is seen by the reader but its content is not.
for my $call ("SELECT * FROM ftstore.report('%s')", "SELECT * FROM ftstore.export('%s')",
	"SELECT * FROM ftstore.export('%s', 'openai', true)")
{
	my ($r1, $e1) = sql_as('tap_reader', sprintf($call, 'hid'));
	my ($r2, $e2) = sql_as('tap_reader', sprintf($call, 'nope'));
	$e1 =~ s/(["'])hid\1/$1X$1/g;
	$e2 =~ s/(["'])nope\1/$1X$1/g;
	is("$r1 $e1", "$r2 $e2", "reader: $call on hid answers as on a missing dataset");
}
is(sql_as('tap_reader', "SELECT count(*) FROM ftstore.samples_bi WHERE dataset IN ('hid', 'rds')"),
	'ok 0', 'the reader sees no sample of hid or rds');

# Nor through the planner: 300 copies of one text in hid, marked and
# analyzed, give the reader the same estimate for duplicate_of = the hidden
# kept sample as for an id that does not exist (the leakproof = on bigint
# would otherwise be handed the column's most common values).
su(sprintf(q{SELECT count(*) FROM ftstore.import_data('hid', 'big.jsonl', %s)},
	su("SELECT quote_literal(\$x\$" . jsonl(([ 'Z', 0 ]) x 300) . "\$x\$)")));
is(su("SELECT ftstore.dedup_exact('hid')"), '300', 'hid: 300 marks');
su('ANALYZE ftstore.duplicates');
is(su(q{SELECT string_agg(attname, ' ' ORDER BY attname) FROM pg_stats
		WHERE schemaname = 'ftstore' AND tablename = 'duplicates'}),
	'dataset_id restricted sample_id', 'ANALYZE keeps no statistics of duplicate_of');
my $hid_kept = su(q{SELECT min(id) FROM ftstore.samples
					WHERE dataset_id = ftstore.dataset_id('hid') AND source = 'big.jsonl'});
my $estimate = sub {
	my $plan = sql_as('tap_reader', "EXPLAIN (FORMAT JSON) SELECT * FROM ftstore.duplicates WHERE duplicate_of = $_[0]");
	return $plan =~ /"Plan Rows": (\d+)/ ? $1 : $plan;
};
is($estimate->($hid_kept), $estimate->(-1),
	"the reader's estimate for a hidden kept sample is that of a missing one");

# ---------------------------------------------------------------------------
# actor_holds (dedup_exact's check, made as the owner) against the
# policies' answer, given by can_access() and granted_datasets() called
# as the role.
# ---------------------------------------------------------------------------

my @ds = map { su("SELECT ftstore.dataset_id('$_')") } qw(pub rds hid);
my $as_role = join ' || ', map {
	"(SELECT ($_ = ANY (ftstore.granted_datasets('read')) OR ftstore.can_access($_, 'read'))::text "
	  . "|| ftstore.can_access($_, 'write')::text || ftstore.can_access($_, 'clearance')::text || ' ')"
} @ds;
my $as_owner = sub {
	my ($actor) = @_;
	return join ' || ', map {
		"(SELECT ftstore.actor_holds('$actor', $_, 'read')::text "
		  . "|| ftstore.actor_holds('$actor', $_, 'write')::text "
		  . "|| ftstore.actor_holds('$actor', $_, 'clearance')::text || ' ')"
	} @ds;
};
for my $role (qw(tap_admin tap_curator tap_cleared tap_reader tap_clearonly tap_nogrant
	tap_bypass postgres))
{
	my $theirs = sql_as($role, "SELECT $as_role");
	my $ours = 'ok ' . su('SELECT ' . $as_owner->($role));
	is($ours, $theirs, "$role: actor_holds decides as the policies do ($theirs)");
}
is('ok ' . su('SELECT ' . $as_owner->('tap_web')),
	sql_as('tap_authenticator', "SET ROLE tap_web; SELECT $as_role"),
	'the authenticator after SET ROLE tap_web: the same');
# Roles that may not read the grants cannot ask; they hold nothing.
for my $role (qw(tap_outsider tap_authenticator tap_auditor))
{
	is(su('SELECT ' . $as_owner->($role)), 'falsefalsefalse ' x 3,
		"$role: actor_holds grants nothing");
}

# ---------------------------------------------------------------------------
# current_actor() cannot be steered to a role the session may not become,
# and SET ROLE downwards makes dedup_exact act as the lower role.
# ---------------------------------------------------------------------------

is(join(' ', map { scalar sql_as('tap_curator', $_) }
	  ('SET SESSION AUTHORIZATION postgres', 'SET ROLE postgres', 'SET ROLE tap_cleared',
	   "SELECT set_config('role', 'tap_cleared', false)")),
	'42501 42501 42501 42501', 'the curator can become no other role');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT ftstore.current_actor()',
	extra_params => [ '-U', 'tap_curator' ],
	connstr => $node->connstr('postgres') . " options='-c role=tap_cleared'");
like($err, qr/permission denied to set role "tap_cleared"/, 'not even at connection');
is(sql_as('postgres', "SET ROLE tap_nogrant; SELECT ftstore.dedup_exact('pub')"),
	'42704', 'a superuser after SET ROLE to a role without grants: pub does not exist');
is(sql_as('postgres', "SET SESSION AUTHORIZATION tap_nogrant; SELECT ftstore.dedup_exact('pub')"),
	'42704', 'nor after SET SESSION AUTHORIZATION to it');
is(sql_as('postgres', "SET ROLE tap_curator; SELECT ftstore.dedup_exact('pub')"),
	"ok $n_visible", "after SET ROLE to the curator: the curator's count, not the superuser's");
is(sql_as('postgres', "SET ROLE tap_admin; SELECT ftstore.grant('hid', 'tap_admin', 'admin')"),
	'42501', 'grant() after SET ROLE to an admin of pub: refused on hid');

# A role's own SECURITY DEFINER function, called by a superuser: inside it
# the caller is its owner, so the functions that decide by the caller's
# grants decide by the owner's, not by the superuser's (caller.c).
su(q{CREATE SCHEMA tap_trap AUTHORIZATION tap_curator});
is(sql_as('tap_curator', q{
	CREATE FUNCTION tap_trap.harmless() RETURNS bigint LANGUAGE sql
	SECURITY DEFINER SET search_path = pg_catalog
	AS $f$ SELECT ftstore.dedup_exact('hid') $f$;
	CREATE FUNCTION tap_trap.harmless_grant() RETURNS boolean LANGUAGE sql
	SECURITY DEFINER SET search_path = pg_catalog
	AS $f$ SELECT ftstore.grant('hid', 'tap_curator', 'admin') $f$;
	CREATE FUNCTION tap_trap.harmless_grants() RETURNS bigint LANGUAGE sql
	SECURITY DEFINER SET search_path = pg_catalog
	AS $f$ SELECT count(*) FROM ftstore.grants('hid') $f$;
	SELECT 1}), "ok 1", 'the curator writes SECURITY DEFINER functions of its own');
my $grants_before = su(q{SELECT count(*) FROM ftstore.dataset_grants});
is(sql_as('postgres', 'SELECT tap_trap.harmless()'), '42704',
	"dedup_exact inside the curator's function, called by a superuser: hid does not exist for the curator");
is(sql_as('postgres', 'SELECT tap_trap.harmless_grant()'), '42501',
	"grant() inside it: the curator administers nothing, whoever calls");
is(sql_as('postgres', 'SELECT tap_trap.harmless_grants()'), '42501',
	'grants() inside it: refused too');
is(su(q{SELECT count(*) FROM ftstore.dataset_grants}), $grants_before,
	'no grant was added');
is(sql_as('tap_curator', q{SELECT ftstore.dedup_exact_as('hid', 'postgres')}),
	'42501', 'the body that takes an actor is executable by no role');
is(sql_as('tap_curator', q{SELECT ftstore.grant_as('hid', 'tap_curator', 'admin', 'postgres')}),
	'42501', "nor is grant()'s");
is(sql_as('postgres', "SELECT ftstore.dedup_exact('hid') >= 0"), 'ok t',
	'the superuser calling dedup_exact itself acts as the superuser');

# The audit trail names the role that did the work: the owner of the
# SECURITY DEFINER function its statement ran in, with the session user
# as login; and work done by an entry point's body (the grant row grant()
# writes as the owner) is logged under the body's caller.
is(sql_as('tap_curator', q{
	CREATE FUNCTION tap_trap.harmless_import() RETURNS bigint LANGUAGE sql
	SECURITY DEFINER SET search_path = pg_catalog
	AS $f$ SELECT imported FROM ftstore.import_data('pub', 'trap.jsonl',
		'{"instruction": "trap", "output": "trap"}') $f$;
	SELECT 1}), "ok 1", 'the curator writes an importing function');
my $audit_top = su(q{SELECT max(id) FROM ftstore.audit_log});
is(sql_as('postgres', 'SELECT tap_trap.harmless_import()'), 'ok 1',
	"the superuser runs it: one sample imported into pub");
is(su(qq{SELECT string_agg(action || ' ' || actor || ' ' || login, ', ' ORDER BY id)
	FROM ftstore.audit_log WHERE id > $audit_top}),
	'insert tap_curator postgres, import tap_curator postgres',
	'the trail names the curator, whose function did it, and the superuser as login');
$audit_top = su(q{SELECT max(id) FROM ftstore.audit_log});
is(sql_as('tap_admin', q{SELECT ftstore.grant('pub', 'tap_reader', 'write')}), 'ok t',
	"the admin grants through grant(), whose body runs as the owner");
is(su(qq{SELECT string_agg(action || ' ' || actor || ' ' || login, ', ' ORDER BY id)
	FROM ftstore.audit_log WHERE id > $audit_top}),
	'grant tap_admin tap_admin', 'the grant is logged under the admin');
su(q{SELECT ftstore.revoke('pub', 'tap_reader', 'write')});

# ---------------------------------------------------------------------------
# Consistency under concurrency: a sample restricted or deleted while
# dedup_exact ranks in another session, and two dedup_exact at once.  Each
# case holds one side's transaction open until the other is seen waiting.
# ---------------------------------------------------------------------------

su(q{
	SELECT ftstore.create_dataset('race');
	SELECT ftstore.grant('race', 'tap_cleared', 'write');
	SELECT ftstore.grant('race', 'tap_cleared', 'clearance');
	SELECT ftstore.grant('race', 'tap_reader', 'read');
});

# Every mark has its sample, carries its flag, and no unrestricted mark
# points at a restricted sample; the reader sees no pointer it cannot
# follow.
sub consistent
{
	my ($what) = @_;
	is(su(q{
		SELECT count(*) FILTER (WHERE s.id IS NULL) || ' '
			|| count(*) FILTER (WHERE s.restricted IS DISTINCT FROM m.restricted) || ' '
			|| count(*) FILTER (WHERE NOT m.restricted AND t.restricted)
		FROM ftstore.duplicates m
		LEFT JOIN ftstore.samples s ON s.id = m.sample_id
		LEFT JOIN ftstore.samples t ON t.id = m.duplicate_of}),
		'0 0 0', "$what: no orphan mark, flags copied, no visible mark at a hidden sample");
	is(sql_as('tap_reader', q{
		SELECT count(*) FROM ftstore.samples_bi b
		WHERE b.duplicate_of IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM ftstore.samples s WHERE s.id = b.duplicate_of)}),
		'ok 0', "$what: the reader follows every duplicate_of it sees");
}

sub session
{
	my ($role) = @_;
	return $node->background_psql('postgres', extra_params => [ '-U', $role ]);
}

sub wait_for_lock_wait
{
	return $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock'");
}

sub reset_race
{
	my ($n) = @_;
	su(sprintf(q{
		DELETE FROM ftstore.samples WHERE dataset_id = ftstore.dataset_id('race');
		SELECT count(*) FROM ftstore.import_data('race', 'race.jsonl', %s);
	}, su("SELECT quote_literal(\$x\$" . jsonl(([ 'A', 0 ]) x $n) . "\$x\$)")));
	return su("SELECT min(id) FROM ftstore.samples WHERE dataset_id = ftstore.dataset_id('race')");
}

# 1. The kept sample restricted, then dedup_exact before that commits.
my $first = reset_race(3);
my $s1 = session('tap_cleared');
my $s2 = session('tap_cleared');
$s1->query_safe("BEGIN; UPDATE ftstore.samples SET restricted = true WHERE id = $first");
$s2->query_until(qr/sent/, "\\echo sent\nSELECT ftstore.dedup_exact('race');\n");
ok(wait_for_lock_wait(), 'restrict first: dedup_exact waits for it');
$s1->query_safe('COMMIT');
$s2->query_safe('SELECT 1');
consistent('restrict, then dedup_exact');
is(marks_of('race'), '3>2', 'the visible pair is ranked alone');

# 2. dedup_exact first, the kept sample restricted before that commits.
$first = reset_race(3);
$s2->query_safe("BEGIN; SELECT ftstore.dedup_exact('race')");
$s1->query_until(qr/sent/,
	"\\echo sent\nUPDATE ftstore.samples SET restricted = true WHERE id = $first;\n");
ok(wait_for_lock_wait(), 'dedup_exact first: the restriction waits for it');
$s2->query_safe('COMMIT');
$s1->query_safe('SELECT 1');
consistent('dedup_exact, then restrict');
is(marks_of('race'), '3>2', 'the next visible sample is kept');

# 3. A marked sample deleted, then dedup_exact (the first marking) before
# the delete commits.
$first = reset_race(3);
$s1->query_safe("BEGIN; DELETE FROM ftstore.samples WHERE id = $first + 2");
$s2->query_until(qr/sent/, "\\echo sent\nSELECT ftstore.dedup_exact('race');\n");
ok(wait_for_lock_wait(), 'delete first: dedup_exact waits for it');
$s1->query_safe('COMMIT');
$s2->query_safe('SELECT 1');
consistent('delete, then dedup_exact');
is(marks_of('race'), '2>1', 'no mark for the deleted sample');

# 4. Two dedup_exact at once: the second waits, then finds the first's
# marks and leaves them (no duplicate key).
$first = reset_race(4);
$s1->query_safe("BEGIN; SELECT ftstore.dedup_exact('race')");
$s2->query_until(qr/sent/, "\\echo sent\nSELECT ftstore.dedup_exact('race') AS second;\n");
ok(wait_for_lock_wait(), 'two dedup_exact: the second waits');
$s1->query_safe('COMMIT');
like($s2->query_safe('SELECT 1'), qr/^3\n1$/m, 'the second counts the same 3 marks');
consistent('two dedup_exact');
is(marks_of('race'), '2>1 3>1 4>1', 'each mark once');
$s1->quit;
$s2->quit;

# ---------------------------------------------------------------------------
# A dataset deleted, the samples truncated: no mark outlives them.
# ---------------------------------------------------------------------------

su("DELETE FROM ftstore.datasets WHERE name = 'race'");
is(su("SELECT count(*) FROM ftstore.duplicates m WHERE NOT EXISTS "
	  . "(SELECT 1 FROM ftstore.datasets d WHERE d.id = m.dataset_id)"),
	'0', "a deleted dataset's marks go with it");
consistent('after deleting a dataset');
su('TRUNCATE ftstore.samples CASCADE');
is(su('SELECT count(*) FROM ftstore.duplicates'), '0', 'TRUNCATE of the samples empties the marks');

$node->stop;
done_testing();
