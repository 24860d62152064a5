#
# 063_s3_credentials.pl: the S3 credentials stay with superusers.
#
# A server with ftstore in shared_preload_libraries and the credentials in
# postgresql.conf, the configuration docs/tier-s3.md asks for: a role that
# is not superuser cannot SHOW them, read them with current_setting(),
# find them in pg_settings or SHOW ALL, or set any S3 setting; a superuser
# can read them.  A failed request logged at DEBUG1 leaves neither the
# secret nor the access key id in the server log.
#
# A server without the preload holds the same settings as placeholders
# any role could read, so the store refuses credentials from the
# configuration file there, and takes them only from the session.
#
# The endpoint is 127.0.0.1 port 9, where nothing listens: no request
# leaves the machine, and every one fails to connect.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $secret = 'tap-secret-' . join('', map { ('a' .. 'z')[ int(rand(26)) ] } 1 .. 16);
my $key_id = 'AKIDTAP' . join('', map { int(rand(10)) } 1 .. 10);

my $settings = qq{
ftstore.s3_endpoint = 'http://127.0.0.1:9'
ftstore.s3_access_key_id = '$key_id'
ftstore.s3_secret_access_key = '$secret'
ftstore.s3_max_retries = 1
ftstore.s3_retry_delay = 1
ftstore.s3_connect_timeout = 2000
log_min_messages = debug1
log_error_verbosity = verbose
};

# psql as a role: (sqlstate or 'ok', stdout, stderr).
sub run_as
{
	my ($node, $user, $sql) = @_;
	my ($ret, $out, $err) = $node->psql(
		'postgres', $sql,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=verbose' ],
		on_error_stop => 1);
	return ('ok', $out, $err) if $ret == 0;
	return ($err =~ /ERROR:\s+([0-9A-Z]{5})/ ? $1 : "failed: $err", $out, $err);
}

# --- With the preload -------------------------------------------------------

my $node = PostgreSQL::Test::Cluster->new('s3_preloaded');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'ftstore'\n$settings");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION ftstore; CREATE ROLE plain LOGIN;');

for my $name ('ftstore.s3_secret_access_key', 'ftstore.s3_access_key_id')
{
	my ($state, $out) = run_as($node, 'plain', "SHOW $name");
	is($state, '42501', "a plain role may not SHOW $name");
	unlike($out, qr/\Q$secret\E|\Q$key_id\E/, "nor see it in SHOW's output");
	($state, $out) = run_as($node, 'plain', "SELECT current_setting('$name')");
	is($state, '42501', "a plain role may not read $name with current_setting");
	($state, $out) = run_as($node, 'plain', "SELECT current_setting('$name', true)");
	unlike($out, qr/\Q$secret\E|\Q$key_id\E/, "current_setting(missing_ok) hides $name too");
}

my ($state, $out) = run_as($node, 'plain',
	"SELECT string_agg(name, ',' ORDER BY name) FROM pg_settings WHERE name LIKE 'ftstore.s3%'");
is($state, 'ok', 'a plain role reads pg_settings');
like($out, qr/ftstore\.s3_endpoint/, 'pg_settings shows the endpoint');
unlike($out, qr/access_key/, 'pg_settings shows neither key setting to a plain role');

($state, $out) = run_as($node, 'plain', 'SHOW ALL');
unlike($out, qr/access_key|\Q$secret\E|\Q$key_id\E/, 'SHOW ALL of a plain role lists no key setting');

for my $sql ("SET ftstore.s3_secret_access_key = 'x'",
	"SET ftstore.s3_access_key_id = 'x'",
	"SET ftstore.s3_endpoint = 'http://127.0.0.1:1'",
	"SET ftstore.s3_ca_file = '/tmp/x'")
{
	($state) = run_as($node, 'plain', $sql);
	is($state, '42501', "a plain role may not: $sql");
}

is($node->safe_psql('postgres', 'SHOW ftstore.s3_secret_access_key'),
	$secret, 'a superuser reads the secret');

# A failed request, logged at DEBUG1 with every retry, names no credential.
($state, $out, my $err) = run_as($node, $node->safe_psql('postgres', 'SELECT current_user'),
	"SELECT ftstore.object_head('s3://bucket/tier', 'ab/cd')");
is($state, '08006', 'a request to a closed port is a connection failure');
like($err, qr/could not look up object "ab\/cd" in "s3:\/\/bucket\/tier"/,
	'the error names the key and the store');
unlike($err, qr/\Q$secret\E|\Q$key_id\E/, 'the error names no credential');
my $log = slurp_file($node->logfile);
like($log, qr/will be retried/, 'the retry was logged at DEBUG1');
unlike($log, qr/\Q$secret\E/, 'the server log holds no secret');
unlike($log, qr/\Q$key_id\E/, 'the server log holds no access key id');

$node->stop;

# --- Without the preload ----------------------------------------------------

my $bare = PostgreSQL::Test::Cluster->new('s3_not_preloaded');
$bare->init;
$bare->append_conf('postgresql.conf', $settings);
$bare->start;
$bare->safe_psql('postgres', 'CREATE EXTENSION ftstore');
my $su = $bare->safe_psql('postgres', 'SELECT current_user');

($state, $out, $err) = run_as($bare, $su,
	"SELECT ftstore.object_head('s3://bucket/tier', 'ab/cd')");
is($state, '55000', 'credentials from postgresql.conf are refused without the preload');
like($err, qr/comes from the configuration file, but ftstore is not in shared_preload_libraries/,
	'and the error says why');

($state, $out, $err) = run_as($bare, $su,
	"SET ftstore.s3_access_key_id = 'session-key'; SET ftstore.s3_secret_access_key = 'session-secret';"
	  . " SELECT ftstore.object_head('s3://bucket/tier', 'ab/cd')");
is($state, '08006', 'credentials set in the session are used: the request is made');

($state, $out, $err) = run_as($bare, $su,
	"SELECT ftstore.s3_sign_request('GET', 'http://h/b/k', '{}', 'UNSIGNED-PAYLOAD', '20261204T000000Z')");
is($state, '55000', 'the signer refuses configuration-file credentials too');

$bare->stop;

done_testing();
