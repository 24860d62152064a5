#
# 010_import.pl: import_file, import_data and export on every file of the
# shared data, on compressed copies of it, and on hostile files made here.
#
# Every expectation is computed in this file, independently of ftstore:
# record counts by JSON::PP (array length) or by counting non-blank lines,
# checked in turn against the shared data's README; the line each JSONL
# record starts on; and, for the hostile files, which record is broken and
# on which line, since this file writes them.
#
# No record of the shared data is invalid: each is a JSON object in a
# shape the type reads (openai-cookbook's toy file is "deliberately faulty"
# only in ways validation reports, a missing user turn and a very long
# turn, not in its syntax).  So every file must import with 0 rejects.
#
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use File::Compare qw(compare);
use File::Find;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/../..');
# Resolved, since test.sh may link the data in beside a copy of the tree.
my $data_dir = abs_path("$root/../shared/data") // "$root/../shared/data";

# A missing corpus is a failure, never a skip.
BAIL_OUT("shared data not found at $data_dir")
  unless -f "$data_dir/README.md";

my $tmp = PostgreSQL::Test::Utils::tempdir;

# ---------------------------------------------------------------------------
# Independent facts about the files.
# ---------------------------------------------------------------------------

# The README's table: relative path => records.
my %readme;
{
	open my $fh, '<', "$data_dir/README.md" or die "README.md: $!";
	while (my $line = <$fh>)
	{
		$readme{$1} = $2 if $line =~ /^\| (\S+\.jsonl?)\b[^|]*\| (\d+) \|/;
	}
	close $fh;
}

# Every *.json and *.jsonl file, but the LLaMA-Factory registry of column
# mappings, which is one JSON object describing datasets, not a dataset.
my @files;
find(
	sub {
		return unless -f $_ && /\.jsonl?$/;
		my $rel = substr($File::Find::name, length($data_dir) + 1);
		push @files, $rel unless $rel eq 'llamafactory/dataset_info.json';
	},
	$data_dir);
@files = sort @files;

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

# records: how many; lines: for JSONL, the line each record starts on;
# objects: how many records decode to a JSON object.
sub facts
{
	my ($path) = @_;
	my $json = JSON::PP->new->utf8;
	my $bytes = slurp($path);
	my %f = (lines => []);

	$bytes =~ s/^\xEF\xBB\xBF//;
	if ($bytes =~ /^\s*\[/)
	{
		my $array = $json->decode($bytes);
		$f{records} = scalar(@$array);
		$f{objects} = grep { ref($_) eq 'HASH' } @$array;
	}
	else
	{
		my $n = 0;
		for my $line (split /\n/, $bytes, -1)
		{
			$n++;
			next unless $line =~ /\S/;
			push @{ $f{lines} }, $n;
			my $v = eval { $json->decode($line) };
			$f{objects}++ if ref($v) eq 'HASH';
		}
		$f{records} = scalar(@{ $f{lines} });
	}
	$f{objects} //= 0;
	return \%f;
}

my %facts = map { $_ => facts("$data_dir/$_") } @files;

for my $rel (sort keys %readme)
{
	ok(exists $facts{$rel}, "README's $rel is among the files found");
	is($facts{$rel}{records}, $readme{$rel},
		"$rel: counted records agree with the README")
	  if exists $facts{$rel};
}
for my $rel (@files)
{
	is($facts{$rel}{objects}, $facts{$rel}{records},
		"$rel: every record is a JSON object");
}

# ---------------------------------------------------------------------------
# The server.
# ---------------------------------------------------------------------------

my $node = PostgreSQL::Test::Cluster->new('import');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION ftstore');

sub q1
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

sub lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# [imported, rejected] of one import_file call.
sub import_file
{
	my ($dataset, $path, $format) = @_;
	my $fmt = defined $format ? ', ' . lit($format) : '';
	my $out = q1("SELECT imported || ',' || rejected FROM ftstore.import_file("
		  . lit($dataset) . ', ' . lit($path) . "$fmt)");
	return [ split /,/, $out ];
}

sub count_rows
{
	my ($table, $dataset, $source) = @_;
	return q1("SELECT count(*) FROM ftstore.$table WHERE dataset_id = "
		  . "ftstore.dataset_id(" . lit($dataset) . ') AND source = '
		  . lit($source));
}

sub fingerprints
{
	my ($dataset, $source) = @_;
	my $where = defined $source ? ' AND source = ' . lit($source) : '';
	return q1("SELECT string_agg(encode(fingerprint, 'hex'), ',' "
		  . 'ORDER BY fingerprint) FROM ftstore.samples WHERE dataset_id = '
		  . 'ftstore.dataset_id(' . lit($dataset) . ")$where");
}

sub server_up
{
	my ($what) = @_;
	is(q1('SELECT 42'), '42', "server still answers after $what");
}

# ---------------------------------------------------------------------------
# Every shared file, plain, gzip and zstd.
# ---------------------------------------------------------------------------

my $total = 0;
for my $rel (@files)
{
	my $path = "$data_dir/$rel";
	my $n = $facts{$rel}{records};
	$total += $n;

	my $r = import_file('shared', $path);
	is($r->[0] + $r->[1], $n, "$rel: imported + rejected = $n records");
	is($r->[1], 0, "$rel: no record rejected");
	is(count_rows('samples', 'shared', $path), $n - $r->[1],
		"$rel: one stored sample per imported record");

	if (@{ $facts{$rel}{lines} })
	{
		my $got = q1(
			"SELECT string_agg(line::text, ',' ORDER BY record) FROM ftstore.samples "
			  . 'WHERE source = ' . lit($path));
		is($got, join(',', @{ $facts{$rel}{lines} }),
			"$rel: each record's line is where its text starts");
	}

	# The compressed copies go to $tmp: the media folders beside the
	# originals go there too, as links, since import_file resolves
	# relative media paths against the folder of the file it reads.
	for my $media (grep { -d } glob(dirname($path) . '/*'))
	{
		my $link = "$tmp/" . basename($media);
		symlink($media, $link) or die "symlink $link: $!" unless -e $link;
	}

	(my $base = $rel) =~ s{/}{_}g;
	for my $c ([ 'gzip', 'gz' ], [ 'zstd', 'zst' ])
	{
		my ($tool, $ext) = @$c;
		my $copy = "$tmp/$base.$ext";
		system("$tool -c < '$path' > '$copy'") == 0
		  or die "$tool failed on $path";
		my $rc = import_file("shared_$ext", $copy);
		is_deeply($rc, $r, "$rel: the $tool copy imports the same counts");
		is(fingerprints("shared_$ext", $copy), fingerprints('shared', $path),
			"$rel: the $tool copy gives the same samples");
	}
}

my $r = import_file('shared', "$data_dir/$files[0]");
is_deeply($r, [ 0, 0 ], "re-importing $files[0] imports nothing");
for my $rel (@files[ 1 .. $#files ])
{
	import_file('shared', "$data_dir/$rel");
}
is(q1("SELECT count(*) FROM ftstore.samples WHERE dataset_id = ftstore.dataset_id('shared')"),
	$total, 're-importing every file adds no sample');
is(q1("SELECT sum(skipped) FROM (SELECT DISTINCT ON (source) skipped FROM ftstore.imports "
		  . "WHERE dataset_id = ftstore.dataset_id('shared') ORDER BY source, id DESC) last"),
	$total, 'the re-imports counted every record as skipped');

# ---------------------------------------------------------------------------
# Export, import the export, export again.
# ---------------------------------------------------------------------------

my $exp1 = "$tmp/export_a.jsonl";
my $exp2 = "$tmp/export_b.jsonl";
is(q1("SELECT ftstore.export_file('shared', " . lit($exp1) . ')'), $total,
	'export_file writes one line per sample');
my $ra = import_file('roundtrip', $exp1);
is_deeply($ra, [ $total, 0 ], 'the export imports whole into a new dataset');
is(q1("SELECT ftstore.export_file('roundtrip', " . lit($exp2) . ')'), $total,
	'the new dataset exports as many lines');
is(compare($exp1, $exp2), 0, 'export, import, export gives a byte-identical file');
is(fingerprints('roundtrip'), fingerprints('shared'),
	'and the same sorted fingerprints');

my @lines_a = split /\n/, slurp($exp1), -1;
is(pop(@lines_a), '', 'the export ends with a newline');
is(scalar(@lines_a), $total, 'the export has a line per sample');

for my $c ([ 'gzip', 'gz' ], [ 'zstd', 'zst' ])
{
	my ($tool, $ext) = @$c;
	my $z = "$tmp/export_a.jsonl.$ext";
	is(q1("SELECT ftstore.export_file('shared', " . lit($z) . ", 'openai', '$tool')"),
		$total, "export_file with $tool");
	system("$tool -d -c < '$z' > '$z.out'") == 0 or die "$tool -d failed";
	is(compare("$z.out", $exp1), 0, "the $tool export decompresses to the plain one");
}

# export_file writes the images of mllm_demo.json beside the export and
# names them by relative path (media/<sha256>.jpg); export() keeps the
# references, as it has no folder to write them to.  With export_media
# off, export_file keeps them too, and the two agree byte for byte.
my $exp_refs = "$tmp/export_refs.jsonl";
is( q1("SET ftstore.export_media = off; SELECT ftstore.export_file('shared', " . lit($exp_refs) . ')'),
	$total, 'export_file with export_media off');

# The client-side recipes of docs/import-export.md.
my $csv = "$tmp/export_csv.jsonl";
my ($rc, $stdout, $stderr) = $node->psql('postgres',
	"\\copy (SELECT * FROM ftstore.export('shared')) TO '$csv' "
	  . "WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')");
is($rc, 0, '\copy of export() in csv form runs') or diag($stderr);
is(compare($csv, $exp_refs), 0, '\copy in csv form is byte-identical to export_file');

my $jsonl = "$data_dir/llamafactory/c4_demo.jsonl";
($rc, $stdout, $stderr) = $node->psql('postgres',
	"\\set content `cat '$jsonl'`\n"
	  . "SELECT imported || ',' || rejected FROM ftstore.import_data('client', 'c4_demo.jsonl', :'content');");
is($stdout, "$facts{'llamafactory/c4_demo.jsonl'}{records},0",
	'psql \set and import_data take a JSONL file from the client')
  or diag($stderr);
is(fingerprints('client', 'c4_demo.jsonl'), fingerprints('shared', $jsonl),
	'the client import stores the same samples as import_file');

my $gz = "$tmp/llamafactory_alpaca_en_demo.json.gz";
($rc, $stdout, $stderr) = $node->psql('postgres',
	"\\lo_import '$gz'\n"
	  . "SELECT imported || ',' || rejected FROM ftstore.import_data('client', 'alpaca.json.gz', lo_get(:LASTOID));\n"
	  . "\\lo_unlink :LASTOID");
my $alpaca_n = $facts{'llamafactory/alpaca_en_demo.json'}{records};
like($stdout, qr/^$alpaca_n,0$/m,
	'\lo_import and import_data take a gzip file from the client')
  or diag($stderr);
is(q1('SELECT count(*) FROM pg_largeobject_metadata'), '0',
	'the large object is gone again');

# ---------------------------------------------------------------------------
# Who may read server files.
# ---------------------------------------------------------------------------

# Both roles may call the import functions and write the tables, past any
# row-level security, so that what tells them apart is the one privilege
# import_file checks itself: pg_read_server_files.
q1( "CREATE ROLE loader LOGIN BYPASSRLS; CREATE ROLE nobody LOGIN BYPASSRLS;"
	  . "GRANT USAGE ON SCHEMA ftstore TO loader, nobody;"
	  . "GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA ftstore TO loader, nobody;"
	  . "GRANT EXECUTE ON FUNCTION ftstore.dataset_id(text, boolean),"
	  . "  ftstore.import_file(text, text, text, jsonb),"
	  . "  ftstore.import_data(text, text, bytea, text, jsonb),"
	  . "  ftstore.import_data(text, text, text, text, jsonb) TO loader, nobody;"
	  . "GRANT pg_read_server_files TO loader;");
($rc, $stdout, $stderr) = $node->psql('postgres',
	"SELECT imported FROM ftstore.import_file('by_loader', " . lit($jsonl) . ')',
	extra_params => [ '-U', 'loader' ]);
is($stdout, $facts{'llamafactory/c4_demo.jsonl'}{records},
	'a member of pg_read_server_files may import a server file')
  or diag($stderr);
($rc, $stdout, $stderr) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT imported FROM ftstore.import_file('by_nobody', " . lit($jsonl) . ')',
	extra_params => [ '-U', 'nobody' ]);
like($stderr, qr/ERROR:  42501: permission denied to read server file/,
	'any other role may not');
($rc, $stdout, $stderr) = $node->psql('postgres',
	"SELECT imported FROM ftstore.import_data('by_nobody', 'c4', pg_catalog.convert_to('{\"text\": \"x\"}', 'UTF8'))",
	extra_params => [ '-U', 'nobody' ]);
is($stdout, '1', 'but it may send data with import_data') or diag($stderr);

($rc, $stdout, $stderr) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT * FROM ftstore.import_file('x', '$tmp/no_such_file.jsonl')");
like($stderr, qr/ERROR:  58P01: could not open file "\Q$tmp\E\/no_such_file.jsonl"/,
	'a missing file is undefined_file, with its path');

# ---------------------------------------------------------------------------
# Hostile files.  Each is written here, so which records are bad and on
# which lines is known without ftstore.
# ---------------------------------------------------------------------------

my $pp = JSON::PP->new->utf8->canonical;
my @alpaca = @{ JSON::PP->new->utf8->decode(slurp("$data_dir/llamafactory/alpaca_en_demo.json")) };
my @c4 = grep { /\S/ } split /\n/, slurp("$data_dir/llamafactory/c4_demo.jsonl");

# [record, line, error_code, path, raw] of a source's rejects.
sub rejects
{
	my ($dataset, $source) = @_;
	my $out = q1("SELECT record || E'\\x1f' || line || E'\\x1f' || error_code || E'\\x1f' "
		  . "|| coalesce(path, '') || E'\\x1f' || raw FROM ftstore.rejects "
		  . "WHERE dataset_id = ftstore.dataset_id(" . lit($dataset) . ') AND source = '
		  . lit($source) . ' ORDER BY record');
	return [ map { [ split /\x1f/, $_, 5 ] } grep { length } split /\n/, $out ];
}

# A bad record at a known line: 20 c4 lines, a blank line after the 3rd,
# and a record whose messages are not a list as the 8th record, so on line
# 9 of the file.
{
	my @l = @c4[ 0 .. 19 ];
	splice(@l, 7, 0, '{"messages": "not a list"}');
	splice(@l, 3, 0, '');
	my $f = "$tmp/bad_line.jsonl";
	spew($f, join("\n", @l) . "\n");
	is_deeply(import_file('hostile', $f), [ 20, 1 ],
		'bad record: the 20 good records land, the bad one is rejected');
	my $rj = rejects('hostile', $f);
	is(scalar(@$rj), 1, 'bad record: one reject row');
	is_deeply([ @{ $rj->[0] }[ 0, 1, 3 ] ], [ 8, 9, 'messages' ],
		'bad record: record 8, line 9, field path messages');
	like($rj->[0][2], qr/^22[0-9A-Z]{3}$/, 'bad record: a data exception SQLSTATE');
	is($rj->[0][4], '{"messages": "not a list"}', 'bad record: raw text kept');
	server_up('a bad record');
}

# A truncated array: ten whole elements, one per line after the '[', then
# the first half of the eleventh, which so starts on line 12.
{
	my $eleventh = $pp->encode($alpaca[10]);
	my $f = "$tmp/truncated.json";
	spew($f, "[\n" . join(",\n", map { $pp->encode($_) } @alpaca[ 0 .. 9 ])
		  . ",\n" . substr($eleventh, 0, int(length($eleventh) / 2)));
	is_deeply(import_file('hostile', $f), [ 10, 1 ],
		'truncated array: ten whole elements land, the cut one is rejected');
	my $rj = rejects('hostile', $f);
	is_deeply([ map { @$_[ 0, 1, 2 ] } @$rj ], [ 11, 12, '22P02' ],
		'truncated array: record 11 on line 12 is rejected as invalid text');
	server_up('a truncated array');
}

# A truncated JSONL file: five whole lines and half the sixth, no newline.
{
	my $f = "$tmp/truncated.jsonl";
	spew($f, join("\n", @c4[ 0 .. 4 ]) . "\n" . substr($c4[5], 0, 40));
	is_deeply(import_file('hostile', $f), [ 5, 1 ],
		'truncated JSONL: five records land, the cut sixth is rejected');
	is_deeply([ map { @$_[ 0, 1 ] } @{ rejects('hostile', $f) } ], [ 6, 6 ],
		'truncated JSONL: record 6 on line 6');
	server_up('a truncated JSONL file');
}

# An array that never closes after a whole element, and garbage between
# elements: both are rejects of their own, the whole elements land.
{
	my $f = "$tmp/unclosed.json";
	spew($f, "[\n" . $pp->encode($alpaca[0]) . ",\n" . $pp->encode($alpaca[1]) . "\n");
	is_deeply(import_file('hostile', $f), [ 2, 1 ],
		'unclosed array: both elements land, the missing "]" is a reject');
	is_deeply([ map { @$_[ 0, 1, 4 ] } @{ rejects('hostile', $f) } ], [ 3, 4, '' ],
		'unclosed array: record 3, at the end on line 4, with no text');

	$f = "$tmp/garbage.json";
	spew($f, "[\n" . $pp->encode($alpaca[0]) . "\n  \@\@garbage\@\@ ,\n"
		  . $pp->encode($alpaca[1]) . "\n]\n");
	is_deeply(import_file('hostile', $f), [ 2, 1 ],
		'garbage between elements: both elements land');
	is_deeply([ map { @$_[ 0, 1, 4 ] } @{ rejects('hostile', $f) } ],
		[ 2, 3, '@@garbage@@' ], 'garbage: a record of its own on line 3');
	server_up('an unclosed array and garbage');
}

# Empty and trailing elements: "[," and ",," stand where an element is
# due and a comma before "]" ends nothing; each such comma is a reject of
# its own, on its own line, and every element lands.
{
	my $f = "$tmp/commas.json";
	spew($f, "[,\n" . $pp->encode($alpaca[0]) . ",\n,\n"
		  . $pp->encode($alpaca[1]) . ",\n]\n");
	is_deeply(import_file('hostile', $f), [ 2, 3 ],
		'stray commas: both elements land, three commas are rejected');
	is_deeply([ map { @$_[ 0, 1, 2, 4 ] } @{ rejects('hostile', $f) } ],
		[ 1, 1, '22P02', ',', 3, 3, '22P02', ',', 5, 4, '22P02', ',' ],
		'stray commas: records 1, 3 and 5, on lines 1, 3 and 4');
	server_up('stray commas');
}

# Line ends: "\r\n" and a lone "\r" (old Mac OS) end a JSONL line as
# "\n" does, so the records split and their lines count as an editor shows.
{
	my $f = "$tmp/line_ends.jsonl";
	spew($f, "$c4[0]\r$c4[1]\r\r$c4[2]\r\n{\"text\": \r\n$c4[3]\n");
	is_deeply(import_file('hostile', $f), [ 4, 1 ],
		'line ends: four records land, the one cut by "\r\n" is rejected');
	is_deeply([ map { @$_[ 0, 1 ] } @{ rejects('hostile', $f) } ], [ 4, 5 ],
		'line ends: record 4 is on line 5');
	is(q1("SELECT string_agg(line::text, ',' ORDER BY record) FROM ftstore.samples "
		  . "WHERE dataset_id = ftstore.dataset_id('hostile') AND source = " . lit($f)),
		'1,2,4,6', 'line ends: the records are on lines 1, 2, 4 and 6');
	server_up('line ends');
}

# A FIFO is not a file: refused before it is opened, so nothing hangs.
{
	my $f = "$tmp/fifo.jsonl";
	system('mkfifo', $f) == 0 or die "mkfifo: $!";
	($rc, $stdout, $stderr) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT * FROM ftstore.import_file('hostile', " . lit($f) . ')');
	like($stderr, qr/ERROR:  42809: "\Q$f\E" is not a regular file/,
		'a FIFO is refused as wrong_object_type');
}

# Invalid UTF-8: a lone 0xFF (line 2), a UTF-16 surrogate encoded in
# UTF-8 (line 4) and a NUL byte (line 5) among good lines 1, 3 and 6.
{
	my $f = "$tmp/bad_utf8.jsonl";
	spew($f, join("\n", $c4[0], qq({"text": "bad \xFF byte"}), $c4[1],
			qq({"text": "surrogate \xED\xA0\x80"}), qq({"text": "nul \x00 byte"}),
			$c4[2]) . "\n");
	is_deeply(import_file('hostile', $f), [ 3, 3 ],
		'invalid UTF-8: three good records land, three are rejected');
	my $rj = rejects('hostile', $f);
	is_deeply([ map { @$_[ 0, 1, 2 ] } @$rj ],
		[ 2, 2, '22021', 4, 4, '22021', 5, 5, '22021' ],
		'invalid UTF-8: rejected as invalid byte sequences, records 2, 4, 5');
	is_deeply([ map { $_->[4] } @$rj ],
		[ '{"text": "bad \\xFF byte"}', '{"text": "surrogate \\xED\\xA0\\x80"}',
		  '{"text": "nul \\x00 byte"}' ],
		'invalid UTF-8: the bad bytes are kept as \xNN');
	server_up('invalid UTF-8');
}

# Oversized: at a 16 kB limit, the toy file's record with the 26,000-
# character turn is refused unread and keeps its first kilobyte; the other
# records, all smaller, land.  Which records are over is computed here.
{
	my $toy = "$data_dir/openai-cookbook/toy_chat_fine_tuning.jsonl";
	my @toy = grep { /\S/ } split /\n/, slurp($toy);
	my @over = grep { length($toy[$_]) > 16384 } 0 .. $#toy;
	is(scalar(@over), 1, 'one toy record is over 16 kB');
	my $out = q1("SET ftstore.max_sample_bytes = '16kB'; "
		  . "SELECT imported || ',' || rejected FROM ftstore.import_file('oversized', "
		  . lit($toy) . ')');
	is($out, (scalar(@toy) - 1) . ',1', 'oversized: the others land, it is rejected');
	my $rj = rejects('oversized', $toy);
	is_deeply([ @{ $rj->[0] }[ 0, 1, 2 ] ],
		[ $over[0] + 1, $facts{'openai-cookbook/toy_chat_fine_tuning.jsonl'}{lines}[ $over[0] ], '54000' ],
		'oversized: its record, its line, program_limit_exceeded');
	is($rj->[0][4], substr($toy[ $over[0] ], 0, 1024), 'oversized: its first kilobyte is kept');
	server_up('an oversized record');
}

# Deep nesting, in a record and as the file's whole array: refused, not a
# crash.
{
	my $f = "$tmp/deep.jsonl";
	spew($f, '{"messages": ' . ('[' x 100000) . (']' x 100000) . "}\n$c4[0]\n");
	is_deeply(import_file('hostile', $f), [ 1, 1 ], 'deep nesting: rejected, the next line lands');
	server_up('deep nesting');

	$f = "$tmp/deep.json";
	spew($f, '[' . ('[' x 100000) . (']' x 100000) . ",\n" . $pp->encode($alpaca[0]) . ']');
	is_deeply(import_file('hostile', $f), [ 1, 1 ], 'deep array element: rejected, the next lands');
	server_up('a deep array element');
}

# Corrupt compressed input is an error for the whole file: nothing lands.
{
	my $full = slurp("$tmp/llamafactory_alpaca_en_demo.json.gz");
	my $f = "$tmp/cut.json.gz";
	spew($f, substr($full, 0, int(length($full) / 2)));
	($rc, $stdout, $stderr) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT * FROM ftstore.import_file('hostile', " . lit($f) . ')');
	like($stderr, qr/ERROR:  22P03: gzip data in .* ends unexpectedly/,
		'a truncated gzip file is an error');
	is(count_rows('samples', 'hostile', $f), '0', 'and none of it lands');

	$full = slurp("$tmp/llamafactory_alpaca_en_demo.json.zst");
	$f = "$tmp/flipped.json.zst";
	substr($full, int(length($full) / 2), 8) = "\xA5" x 8;
	spew($f, $full);
	($rc, $stdout, $stderr) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT * FROM ftstore.import_file('hostile', " . lit($f) . ')');
	like($stderr, qr/ERROR:  22P03: could not decompress zstd data/,
		'a corrupted zstd file is an error');
	server_up('corrupt compressed files');
}

# read_records shows how a file splits, for the superuser only.
is(q1("SELECT string_agg(record || ':' || line, ',') FROM ftstore.read_records("
		  . lit("$tmp/bad_line.jsonl") . ')'),
	join(',', map { ($_ + 1) . ':' . ($_ < 3 ? $_ + 1 : $_ + 2) } 0 .. 20),
	'read_records gives each record and its line');
($rc, $stdout, $stderr) = $node->psql('postgres',
	"SELECT count(*) FROM ftstore.read_records(" . lit($jsonl) . ')',
	extra_params => [ '-U', 'loader' ]);
like($stderr, qr/permission denied for function read_records/,
	'read_records is not granted to PUBLIC');

# No file a reader opened outlives a failed import: fifty failures in one
# session leave the backend with as many descriptors as one did (the first
# also opens the tables' files, which the server keeps open on purpose).
{
	my $cut = lit("$tmp/cut.json.gz");
	my $flipped = lit("$tmp/flipped.json.zst");
	my $fail = sub {
		my ($n) = @_;
		return "DO \$\$ BEGIN FOR i IN 1..$n LOOP\n"
		  . "  BEGIN PERFORM * FROM ftstore.import_file('leak', $cut);\n"
		  . "  EXCEPTION WHEN invalid_binary_representation THEN NULL; END;\n"
		  . "  BEGIN PERFORM * FROM ftstore.import_file('leak', $flipped);\n"
		  . "  EXCEPTION WHEN invalid_binary_representation THEN NULL; END;\n"
		  . "END LOOP; END \$\$;\n";
	};
	my $out = q1($fail->(1)
		  . "SELECT count(*) FROM pg_ls_dir('/proc/self/fd');\n"
		  . $fail->(25)
		  . "SELECT count(*) FROM pg_ls_dir('/proc/self/fd');");
	my @n = split /\n/, $out;
	is(scalar(@n), 2, 'descriptors counted after one failure and after 51');
	is($n[1], $n[0], 'failed imports leave no file open');
}

$node->stop;
done_testing();
