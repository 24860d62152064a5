#
# 066_hostile_media.pl: media paths that are not plain files on import,
# and an export folder where someone planted links under the names
# export_file writes.
#
# A record naming a FIFO must be a reject, not a backend stuck in open()
# that neither a cancel nor a terminate reaches; a media folder that is a
# symbolic link must not make the server write files wherever it points.
# Expected hashes come from Digest::SHA over the bytes written here.
#
use strict;
use warnings;

use Digest::SHA qw(sha256_hex);
use Fcntl qw(O_WRONLY O_NONBLOCK);
use File::Path qw(make_path);
use JSON::PP;
use POSIX qw(mkfifo);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $node = PostgreSQL::Test::Cluster->new('media');
$node->init;
$node->append_conf('postgresql.conf', qq{
ftstore.tier_url = 'file://$tmp/tier'
ftstore.blob_cache_dir = '$tmp/cache'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION ftstore');

sub spew
{
	my ($path, $bytes) = @_;
	open my $fh, '>:raw', $path or die "$path: $!";
	print $fh $bytes;
	close $fh;
}

sub record
{
	my ($tag, $path) = @_;
	return encode_json({
		messages => [
			{ role => 'user', content => "<image>$tag" },
			{ role => 'assistant', content => 'ok' } ],
		images => [$path] }) . "\n";
}

# ---------------------------------------------------------------------------
# Import: a FIFO, a link to one, a device and a directory beside a real
# image.  Each but the image is a reject naming its path.
# ---------------------------------------------------------------------------

my $in = "$tmp/in";
make_path("$in/dir.png");
my $png = "\x89PNG\r\n\x1a\n" . ('red' x 100);
spew("$in/ok.png", $png);
mkfifo("$in/fifo.png", 0600) or die "mkfifo: $!";
symlink("$in/fifo.png", "$in/link-to-fifo.png") or die "symlink: $!";
symlink('/dev/zero', "$in/zero.png") or die "symlink: $!";
my @bad = ('fifo.png', 'link-to-fifo.png', 'zero.png', 'dir.png');
spew("$in/data.jsonl",
	join('', record('ok', 'ok.png'), map { record($_, $_) } @bad));

my ($timed_out, $out, $err) = (0, '', '');
$node->psql('postgres', qq{
	SELECT imported, rejected FROM ftstore.import_file('hostile', '$in/data.jsonl');
	SELECT string_agg(message, E'\\n' ORDER BY record) FROM ftstore.rejects
	WHERE dataset_id = ftstore.dataset_id('hostile');},
	stdout => \$out, stderr => \$err,
	timeout => $PostgreSQL::Test::Utils::timeout_default,
	timed_out => \$timed_out);
if ($timed_out)
{
	# Let the stuck backend go: opening the FIFO for writing wakes it.
	if (sysopen(my $w, "$in/fifo.png", O_WRONLY | O_NONBLOCK))
	{
		close $w;
	}
}
ok(!$timed_out, 'an import naming a FIFO as media ends');
my ($counts, @messages) = split /\n/, $out;
is($counts, '1|' . scalar(@bad), 'the image imports, the four others are rejects');
for my $i (0 .. $#bad)
{
	like($messages[$i] // '',
		qr/^media file "\Q$in\/$bad[$i]\E" named at images\[0\] is not a regular file$/,
		"$bad[$i] is a reject naming it");
}
is( $node->safe_psql('postgres', q{
		SELECT b.sha256 FROM ftstore.samples s, ftstore.blobs(s.sample) b
		WHERE s.dataset_id = ftstore.dataset_id('hostile')}),
	sha256_hex($png), 'the real image is stored as its blob');

# ---------------------------------------------------------------------------
# Export: a folder where media is a link to somewhere else.
# ---------------------------------------------------------------------------

my $hex = sha256_hex($png);
my $out_dir = "$tmp/out";
my $elsewhere = "$tmp/elsewhere";
make_path($out_dir, $elsewhere);
symlink($elsewhere, "$out_dir/media") or die "symlink: $!";
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SELECT ftstore.export_file('hostile', '$out_dir/x.jsonl')");
isnt($ret, 0, 'export_file refuses a media folder that is a symbolic link');
like($stderr, qr/"\Q$out_dir\E\/media" is not a directory/,
	'and names it');
opendir(my $dh, $elsewhere) or die $!;
is_deeply([ grep { !/^\.\.?$/ } readdir $dh ], [],
	'nothing is written where the link points');
closedir $dh;
ok(!-e "$out_dir/x.jsonl", 'nor the exported file');

# A real media folder, with a link planted at the blob's name pointing
# outside and a FIFO at the name of a second export: both are replaced
# by the blob's bytes, the targets left as they were.
unlink("$out_dir/media") or die $!;
make_path("$out_dir/media");
spew("$elsewhere/victim", 'untouched');
symlink("$elsewhere/victim", "$out_dir/media/$hex.png") or die $!;
is($node->safe_psql('postgres',
		"SELECT ftstore.export_file('hostile', '$out_dir/x.jsonl')"),
	'1', 'export_file writes the sample');
ok(!-l "$out_dir/media/$hex.png", 'the planted link is replaced');
open my $fh, '<:raw', "$out_dir/media/$hex.png" or die $!;
my $got = do { local $/; <$fh> };
close $fh;
is(sha256_hex($got), $hex, 'by a file holding the blob');
open $fh, '<', "$elsewhere/victim" or die $!;
is(scalar(<$fh>), 'untouched', 'and the link target is untouched');
close $fh;
is_deeply(decode_json(do { open my $x, '<', "$out_dir/x.jsonl" or die $!; local $/; <$x> })->{images},
	["media/$hex.png"], 'the sample names the file by relative path');

unlink("$out_dir/media/$hex.png") or die $!;
mkfifo("$out_dir/media/$hex.png", 0600) or die "mkfifo: $!";
($timed_out, $out) = (0, '');
$node->psql('postgres', "SELECT ftstore.export_file('hostile', '$out_dir/y.jsonl')",
	stdout => \$out,
	timeout => $PostgreSQL::Test::Utils::timeout_default,
	timed_out => \$timed_out);
if ($timed_out && sysopen(my $w, "$out_dir/media/$hex.png", O_WRONLY | O_NONBLOCK))
{
	close $w;
}
ok(!$timed_out, 'an export over a FIFO at the blob\'s name ends');
ok(-f "$out_dir/media/$hex.png" && !-p "$out_dir/media/$hex.png",
	'and replaces the FIFO by a regular file');

$node->stop;
done_testing();
