#
# 001_main_job.pl: the main job ("make run") end to end, on every file of
# the shared data and on the project's own examples.
#
# It runs the job's own code (scripts/run.sh --job-only: import, exact
# dedup, report) against a fresh node and checks the printed report against
# figures computed here, independently, with JSON::PP: records per file
# (array length, or non-blank lines), whole-record duplicates (records
# equal once their keys are sorted), records with no user turn.  Those
# independent figures are themselves checked against the shared data's
# README, so a slip in this file cannot hide a slip in ftstore.
#
use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(basename dirname);
use File::Find;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/../..');
# Resolved, since test.sh may link the data in beside a copy of the tree.
my $data_dir = abs_path("$root/../shared/data") // "$root/../shared/data";
my $run_sh = "$root/scripts/run.sh";

# A missing corpus is a failure, never a skip.
BAIL_OUT("shared data not found at $data_dir")
  unless -f "$data_dir/README.md";

# Formats the type knows: every record of these files is a valid sample.
# The self-instruct files use shapes of their own, so their rejects are
# only required to be explained.
my %own_shape = map { $_ => 1 } qw(
  self-instruct/text-davinci-003_predictions.jsonl
  stanford_alpaca/seed_tasks.jsonl
);

# The report's summary, by its labels.
my %summary_key = (
	'records read' => 'read',
	'imported' => 'imported',
	'rejected' => 'rejected',
	'skipped (imported before)' => 'skipped',
	'samples stored' => 'samples',
	'exact duplicates (marked, not deleted)' => 'duplicates',
	'duplicate groups' => 'groups',
	'samples with validation errors' => 'with_errors',
	'samples with validation warnings' => 'with_warnings');

my @sections = ('Summary', 'Rejected records', 'Validation problems');

# The shared data's README table: file => { records, duplicates }.
sub readme_table
{
	my %table;
	open my $fh, '<', "$data_dir/README.md" or die "README.md: $!";
	while (my $line = <$fh>)
	{
		next unless $line =~ /^\| (\S+\.jsonl?)\b[^|]*\| (\d+) \|[^|]*\| (\d+)/;
		$table{$1} = { records => $2, duplicates => $3 };
	}
	close $fh;
	return \%table;
}

# Independent figures for one file: records, the line each record starts
# on, records that are not JSON objects, whole-record duplicates, and the
# lines of records whose messages have no user turn.
sub file_facts
{
	my ($path) = @_;
	my $json = JSON::PP->new->utf8;
	my $canonical = JSON::PP->new->utf8->canonical;
	my (@records, @record_lines, @bad_lines);

	open my $fh, '<:raw', $path or die "$path: $!";
	my $text = do { local $/; <$fh> };
	close $fh;

	if ($path =~ /\.jsonl$/)
	{
		my $lineno = 0;
		for my $line (split /\n/, $text)
		{
			$lineno++;
			next unless $line =~ /\S/;
			my $record = eval { $json->decode($line) };
			if (ref $record eq 'HASH')
			{
				push @records, $record;
				push @record_lines, $lineno;
			}
			else
			{
				push @bad_lines, $lineno;
			}
		}
	}
	else
	{
		my $array = $json->decode($text);
		die "$path: not a JSON array" unless ref $array eq 'ARRAY';
		# Where each element starts, for files that put one per line.
		my @starts;
		my $lineno = 0;
		for my $line (split /\n/, $text)
		{
			$lineno++;
			push @starts, $lineno if $line =~ /^\s*\{/;
		}
		@records = @$array;
		@record_lines = @starts == @records ? @starts : ();
	}

	my %seen;
	my $duplicates = 0;
	$duplicates++ for grep { $seen{ $canonical->encode($_) }++ } @records;

	my @no_user;
	for my $i (0 .. $#records)
	{
		my $messages = $records[$i]{messages};
		next unless ref $messages eq 'ARRAY';
		next if grep { ref $_ eq 'HASH' && ($_->{role} // '') eq 'user' } @$messages;
		# undef when the file's layout does not show where records start.
		push @no_user, $record_lines[$i];
	}

	return {
		records => @records + @bad_lines,
		bad_lines => \@bad_lines,
		duplicates => $duplicates,
		no_user_lines => \@no_user,
	};
}

# The printed report, parsed: dataset => { file, sections, summary,
# rejects => [ { count, code, message, where } ], problems => [ ... ] }.
sub parse_report
{
	my ($out) = @_;
	my (%datasets, $current, $section, $last);

	for my $line (split /\n/, $out)
	{
		if ($line =~ /^Dataset "(.+)"  \(from (.+)\)$/)
		{
			$current = $datasets{$1} = {
				file => $2,
				sections => {},
				summary => {},
				rejects => [],
				problems => [],
				failed => 0 };
			undef $section;
			next;
		}
		next unless $current;
		if ($line =~ /^  (Summary|Rejected records|Validation problems|Could not import)/)
		{
			$section = $1;
			$current->{sections}{$section} = 1;
			$current->{failed} = 1 if $section eq 'Could not import';
			undef $last;
			next;
		}
		next unless defined $section;
		if ($section eq 'Summary' && $line =~ /^    (\S.*?)\s+(\d+)$/)
		{
			my $key = $summary_key{$1} // $1;
			$current->{summary}{$key} = $2;
		}
		elsif ($line =~ /^ {14}((?:at .*; )?(?:line|lines) .*)$/ && $last)
		{
			$last->{where} = $1;
		}
		elsif ($section eq 'Rejected records'
			&& $line =~ /^ +(\d+)  ([0-9A-Z]{5})  (.*)$/)
		{
			$last = { count => $1, code => $2, message => $3, where => '' };
			push @{ $current->{rejects} }, $last;
		}
		elsif ($section eq 'Validation problems'
			&& $line =~ /^ +(\d+)  (error|warning) +(\S+): (.*)$/)
		{
			$last = {
				count => $1,
				severity => $2,
				code => $3,
				message => $4,
				where => '' };
			push @{ $current->{problems} }, $last;
		}
	}
	return \%datasets;
}

# Runs the job's own code over the files against one database of the node.
sub run_job
{
	my ($node, $dbname, @files) = @_;
	my ($stdout, $stderr) = ('', '');

	local $ENV{PGHOST} = $node->host;
	local $ENV{PGPORT} = $node->port;
	local $ENV{PGDATABASE} = $dbname;
	my $ok = IPC::Run::run([ 'bash', $run_sh, '--job-only', @files ],
		'>', \$stdout, '2>', \$stderr,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default * 5));
	note("run.sh --job-only on $dbname:\n$stdout");
	diag("run.sh stderr:\n$stderr") if $stderr ne '';
	ok($ok, "run.sh --job-only exits 0 on $dbname");
	return ($stdout, parse_report($stdout));
}

# "line 7" or "at x; lines 3, 8, ..." lists line 7?
sub where_has_line
{
	my ($where, $line) = @_;
	return $where =~ /\blines? (.*)$/ && grep { $_ eq $line } split /, /, $1;
}

# Checks one dataset of a report against the independent figures.
sub check_dataset
{
	my ($report, $name, $facts, %opt) = @_;
	my $ds = $report->{$name};

	ok($ds, "$name: the report has the dataset") or return;
	ok(!$ds->{failed}, "$name: the file was imported");
	ok($ds->{sections}{$_}, "$name: the report prints section \"$_\"")
	  for @sections;

	my $s = $ds->{summary};
	is($s->{read}, $facts->{records}, "$name: records read");
	is($s->{imported} + $s->{rejected},
		$s->{read}, "$name: imported plus rejected is records read");
	is($s->{samples}, $s->{imported}, "$name: every imported record is stored");

	my $reject_total = 0;
	$reject_total += $_->{count} for @{ $ds->{rejects} };
	is($reject_total, $s->{rejected},
		"$name: the rejects by reason add up to the rejected records");
	for my $r (@{ $ds->{rejects} })
	{
		like($r->{message}, qr/\S/,
			"$name: reject $r->{code} at \"$r->{where}\" says why");
	}
	# Records that are not even JSON objects must be among the rejects.
	for my $line (@{ $facts->{bad_lines} })
	{
		ok((grep { where_has_line($_->{where}, $line) } @{ $ds->{rejects} }),
			"$name: the malformed record on line $line is rejected");
	}

	if (defined $opt{duplicates_exactly})
	{
		is($s->{duplicates}, $opt{duplicates_exactly},
			"$name: exact duplicates equal the whole-record count");
	}
	elsif ($s->{rejected} == 0)
	{
		# Identical records always share a fingerprint; normalisation can
		# only join more.
		cmp_ok($s->{duplicates}, '>=', $facts->{duplicates},
			"$name: exact duplicates include every whole-record duplicate");
	}
	if ($s->{duplicates} > 0)
	{
		ok($s->{groups} >= 1 && $s->{groups} <= $s->{duplicates},
			"$name: duplicate groups between 1 and the duplicates");
	}
	else
	{
		is($s->{groups}, 0, "$name: no duplicate groups");
	}

	for my $line (grep { defined } @{ $facts->{no_user_lines} })
	{
		ok( (   grep { $_->{severity} eq 'warning' && where_has_line($_->{where}, $line) }
				  @{ $ds->{problems} }),
			"$name: the record without a user turn (line $line) gets a warning");
	}
	cmp_ok($s->{with_warnings}, '>=', scalar @{ $facts->{no_user_lines} },
		"$name: samples with warnings include those without a user turn");
	return $ds;
}

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE shared_data');
$node->safe_psql('postgres', 'CREATE DATABASE examples');

# ---------------------------------------------------------------------------
# Every file of the shared data.
# ---------------------------------------------------------------------------

my $readme = readme_table();
my @shared;
find(
	{
		wanted => sub {
			return unless -f $_ && /\.jsonl?$/;
			my $rel = substr($File::Find::name, length($data_dir) + 1);
			push @shared, $rel unless $rel eq 'llamafactory/dataset_info.json';
		},
		no_chdir => 1
	},
	$data_dir);
@shared = sort @shared;

is_deeply(\@shared, [ sort keys %$readme ],
	'the shared data holds exactly the files its README lists');

my ($out, $report) =
  run_job($node, 'shared_data', map { "$data_dir/$_" } @shared);
like($out, qr/^Done: ${\ scalar @shared} file\(s\)/m,
	'the job reports on every shared file');

for my $rel (@shared)
{
	my $name = basename($rel);
	my $facts = file_facts("$data_dir/$rel");

	# The independent figures agree with the README's own.
	is($facts->{records}, $readme->{$rel}{records},
		"$name: JSON::PP counts the records the README states");
	is($facts->{duplicates}, $readme->{$rel}{duplicates},
		"$name: JSON::PP finds the whole-record duplicates the README states");

	my %opt;
	$opt{duplicates_exactly} = $facts->{duplicates}
	  if $name eq 'alpaca_en_demo.json'
	  || $name eq 'glaive_toolcall_en_demo.json';
	my $ds = check_dataset($report, $name, $facts, %opt) or next;

	is($ds->{summary}{rejected}, 0, "$name: no record is rejected")
	  unless $own_shape{$rel};
}

# The two figures the README singles out, stated outright.
is($report->{'alpaca_en_demo.json'}{summary}{duplicates},
	14, 'alpaca_en_demo.json: 14 exact duplicates');
is($report->{'glaive_toolcall_en_demo.json'}{summary}{duplicates},
	35, 'glaive_toolcall_en_demo.json: 35 exact duplicates');

# ---------------------------------------------------------------------------
# The project's examples, whose faults examples/README.md describes.
# ---------------------------------------------------------------------------

my %examples = (
	'chat.jsonl' => {
		read => 12,
		imported => 11,
		rejected => 1,
		duplicates => 1,
		reject_line => 7,
		no_user_line => 8
	},
	'alpaca.json' => {
		read => 10,
		imported => 10,
		rejected => 0,
		duplicates => 1,
		placeholder_line => 3
	},
	'sharegpt.json' => {
		read => 6,
		imported => 6,
		rejected => 0,
		duplicates => 0
	});
my @example_files = map { "$root/examples/$_" } sort keys %examples;

($out, $report) = run_job($node, 'examples', @example_files);

for my $name (sort keys %examples)
{
	my $want = $examples{$name};
	my $facts = file_facts("$root/examples/$name");

	# What examples/README.md says, checked against JSON::PP first.
	is($facts->{records}, $want->{read}, "$name: JSON::PP agrees on records");
	is(scalar @{ $facts->{bad_lines} },
		$want->{rejected}, "$name: JSON::PP agrees on malformed records");
	is($facts->{duplicates}, $want->{duplicates},
		"$name: JSON::PP agrees on duplicates");

	my $ds = check_dataset($report, $name, $facts,
		duplicates_exactly => $want->{duplicates})
	  or next;
	my $s = $ds->{summary};
	is($s->{$_}, $want->{$_}, "$name: $_ is $want->{$_}")
	  for qw(read imported rejected duplicates);

	if ($want->{reject_line})
	{
		ok( (grep { where_has_line($_->{where}, $want->{reject_line}) }
				  @{ $ds->{rejects} }),
			"$name: the reject is the record on line $want->{reject_line}");
	}
	if ($want->{no_user_line})
	{
		is_deeply($facts->{no_user_lines}, [ $want->{no_user_line} ],
			"$name: JSON::PP finds the record without a user turn");
	}
	if ($want->{placeholder_line})
	{
		ok( (   grep { where_has_line($_->{where}, $want->{placeholder_line}) }
				  @{ $ds->{problems} }),
			"$name: the <noinput> placeholder (line $want->{placeholder_line}) is reported"
		);
	}
}

# Importing the same files again adds nothing and changes no figure.
my $first = $report;
($out, $report) = run_job($node, 'examples', @example_files);
for my $name (sort keys %examples)
{
	my ($before, $after) =
	  ($first->{$name}{summary}, $report->{$name}{summary});
	is($after->{imported}, 0, "$name: a second import imports nothing");
	is($after->{read}, $before->{read},
		"$name: a second import reads the same records");
	is($after->{$_}, $before->{$_}, "$name: $_ unchanged by a second import")
	  for qw(samples duplicates groups);
}

$node->stop;
done_testing();
