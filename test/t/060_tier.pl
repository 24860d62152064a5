#
# 060_tier.pl: the cold tier against real files: multimodal import of the
# shared mllm_demo.json, offload to a file store, reads through the cache,
# a mirror, the offload worker, and the store's faults: missing, truncated
# and corrupted objects, an unwritable directory, a full disk under the
# cache and under the store.  pg_dump and COPY must work with the whole
# cold tier gone, as the type's output never fetches.
#
# Expected hashes come from Digest::SHA over the files and the bytes the
# test generates itself, never from what ftstore reports.
#
# The full disk is a 1 MB tmpfs that scripts/test.sh mounts (as root) and
# names in FTSTORE_TEST_FULL_DIR; without it the test fails.
#
use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use File::Basename qw(basename dirname);
use File::Find;
use JSON::PP;
use File::Path qw(make_path remove_tree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/../..');
my $data_dir = abs_path("$root/../shared/data") // "$root/../shared/data";
BAIL_OUT("shared data not found at $data_dir")
  unless -f "$data_dir/llamafactory/mllm_demo.json";
my $full_dir = $ENV{FTSTORE_TEST_FULL_DIR};
ok(defined $full_dir && -d $full_dir && -w $full_dir,
	'FTSTORE_TEST_FULL_DIR names a writable small file system (scripts/test.sh mounts one)');

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $tier = "$tmp/tier";
my $mirror = "$tmp/mirror";
my $cache = "$tmp/cache";

my $node = PostgreSQL::Test::Cluster->new('tier');
$node->init;
$node->append_conf('postgresql.conf', qq{
ftstore.tier_url = 'file://$tier'
ftstore.blob_cache_dir = '$cache'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION ftstore');

sub slurp
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "$path: $!";
	local $/;
	my $s = <$fh>;
	close $fh;
	return $s;
}

sub spew
{
	my ($path, $bytes) = @_;
	open my $fh, '>:raw', $path or die "$path: $!";
	print $fh $bytes;
	close $fh;
}

sub object_path
{
	my ($dir, $hex) = @_;
	return "$dir/blobs/" . substr($hex, 0, 2) . "/$hex";
}

sub files_under
{
	my ($dir) = @_;
	my @f;
	find(sub { push @f, $File::Find::name if -f $_ }, $dir) if -d $dir;
	return @f;
}

# ---------------------------------------------------------------------------
# Import of mllm_demo.json: its relative image paths become blobs.
# ---------------------------------------------------------------------------

my $mllm = "$data_dir/llamafactory/mllm_demo.json";
my $records = JSON::PP->new->decode(slurp($mllm));
my %expect;    # record ordinal => [hex of each image]
my %distinct;
for my $i (0 .. $#$records)
{
	for my $img (@{ $records->[$i]{images} // [] })
	{
		my $hex = sha256_hex(slurp(dirname($mllm) . "/$img"));
		push @{ $expect{ $i + 1 } }, $hex;
		$distinct{$hex} = 1;
	}
}
ok(scalar(keys %expect) > 0, 'mllm_demo.json names images');

is( $node->safe_psql('postgres', qq{
		SET ftstore.import_media = on;
		SELECT imported, rejected FROM ftstore.import_file('mm', '$mllm');}),
	scalar(@$records) . '|0', 'every mllm record imports');

my %got;
for my $row (split /\n/, $node->safe_psql('postgres', q{
	SELECT s.record, b.ordinal, b.sha256, encode(sha256(ftstore.blob(s.sample, b.ordinal)), 'hex'),
		   b.media_type, b.tier
	FROM ftstore.samples s, ftstore.blobs(s.sample) b ORDER BY 1, 2}))
{
	my ($rec, $ord, $hex, $read, $type, $t) = split /\|/, $row;
	push @{ $got{$rec} }, $hex;
	is($read, $hex, "record $rec blob $ord reads back with its hash") if $ord == 1;
	is($type, 'image/jpeg', "record $rec blob $ord is a JPEG") if $ord == 1;
}
is_deeply(\%got, \%expect, 'each sample references its images by their SHA-256');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ftstore.blob_catalog'),
	scalar(keys %distinct), 'identical images are stored once');

# Without the setting the paths stay as they are.
is( $node->safe_psql('postgres', qq{
		SET ftstore.import_media = off;
		SELECT imported FROM ftstore.import_file('mm_plain', '$mllm');
		SELECT count(*) FROM ftstore.samples s, ftstore.blobs(s.sample) b
		WHERE s.dataset_id = ftstore.dataset_id('mm_plain');}),
	scalar(@$records) . "\n0", 'import_media off keeps the paths');

# A missing media file makes its record a reject naming the path.
my $broken = "$tmp/broken.jsonl";
spew($broken, qq({"messages": [{"role": "user", "content": "<image>hi"}, {"role": "assistant", "content": "x"}], "images": ["nope/missing.png"]}\n));
is( $node->safe_psql('postgres', qq{
		SET ftstore.import_media = on;
		SELECT imported, rejected FROM ftstore.import_file('mm_broken', '$broken');
		SELECT message LIKE '%nope/missing.png%' FROM ftstore.rejects
		WHERE dataset_id = ftstore.dataset_id('mm_broken');}),
	"0|1\nt", 'a missing media file is a reject that names it');

# import_media is on by default.
is( $node->safe_psql('postgres', qq{
		SELECT imported FROM ftstore.import_file('mm_default', '$mllm');
		SELECT count(*) FROM ftstore.samples s, ftstore.blobs(s.sample) b
		WHERE s.dataset_id = ftstore.dataset_id('mm_default');}),
	scalar(@$records) . "\n" . scalar(map { @$_ } values %expect),
	'by default import_file stores the media as blobs');

# export_file writes the blobs beside the exported file, named by their
# SHA-256, and the samples name them by relative path; importing that
# export gives the same blobs and the same fingerprints.
my $expdir = "$tmp/export";
make_path($expdir);
is( $node->safe_psql('postgres',
		"SELECT ftstore.export_file('mm', '$expdir/mm.jsonl')"),
	scalar(@$records), 'export_file writes every mllm sample');
my @media_files = sort map { basename($_) } glob("$expdir/media/*");
is_deeply(\@media_files, [ sort map { "$_.jpg" } keys %distinct ],
	'and one file per distinct image, named by its SHA-256');
for my $f (@media_files)
{
	(my $hex = $f) =~ s/\.jpg$//;
	is(sha256_hex(slurp("$expdir/media/$f")), $hex, "media/$f holds the image's bytes");
}
my @exported = map { decode_json($_) } split /\n/, slurp("$expdir/mm.jsonl");
is_deeply([ map { $_->{images} // [] } @exported ],
	[ map { [ map { "media/$_.jpg" } @{ $expect{$_} // [] } ] } 1 .. scalar(@$records) ],
	'each exported sample names its images as media/<sha256>.jpg');
is( $node->safe_psql('postgres', qq{
		SELECT imported, rejected FROM ftstore.import_file('mm_again', '$expdir/mm.jsonl');}),
	scalar(@$records) . '|0', 'the export imports whole');
is( $node->safe_psql('postgres', q{
		SELECT (SELECT array_agg(fingerprint ORDER BY record) FROM ftstore.samples
				WHERE dataset_id = ftstore.dataset_id('mm_again'))
			 = (SELECT array_agg(fingerprint ORDER BY record) FROM ftstore.samples
				WHERE dataset_id = ftstore.dataset_id('mm'))}),
	't', 'with the fingerprints of the samples exported');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ftstore.blob_catalog'),
	scalar(keys %distinct), 'and no new blob: the same bytes, the same blobs');

# With export_media off the references stay.  Imported into a dataset
# that does not hold their blobs, each such record is a reject of its
# own, and the rest of the file imports.
$node->safe_psql('postgres', qq{
	SET ftstore.export_media = off;
	SELECT ftstore.export_file('mm', '$expdir/refs.jsonl');});
like(slurp("$expdir/refs.jsonl"), qr/"ftblob:sha256:[0-9a-f]{64}:\d+:image\/jpeg"/,
	'export_media off keeps the references');
open my $fh, '>>', "$expdir/refs.jsonl" or die $!;
print $fh qq({"text": "no media here"}\n);
close $fh;
my $with_images = grep { $_->{images} && @{ $_->{images} } } @$records;
is( $node->safe_psql('postgres', qq{
		SELECT imported, rejected FROM ftstore.import_file('mm_refs', '$expdir/refs.jsonl');
		SELECT string_agg(DISTINCT error_code, ','), bool_and(message LIKE 'sample references blob % which its dataset does not hold')
		FROM ftstore.rejects WHERE dataset_id = ftstore.dataset_id('mm_refs');}),
	"1|$with_images\n42501|t",
	'references to blobs the dataset does not hold are rejects, and the import goes on');

# ---------------------------------------------------------------------------
# Offload, verified objects, reads through the cache.
# ---------------------------------------------------------------------------

is($node->safe_psql('postgres', q{SELECT ftstore.offload('mm')}),
	scalar(keys %distinct), 'offload moves each distinct blob once');
for my $hex (keys %distinct)
{
	ok(-f object_path($tier, $hex), "object of $hex is in the file store");
}
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM ftstore.blob_catalog WHERE tier = 'cold' AND codec = 'none'}),
	scalar(keys %distinct), 'JPEGs are stored without recompression');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ftstore.blob_hot'),
	'0', 'no hot copy is left');

my $check_all = q{
	SELECT count(*) FILTER (WHERE encode(sha256(ftstore.blob(s.sample, b.ordinal)), 'hex') = b.sha256)
		   || '/' || count(*)
	FROM ftstore.samples s, ftstore.blobs(s.sample) b
	WHERE s.dataset_id = ftstore.dataset_id('mm')};
my $nrefs = 0;
$nrefs += scalar(@{ $expect{$_} }) for keys %expect;
is($node->safe_psql('postgres', $check_all), "$nrefs/$nrefs",
	'every blob reads from the cold tier with its hash');
my @cached = files_under($cache);
is(scalar(@cached), scalar(keys %distinct), 'each cold blob was cached once');
is(sha256_hex(slurp($cached[0])), (split m{/}, $cached[0])[-1],
	'a cache file holds the blob named by its hash');

# Cache hits survive the loss of the store; then the store's faults show.
my ($h1) = sort keys %distinct;
my $obj1 = object_path($tier, $h1);
my $good = slurp($obj1);
my $rec_of_h1 = (grep { $expect{$_}[0] eq $h1 } sort keys %expect)[0];
my $read_h1 = qq{SELECT encode(sha256(ftstore.blob(sample, 1)), 'hex')
	FROM ftstore.samples WHERE dataset_id = ftstore.dataset_id('mm') AND record = $rec_of_h1};
unlink $obj1;
is($node->safe_psql('postgres', $read_h1), $h1, 'a cache hit needs no object');

# A damaged cache file is detected and fetched again.
spew("$cache/$h1", 'garbage');
spew($obj1, $good);
is($node->safe_psql('postgres', $read_h1), $h1, 'a damaged cache file is replaced');
is(sha256_hex(slurp("$cache/$h1")), $h1, 'the cache file is whole again');

sub read_uncached
{
	unlink "$cache/$h1";
	my ($ret, $out, $err) = $node->psql('postgres', $read_h1,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($ret, $out, $err);
}

my ($ret, $out, $err);
unlink $obj1;
($ret, $out, $err) = read_uncached();
ok($ret != 0 && $err =~ /XX001/ && $err =~ /cold object of blob $h1 is missing/,
	'a missing object is a clear error') or diag $err;

spew($obj1, substr($good, 0, length($good) - 100));
($ret, $out, $err) = read_uncached();
ok($ret != 0 && $err =~ /XX001/ && $err =~ /blob $h1 is corrupt/,
	'a truncated object is a clear error') or diag $err;

my $bad = $good;
substr($bad, 500, 1) = chr(ord(substr($bad, 500, 1)) ^ 0x55);
spew($obj1, $bad);
($ret, $out, $err) = read_uncached();
ok($ret != 0 && $err =~ /XX001/ && $err =~ /do not match the blob's SHA-256/,
	'a corrupted object is a clear error, not wrong bytes') or diag $err;
ok(!-f "$cache/$h1", 'nothing corrupt was cached');

# The mirror: written by offload, read when the primary fails.
spew($obj1, $good);
$node->append_conf('postgresql.conf', "ftstore.tier_mirror_url = 'file://$mirror'");
$node->reload;
my $docs = join "\n", map {
	qq({"messages": [{"role": "user", "content": "<image>doc $_"}, {"role": "assistant", "content": "ok"}], "images": ["doc$_.txt"]})
} 1 .. 3;
make_path("$tmp/docs");
my %doc_hex;
for my $i (1 .. 3)
{
	my $text = ("document $i, " x 5000);
	spew("$tmp/docs/doc$i.txt", $text);
	$doc_hex{$i} = sha256_hex($text);
}
spew("$tmp/docs/docs.jsonl", "$docs\n");
is( $node->safe_psql('postgres', qq{
		SET ftstore.import_media = on;
		SELECT imported FROM ftstore.import_file('docs', '$tmp/docs/docs.jsonl');
		SELECT ftstore.offload('docs');
		SELECT count(*) FROM ftstore.blob_catalog WHERE codec = 'zstd' AND mirrored
		  AND stored_bytes < bytes;}),
	"3\n3\n3", 'text documents are offloaded zstd-compressed to both tiers');
for my $i (1 .. 3)
{
	ok(-f object_path($mirror, $doc_hex{$i}), "document $i is on the mirror");
}
unlink object_path($tier, $doc_hex{1});
($ret, $out, $err) = $node->psql('postgres', q{
	SELECT encode(sha256(ftstore.blob(sample, 1)), 'hex') FROM ftstore.samples
	WHERE dataset_id = ftstore.dataset_id('docs') AND record = 1});
is($out, $doc_hex{1}, 'a blob missing from the primary is read from the mirror');
my $doc1 = $doc_hex{1};
like($err, qr/reading blob $doc1 from the mirror tier/, 'with a warning saying so');

# ---------------------------------------------------------------------------
# An unwritable directory and full disks.
# ---------------------------------------------------------------------------

$node->append_conf('postgresql.conf', "ftstore.tier_mirror_url = ''");
$node->reload;
my $gen = q{
	SELECT ftstore.create_dataset('%1$s');
	INSERT INTO ftstore.samples (dataset_id, sample, source, record)
	SELECT ftstore.dataset_id('%1$s'), ftstore.ftsample(jsonb_build_object(
		'messages', jsonb_build_array(
			jsonb_build_object('role', 'user', 'content', '<image>' || i),
			jsonb_build_object('role', 'assistant', 'content', 'ok')),
		'images', jsonb_build_array(ftstore.store_blob('%1$s',
			decode(repeat(md5('%1$s' || i), %2$d * 64), 'hex'))))), 'gen', i
	FROM generate_series(1, %3$d) i;
};
sub gen_hex
{
	my ($ds, $i, $kb) = @_;
	return sha256_hex(pack('H*', md5_hex("$ds$i") x ($kb * 64)));
}

$node->safe_psql('postgres', sprintf($gen, 'ro', 4, 2));
make_path("$tmp/readonly");
chmod 0500, "$tmp/readonly";
($ret, $out, $err) = $node->psql('postgres', qq{
	SET ftstore.tier_url = 'file://$tmp/readonly/tier';
	SELECT ftstore.offload('ro');});
ok($ret != 0 && $err =~ /could not create directory .*Permission denied/,
	'an unwritable directory fails the offload') or diag $err;
is( $node->safe_psql('postgres', q{
		SELECT string_agg(encode(sha256(ftstore.blob(s.sample, 1)), 'hex'), ',' ORDER BY s.record)
		FROM ftstore.samples s WHERE s.dataset_id = ftstore.dataset_id('ro');
		SELECT count(*) FROM ftstore.blob_catalog c JOIN ftstore.blob_claims cl USING (sha256)
		WHERE cl.dataset_id = ftstore.dataset_id('ro') AND c.tier = 'hot';}),
	join(',', map { gen_hex('ro', $_, 4) } 1 .. 2) . "\n2",
	'and its blobs stay hot and readable');
chmod 0700, "$tmp/readonly";

if (!defined $full_dir || !-d $full_dir)
{
	fail('a full disk needs FTSTORE_TEST_FULL_DIR');
}
else
{
	remove_tree("$full_dir/cache", "$full_dir/tier");
	make_path("$full_dir/cache");
	# Fill the file system.
	open my $fill, '>:raw', "$full_dir/filler" or die $!;
	my $chunk = "\0" x 4096;
	while (print $fill $chunk) { last unless $fill->flush; }
	close $fill;

	# A full disk under the store: the offload fails, nothing is lost.
	$node->safe_psql('postgres', sprintf($gen, 'full', 64, 2));
	($ret, $out, $err) = $node->psql('postgres', qq{
		SET ftstore.tier_url = 'file://$full_dir/tier';
		SELECT ftstore.offload('full');});
	ok($ret != 0 && $err =~ /(could not (write|create|sync) object|could not create directory).*No space left on device/,
		'a full disk under the store fails the offload') or diag $err;
	is( $node->safe_psql('postgres', q{
			SELECT string_agg(encode(sha256(ftstore.blob(s.sample, 1)), 'hex'), ',' ORDER BY s.record)
			FROM ftstore.samples s WHERE s.dataset_id = ftstore.dataset_id('full');}),
		join(',', map { gen_hex('full', $_, 64) } 1 .. 2),
		'and its blobs stay hot and readable');

	# A full disk under the cache: reads still give the right bytes.
	is($node->safe_psql('postgres', q{SELECT ftstore.offload('full')}), '2',
		'offloaded to the ordinary store');
	($ret, $out, $err) = $node->psql('postgres', qq{
		SET ftstore.blob_cache_dir = '$full_dir/cache';
		SELECT string_agg(encode(sha256(ftstore.blob(s.sample, 1)), 'hex'), ',' ORDER BY s.record)
		FROM ftstore.samples s WHERE s.dataset_id = ftstore.dataset_id('full');});
	is($out, join(',', map { gen_hex('full', $_, 64) } 1 .. 2),
		'with a full disk under the cache, reads give the right bytes');
	like($err, qr/could not cache blob .*No space left on device/,
		'and warn that the cache could not be written');
	is(scalar(files_under("$full_dir/cache")), 0, 'no partial cache file is left');
	unlink "$full_dir/filler";
	remove_tree("$full_dir/cache", "$full_dir/tier");
}

# ---------------------------------------------------------------------------
# The cache's size limit: least recently used blobs go first.
# ---------------------------------------------------------------------------

remove_tree($cache);
$node->safe_psql('postgres', sprintf($gen, 'lru', 64, 6));
$node->safe_psql('postgres', q{SELECT ftstore.offload('lru')});
my $lru_read = q{
	SET ftstore.blob_cache_size = '200kB';
	SELECT encode(sha256(ftstore.blob(s.sample, 1)), 'hex')
	FROM ftstore.samples s WHERE s.dataset_id = ftstore.dataset_id('lru') AND s.record = %d};
for my $i (1 .. 6)
{
	is($node->safe_psql('postgres', sprintf($lru_read, $i)), gen_hex('lru', $i, 64),
		"lru blob $i reads back");
	sleep 1 if $i < 6;	# file times have a resolution of a second on some systems
}
my $total = 0;
$total += -s $_ for files_under($cache);
ok($total <= 200 * 1024, "the cache stays under its limit ($total bytes)");
ok(-f "$cache/" . gen_hex('lru', 6, 64), 'the most recent blob is cached');
ok(!-f "$cache/" . gen_hex('lru', 1, 64), 'the least recent blob was evicted');

# ---------------------------------------------------------------------------
# Neither COPY nor pg_dump fetches: they work with the cold tier gone.
# ---------------------------------------------------------------------------

remove_tree($tier, $cache);
($ret, $out, $err) = $node->psql('postgres',
	'COPY ftstore.samples (sample) TO STDOUT');
is($ret, 0, 'COPY of the samples works with no object store');
like($out, qr/ftblob:sha256:[0-9a-f]{64}:\d+:image\/jpeg/, 'and prints the references');
my $dump = "$tmp/dump.sql";
command_ok([ 'pg_dump', '-d', $node->connstr('postgres'), '-f', $dump ],
	'pg_dump works with no object store');
like(slurp($dump), qr/ftblob:sha256:/, 'and dumps the references');

# ---------------------------------------------------------------------------
# Temporary files that a put cut short by a crash leaves in the file
# store go with the collector, after the grace period like objects.
# ---------------------------------------------------------------------------

make_path("$tier/blobs/00");
# Process ids above Linux's highest pid_max (2^22): no live backend owns
# these names, whose writer the collector would otherwise wait for.
my $old_tmp = "$tier/blobs/00/.tmp-4999998-" . ('0' x 64);
my $new_tmp = "$tier/blobs/00/.tmp-4999999-" . ('0' x 64);
spew($old_tmp, 'left by a crash two hours ago');
spew($new_tmp, 'being written');
my $two_hours_ago = time - 2 * 3600;
utime($two_hours_ago, $two_hours_ago, $old_tmp) or die "utime: $!";
$node->safe_psql('postgres', q{
	SET ftstore.collect_grace = '1h'; SELECT ftstore.collect_objects()});
ok(!-e $old_tmp, 'the collector removes a temporary file older than the grace period');
ok(-e $new_tmp, 'and keeps a newer one');
ok($node->log_contains(qr/collector removed 1 files that interrupted writes left in/),
	'and logs how many it removed');
$node->safe_psql('postgres', q{
	SET ftstore.collect_grace = 0; SELECT ftstore.collect_objects()});
ok(!-e $new_tmp, 'with no grace period it goes too');

# A temporary file named by a live backend is a put that may be in
# progress, however old it looks: even with no grace period it stays.
# The collecting session writes one under its own process id; once that
# session has ended, the next collection takes the file.
my $live_tmp = $node->safe_psql('postgres', qq{
	DO \$\$ BEGIN
		EXECUTE format('COPY (SELECT 1) TO %L',
			'$tier/blobs/00/.tmp-' || pg_backend_pid() || '-' || repeat('0', 64));
	END \$\$;
	SET ftstore.collect_grace = 0;
	SELECT ftstore.collect_objects();
	SELECT '$tier/blobs/00/.tmp-' || pg_backend_pid() || '-' || repeat('0', 64);});
($live_tmp) = (split /\n/, $live_tmp)[-1];
ok(-e $live_tmp, 'the collector keeps the temporary file of a live backend');
# The ended backend leaves the process array a moment after its client
# sees the end: collect until the file goes.
ok( $node->poll_query_until('postgres', qq{
		SELECT pg_stat_file('$live_tmp', true) IS NULL
		FROM (SELECT ftstore.collect_objects()
			  FROM (SELECT set_config('ftstore.collect_grace', '0', false)) g
			  OFFSET 0) c}),
	'and removes it once that backend has ended');
ok(!-e $live_tmp, 'the file is gone');

# ---------------------------------------------------------------------------
# The offload worker applies the policy.
# ---------------------------------------------------------------------------

$node->safe_psql('postgres', sprintf($gen, 'policy', 8, 3));
$node->append_conf('postgresql.conf', qq{
ftstore.offload_threshold = '4kB'
ftstore.offload_naptime = '1s'
});
$node->reload;
ok($node->safe_psql('postgres', 'SELECT ftstore.start_offload_worker()') > 0,
	'the offload worker starts');
ok( $node->poll_query_until('postgres', q{
		SELECT count(*) = 0 FROM ftstore.blob_catalog c
		JOIN ftstore.blob_claims cl USING (sha256)
		WHERE cl.dataset_id = ftstore.dataset_id('policy') AND c.tier = 'hot'}),
	'the worker moves blobs over the threshold');
is( $node->safe_psql('postgres', q{
		SELECT string_agg(encode(sha256(ftstore.blob(s.sample, 1)), 'hex'), ',' ORDER BY s.record)
		FROM ftstore.samples s WHERE s.dataset_id = ftstore.dataset_id('policy');}),
	join(',', map { gen_hex('policy', $_, 8) } 1 .. 3),
	'and they read back with their hashes');

$node->stop;
done_testing();
