#
# TierCrash.pm: what the cold tier's crash tests share (061 on the file
# store, 068 on s3rver): samples with generated blobs, a trigger that slows
# the offload down so that a kill lands inside it, and the checks that
# every blob is still whole after each crash.
#
package TierCrash;

use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use Exporter 'import';
use IPC::Run;
use Test::More;

our @EXPORT_OK = qw(blob_hashes make_samples check_all start_offload
  offloading_pid kill_backend kill_postmaster);

# The SHA-256 of each generated blob, computed in Perl from the same bytes
# the samples get: $kb kB of the MD5 of "$seed$i" in hex, repeated.
sub blob_hashes
{
	my ($seed, $n, $kb) = @_;
	return map { sha256_hex(pack('H*', md5_hex("$seed$_") x ($kb * 64))) }
	  1 .. $n;
}

# Dataset "crash" with $n samples, one generated blob each, and a trigger
# that sleeps on every catalog update: an offload then takes long enough
# for a kill to land in the middle of it.
sub make_samples
{
	my ($node, $seed, $n, $kb) = @_;
	$node->safe_psql('postgres', qq{
	CREATE EXTENSION ftstore;
	SELECT ftstore.create_dataset('crash');
	INSERT INTO ftstore.samples (dataset_id, sample, source, record)
	SELECT ftstore.dataset_id('crash'), ftstore.ftsample(jsonb_build_object(
		'messages', jsonb_build_array(
			jsonb_build_object('role', 'user', 'content', '<image>' || i),
			jsonb_build_object('role', 'assistant', 'content', 'ok')),
		'images', jsonb_build_array(ftstore.store_blob('crash',
			decode(repeat(md5('$seed' || i), $kb * 64), 'hex'))))), 'gen', i
	FROM generate_series(1, $n) i;
	CREATE FUNCTION public.slow() RETURNS trigger LANGUAGE plpgsql AS
	\$\$ BEGIN PERFORM pg_sleep(0.1); RETURN NEW; END \$\$;
	CREATE TRIGGER slow BEFORE UPDATE ON ftstore.blob_catalog
		FOR EACH ROW EXECUTE FUNCTION public.slow();
	});
}

# Every blob, read through blob() and hashed by PostgreSQL, against
# $expected (the hashes joined by commas); every blob in tier $tier; and
# every hot blob with its hot copy.
sub check_all
{
	my ($node, $expected, $n, $label, $tier) = @_;
	is( $node->safe_psql('postgres', q{
			SELECT string_agg(encode(sha256(ftstore.blob(sample, 1)), 'hex'), ',' ORDER BY record)
			FROM ftstore.samples}),
		$expected, "$label: every blob reads back with its hash");
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM ftstore.blob_catalog WHERE tier = '$tier'"),
		$n, "$label: every blob is $tier");
	is( $node->safe_psql('postgres', q{
			SELECT count(*) FROM ftstore.blob_catalog c
			WHERE c.tier = 'hot' AND NOT EXISTS (SELECT 1 FROM ftstore.blob_hot h
												 WHERE h.sha256 = c.sha256)}),
		'0', "$label: every hot blob has its hot copy");
}

# Starts an offload in another session and returns once $objects->() has
# grown by three, so that the slow trigger holds it in the middle.
sub start_offload
{
	my ($node, $objects) = @_;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-d', $node->connstr('postgres'), '-c',
		  q{SELECT ftstore.offload('crash')} ],
		'>', \$out, '2>', \$err);
	my $before = $objects->();
	for (1 .. 600)
	{
		last if $objects->() >= $before + 3;
		select(undef, undef, undef, 0.1);
	}
	ok($objects->() >= $before + 3, 'objects are being written');
	return ($h, \$err);
}

sub offloading_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity
		WHERE query LIKE '%ftstore.offload(%' AND pid <> pg_backend_pid()});
}

# SIGKILL of the backend $pid, whose session is $h.  The postmaster notices
# the crash a moment later: wait for it to have restarted, or the first
# connection could still reach the old server and the next one find it in
# recovery.
sub kill_backend
{
	my ($node, $pid, $h) = @_;
	my $log_offset = -s $node->logfile;
	kill 'KILL', $pid;
	$h->finish;
	$node->wait_for_log(qr/database system is ready to accept connections/,
		$log_offset);
	ok($node->poll_query_until('postgres', 'SELECT 1', '1'),
		'the server is back after the crash');
}

# SIGKILL of the postmaster while session $h works, then a start.  The
# killed postmaster is gone once it has been reaped, and its orphaned
# backends once they have seen it die; until then a start is refused.
sub kill_postmaster
{
	my ($node, $h) = @_;
	my $postmaster = $node->{_pid};
	$node->kill9;
	$h->finish;
	my $started = 0;
	for (1 .. 120)
	{
		if (kill(0, $postmaster) == 0)
		{
			$started = $node->start(fail_ok => 1);
			last if $started;
		}
		sleep 1;
	}
	ok($started, 'the server starts again after SIGKILL of the postmaster');
}

1;
