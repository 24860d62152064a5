#
# 030_hostile.pl: hostile input that needs a client or a server of its own.
#
# A 200 MB string sample, built on the server with repeat() and sent by the
# client as a literal; JSON nested 100,000 deep; binary input (through COPY
# BINARY, which calls the type's receive function) with invalid UTF-8, a
# NUL byte, a wrong version byte and a truncated value.  Each must be
# refused with the right SQLSTATE while the server stays up, and at the end
# the postmaster's log must show no backend that died of a signal.
#
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('hostile');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION ftstore');

# Run SQL, expecting an error; returns the SQLSTATE (from verbose errors).
sub sqlstate_of
{
	my ($sql) = @_;
	my ($stdout, $stderr);
	$node->psql(
		'postgres',
		"\\set VERBOSITY verbose\n$sql",
		stdout => \$stdout,
		stderr => \$stderr,
		on_error_stop => 1);
	return $stderr =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : "no error: $stderr";
}

sub alive
{
	my ($what) = @_;
	is($node->safe_psql('postgres', 'SELECT 1'), '1', "server answers after $what");
}

my $mb200 = 200 * 1024 * 1024;

# 200 MB built server-side, then cast: over ftstore.max_sample_bytes
is( sqlstate_of(
		"SELECT ('{\"text\": \"' || repeat('x', $mb200) || '\"}')::ftstore.ftsample"),
	'54000',
	'200 MB sample built with repeat() is refused with 54000');
alive('the 200 MB server-side sample');

# the same through the named-format entry point, which takes text
is( sqlstate_of(
		"SELECT ftstore.ftsample('{\"text\": \"' || repeat('x', $mb200) || '\"}', 'auto')"),
	'54000',
	'200 MB sample through ftstore.ftsample(text, format) is refused with 54000');
alive('the 200 MB named-format sample');

# 200 MB sent by the client, as a literal in the query text
{
	my $big = '{"text": "' . ('y' x $mb200) . '"}';
	is(sqlstate_of("SELECT '$big'::ftstore.ftsample"),
		'54000', '200 MB sample sent by the client is refused with 54000');
	undef $big;
}
alive('the 200 MB client-side sample');

# even a superuser who raises the limit to its maximum cannot go past it
is( sqlstate_of(
		"SET ftstore.max_sample_bytes = '256MB';\n"
		  . "SELECT ('{\"text\": \"' || repeat('x', 257 * 1024 * 1024) || '\"}')::ftstore.ftsample"),
	'54000',
	'257 MB sample is refused at the largest ftstore.max_sample_bytes');
alive('the 257 MB sample');

# nesting 100,000 deep, as text and as a value inside an object
is( sqlstate_of(
		"SELECT (repeat('[', 100000) || repeat(']', 100000))::ftstore.ftsample"),
	'54000',
	'100,000-deep array is refused with 54000');
is( sqlstate_of(
		"SELECT ('{\"messages\": [], \"x\": ' || repeat('{\"a\": ', 100000) || '1' || repeat('}', 100000) || '}')::ftstore.ftsample"
	),
	'54000',
	'100,000-deep object inside a sample is refused with 54000');
# through jsonb, whose own parser bounds it by the stack
like(
	sqlstate_of(
		"SELECT (repeat('[', 100000) || repeat(']', 100000))::jsonb::ftstore.ftsample"),
	qr/^54\d{3}$/,
	'100,000-deep jsonb is refused with a program-limit error');
alive('deep nesting');

# Binary input through COPY BINARY: a file in PostgreSQL's binary COPY
# format, one column of one row per value.
my $dir = PostgreSQL::Test::Utils::tempdir;
$node->safe_psql('postgres', 'CREATE TABLE wire (s ftstore.ftsample)');

sub copy_binary_sqlstate
{
	my ($value, $name) = @_;
	my $file = "$dir/$name.bin";
	open(my $fh, '>:raw', $file) or die "$file: $!";
	print $fh "PGCOPY\n\377\r\n\0", pack('N', 0), pack('N', 0);
	print $fh pack('n', 1), pack('N', length($value)), $value;
	print $fh pack('n', 0xFFFF);
	close($fh);
	return sqlstate_of("COPY wire FROM '$file' (FORMAT binary)");
}

# a good value first, so that a refusal below is the value's fault
is(copy_binary_sqlstate("\x01" . '{"text": "fine"}', 'good'),
	"no error: ", 'a valid binary value is accepted');
is($node->safe_psql('postgres', 'SELECT s FROM wire'),
	'{"text": "fine"}', 'and reads back');

is(copy_binary_sqlstate("\x01" . "{\"text\": \"\xff\xfe\xc3\"}", 'bad_utf8'),
	'22021', 'binary value with invalid UTF-8 is refused with 22021');
is(copy_binary_sqlstate("\x01" . "{\"text\": \"\xed\xa0\x80\"}", 'surrogate'),
	'22021', 'binary value with a UTF-8-encoded surrogate is refused with 22021');
is(copy_binary_sqlstate("\x01" . "{\"text\": \"a\0b\"}", 'nul'),
	'22021', 'binary value with a NUL byte is refused with 22021');
is(copy_binary_sqlstate("\x02" . '{"text": "fine"}', 'version2'),
	'22P03', 'binary value with version byte 2 is refused with 22P03');
is(copy_binary_sqlstate("\x00" . '{"text": "fine"}', 'version0'),
	'22P03', 'binary value with version byte 0 is refused with 22P03');
is(copy_binary_sqlstate('', 'empty'),
	'08P01', 'empty binary value is refused with 08P01');
is(copy_binary_sqlstate("\x01" . '{"text": "fi', 'truncated'),
	'22P02', 'truncated JSON in a binary value is refused with 22P02');
is(copy_binary_sqlstate("\x01" . '{"messages": [{"role": "robot"}]}', 'robot'),
	'22023', 'binary value with an unknown role is refused with 22023');
is( copy_binary_sqlstate(
		"\x01" . '{"text": "' . ('z' x (65 * 1024 * 1024)) . '"}', 'big'),
	'54000',
	'65 MB binary value is refused with 54000');
is($node->safe_psql('postgres', 'SELECT count(*) FROM wire'),
	'1', 'no refused value was stored');
alive('bad binary input');

# Finally: the server is the same one, and no backend died.
$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal/, 'no backend was terminated by a signal');
unlike($log, qr/server process .* was terminated/, 'no server process crashed');
like($log, qr/sample is too large/, 'the log shows the refusals');

done_testing();
