#
# 020_validate_shared.pl: ftstore.validate on OpenAI's own faulty example
# file, openai-cookbook/toy_chat_fine_tuning.jsonl from the shared data.
#
# The file is read here with JSON::PP and every expectation is computed
# here, independently of ftstore: which records lack a user, assistant or
# system message (OpenAI's checker warns or errs on each), which record has
# the 26,000-character assistant turn, and the token estimate of each record
# by the rule docs/validation.md gives, implemented again below for ASCII
# text.  Each line is then validated at the two limits OpenAI has used,
# 4,096 and 16,385 tokens, and the rows must match.
#
use strict;
use warnings;

use B;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/../..');
my $file = "$root/../shared/data/openai-cookbook/toy_chat_fine_tuning.jsonl";

# A missing data file is a failure, never a skip.
BAIL_OUT("shared data file not found: $file") unless -r $file;

open(my $fh, '<:raw', $file) or die "cannot open $file: $!";
my @lines = grep { /\S/ } <$fh>;
close($fh);
chomp(@lines);

my $json = JSON::PP->new->utf8;
my @records = map { $json->decode($_) } @lines;

# The data README: five records, one without a user turn, one with a
# 26,000-character assistant turn.
is(scalar(@records), 5, 'the file holds five records');

# The token rule of docs/validation.md, for ASCII: a word is one token per
# four letters, a digit run one per three digits, white space is free, any
# other character is one token.
sub estimate
{
	my ($s) = @_;
	my $n = 0;

	die "non-ASCII text: this estimate covers ASCII only\n"
	  if $s =~ /[^\x00-\x7f]/;
	while ($s =~ /([A-Za-z]+)|([0-9]+)|([ \t\n\r\f\x0b]+)|(.)/gs)
	{
		if (defined $1) { $n += int((length($1) + 3) / 4); }
		elsif (defined $2) { $n += int((length($2) + 2) / 3); }
		elsif (defined $4) { $n += 1; }
	}
	return $n;
}

# Every string value of a JSON value, keys excluded.
sub strings
{
	my ($v) = @_;

	return () unless defined $v;
	return map { strings($_) } @$v if ref($v) eq 'ARRAY';
	return map { strings($v->{$_}) } sort keys %$v if ref($v) eq 'HASH';
	return () if JSON::PP::is_bool($v) || ref($v);

	# JSON numbers are not strings: JSON::PP leaves them without a string
	# value of their own
	my $flags = B::svref_2object(\$v)->FLAGS;
	return () if ($flags & (B::SVp_IOK | B::SVp_NOK)) && !($flags & B::SVp_POK);
	return ("$v");
}

my (@no_user, @no_assistant, @no_system, @tokens, @longest);
for my $r (@records)
{
	my @roles = map { $_->{role} // '' } @{ $r->{messages} };
	my %has = map { $_ => 1 } @roles;
	my $max = 0;

	push @no_user, $has{user} ? 0 : 1;
	push @no_assistant, $has{assistant} ? 0 : 1;
	push @no_system, ($has{system} || $has{developer}) ? 0 : 1;

	# 3 per message and 3 per record, as the rule says
	my $t = 3 + 3 * scalar(@roles);
	$t += estimate($_) for strings($r);
	push @tokens, $t;

	for my $m (@{ $r->{messages} })
	{
		my $len = length($m->{content} // '');
		$max = $len if $len > $max;
	}
	push @longest, $max;
}

my @userless = grep { $no_user[$_] } 0 .. $#records;
my @long = grep { $longest[$_] == 26000 } 0 .. $#records;
is(scalar(@userless), 1, 'exactly one record has no user message');
is(scalar(@long), 1, 'exactly one record has a 26,000-character message');
cmp_ok($tokens[ $long[0] ], '>', 4096,
	'the long record is over 4,096 tokens by the rule');
cmp_ok($tokens[ $long[0] ], '<=', 16385,
	'the long record is within 16,385 tokens by the rule');

my $node = PostgreSQL::Test::Cluster->new('validate');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION ftstore');

# The rows of validate for one line, as [severity, code, path, message].
sub validate_rows
{
	my ($line, $limit) = @_;

	die "line holds the quoting tag\n" if index($line, '$rec$') >= 0;
	my $out = $node->safe_psql('postgres',
		    "SELECT severity || E'\\t' || code || E'\\t' || path || E'\\t' || message "
		  . "FROM ftstore.validate(\$rec\$$line\$rec\$::jsonb, $limit) "
		  . "ORDER BY code COLLATE \"C\", path COLLATE \"C\"");
	return map { [ split(/\t/, $_, 4) ] } grep { length } split(/\n/, $out);
}

sub count_code
{
	my ($code, @rows) = @_;
	return scalar(grep { $_->[1] eq $code } @rows);
}

for my $i (0 .. $#records)
{
	my @rows = validate_rows($lines[$i], 16385);
	my @tight = validate_rows($lines[$i], 4096);

	is(count_code('no_user', @rows), $no_user[$i], "line $i: no_user count");
	is(count_code('no_assistant', @rows), $no_assistant[$i],
		"line $i: no_assistant count");
	is(count_code('no_system', @rows), $no_system[$i],
		"line $i: no_system count");

	for my $r (@rows)
	{
		my %severity = (no_user => 'warning', no_system => 'warning',
			no_assistant => 'error');
		next unless $severity{ $r->[1] };
		is($r->[0], $severity{ $r->[1] }, "line $i: $r->[1] is a $r->[0]");
		is($r->[2], '', "line $i: $r->[1] is about the whole record");
	}

	for my $case ([ 16385, \@rows ], [ 4096, \@tight ])
	{
		my ($limit, $got) = @$case;
		my @too_long = grep { $_->[1] eq 'too_long' } @$got;

		if ($tokens[$i] > $limit)
		{
			is(scalar(@too_long), 1, "line $i: too_long at $limit");
			is($too_long[0][3] // '',
				"about $tokens[$i] tokens, over the limit of $limit",
				"line $i: the estimate at $limit");
		}
		else
		{
			is(scalar(@too_long), 0, "line $i: no too_long at $limit");
		}
	}
}

# The two records the file was written to show.
my @userless_rows = validate_rows($lines[ $userless[0] ], 16385);
my @nu = grep { $_->[1] eq 'no_user' } @userless_rows;
is(scalar(@nu), 1, 'the record lacking a user message gets one no_user');
is_deeply([ @{ $nu[0] }[ 0, 2 ] ], [ 'warning', '' ],
	'that no_user is a warning about the whole record');

is(count_code('too_long', validate_rows($lines[ $long[0] ], 4096)), 1,
	'the 26,000-character record is too long for 4,096 tokens');
is(count_code('too_long', validate_rows($lines[ $long[0] ], 16385)), 0,
	'the 26,000-character record fits 16,385 tokens');

$node->stop;
done_testing();
