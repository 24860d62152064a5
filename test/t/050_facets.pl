#
# 050_facets.pl: facets, their operators and GIN index, and labels, on the
# whole shared corpus.
#
# Expectations are computed here with JSON::PP, independently of ftstore:
# the roles and tool use of glaive_toolcall_en_demo.json from its
# ShareGPT turns, the image counts of mllm_demo.json from its image lists,
# and the language of alpaca_en_demo.json by the rule docs/facets.md
# gives (dominant script by letter counts, then English function words),
# implemented again below.  Index answers are compared with sequential
# scan answers, row by row, for every operator, and EXPLAIN must show the
# index for each.
#
use strict;
use utf8;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Find;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $root = abs_path(dirname(__FILE__) . '/../..');
my $data_dir = abs_path("$root/../shared/data") // "$root/../shared/data";

# A missing corpus is a failure, never a skip.
BAIL_OUT("shared data not found at $data_dir")
  unless -f "$data_dir/README.md";

my $json = JSON::PP->new->utf8->canonical;
my $tmp = PostgreSQL::Test::Utils::tempdir;

sub read_records
{
	my ($rel) = @_;
	my $path = "$data_dir/$rel";

	open my $fh, '<:raw', $path or die "$path: $!";
	local $/;
	my $text = <$fh>;
	close $fh;
	return @{ $json->decode($text) } if $rel =~ /\.json$/;
	return map { $json->decode($_) } grep { /\S/ } split /\n/, $text;
}

# Every dataset file of the corpus (not the registry of column mappings).
my @files;
find(
	sub {
		return unless -f $_ && /\.jsonl?$/;
		my $rel = substr($File::Find::name, length($data_dir) + 1);
		push @files, $rel unless $rel eq 'llamafactory/dataset_info.json';
	},
	$data_dir);
@files = sort @files;
cmp_ok(scalar(@files), '>=', 13, 'the corpus has its dataset files');

my %records = map { $_ => [ read_records($_) ] } @files;

# ---------------------------------------------------------------------------
# The server, and the corpus loaded through a staging table: one dataset per
# file, named by the file's path.
# ---------------------------------------------------------------------------

my $node = PostgreSQL::Test::Cluster->new('facets');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION ftstore');

my $stage = "$tmp/corpus.jsonl";
open my $out, '>:raw', $stage or die "$stage: $!";
my $total = 0;
for my $f (@files)
{
	my $i = 0;
	for my $r (@{ $records{$f} })
	{
		$i++;
		print $out $json->encode({ f => $f, i => $i, d => $r }), "\n";
		$total++;
	}
}
close $out;

$node->safe_psql('postgres', qq{
CREATE TABLE stage (doc jsonb);
COPY stage FROM '$stage' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02');
SELECT ftstore.dataset_id(f, true) FROM (SELECT DISTINCT doc->>'f' AS f FROM stage) d;
INSERT INTO ftstore.samples (dataset_id, sample, source, record)
SELECT ftstore.dataset_id(doc->>'f'), (doc->'d')::ftstore.ftsample,
	doc->>'f', (doc->>'i')::integer
FROM stage;
ANALYZE ftstore.samples;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM ftstore.samples'),
	$total, "all $total records of the corpus are stored");

# facets of one dataset as { record => facets }
sub facets_of
{
	my ($f) = @_;
	my $rows = $node->safe_psql('postgres', qq{
		SELECT s.record || E'\\t' || ftstore.facets(s.sample)::text
		FROM ftstore.samples s WHERE s.source = '$f' ORDER BY s.record});
	my %by;
	for (split /\n/, $rows)
	{
		my ($rec, $facets) = split /\t/, $_, 2;
		$by{$rec} = $json->decode($facets);
	}
	return \%by;
}

# ---------------------------------------------------------------------------
# Roles and tool use of glaive_toolcall_en_demo.json.
# ---------------------------------------------------------------------------

{
	my $f = 'llamafactory/glaive_toolcall_en_demo.json';
	my $got = facets_of($f);
	my %role_of = (human => 'user', gpt => 'assistant',
		function_call => 'assistant', observation => 'tool',
		system => 'system');
	my ($bad_roles, $bad_tools, $bad_calls, $with_tools, $with_calls) = (0) x 5;
	my $i = 0;

	for my $r (@{ $records{$f} })
	{
		$i++;
		my %roles;
		$roles{ $role_of{ $_->{from} } // "?$_->{from}" } = 1
		  for @{ $r->{conversations} };
		$roles{system} = 1 if defined $r->{system} && $r->{system} ne '';
		my $tools = 0;
		if (defined $r->{tools} && $r->{tools} ne '')
		{
			my $t = $json->decode($r->{tools});
			$tools = (ref $t eq 'ARRAY' && @$t) ? 1 : 0;
		}
		my $calls = (grep { $_->{from} eq 'function_call' } @{ $r->{conversations} }) ? 1 : 0;
		$with_tools += $tools;
		$with_calls += $calls;

		my $g = $got->{$i};
		$bad_roles++
		  unless join(',', sort keys %roles) eq join(',', sort @{ $g->{roles} });
		$bad_tools++ unless $tools == (exists $g->{tools} ? 1 : 0);
		$bad_calls++ unless $calls == (exists $g->{tool_calls} ? 1 : 0);
		$bad_tools++ if exists $g->{tools} && !JSON::PP::is_bool($g->{tools});
	}
	is($i, 300, 'glaive: 300 records');
	is($bad_roles, 0, 'glaive: roles agree with the ShareGPT turns');
	is($bad_tools, 0, "glaive: tools present on exactly the $with_tools records offering tools");
	is($bad_calls, 0, "glaive: tool_calls on exactly the $with_calls records with a function_call");
	cmp_ok($with_tools, '>', 0, 'glaive: some records offer tools');
	cmp_ok($with_tools, '<', 300, 'glaive: some records offer none');

	# the operators say the same
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM ftstore.samples
		WHERE source = '$f' AND sample OPERATOR(ftstore.?) 'tools'}),
		$with_tools, 'glaive: ? tools counts the records offering tools');
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM ftstore.samples
		WHERE source = '$f' AND sample OPERATOR(ftstore.@>) '{"tool_calls": true, "roles": ["tool"]}'}),
		scalar(grep {
			my $r = $_;
			(grep { $_->{from} eq 'function_call' } @{ $r->{conversations} })
			  && (grep { $_->{from} eq 'observation' } @{ $r->{conversations} })
		} @{ $records{$f} }),
		'glaive: @> tool_calls and role tool');
}

# ---------------------------------------------------------------------------
# Image counts of mllm_demo.json.
# ---------------------------------------------------------------------------

{
	my $f = 'llamafactory/mllm_demo.json';
	my $got = facets_of($f);
	my $i = 0;

	for my $r (@{ $records{$f} })
	{
		$i++;
		my $n = scalar(@{ $r->{images} // [] });
		is($got->{$i}{images} // 0, $n, "mllm record $i: $n images");
		if ($n)
		{
			is_deeply($got->{$i}{media}, ['image'], "mllm record $i: media is [image]");
		}
		else
		{
			ok(!exists $got->{$i}{media}, "mllm record $i: no media key");
		}
	}
	my %by_count;
	$by_count{ scalar(@{ $_->{images} // [] }) }++ for @{ $records{$f} };
	for my $n (sort keys %by_count)
	{
		next unless $n;
		is($node->safe_psql('postgres', qq{
			SELECT count(*) FROM ftstore.samples
			WHERE source = '$f' AND sample OPERATOR(ftstore.@>) '{"images": $n}'}),
			$by_count{$n}, "mllm: \@> images = $n");
	}
}

# ---------------------------------------------------------------------------
# Script and language, by the rule of docs/facets.md.
# ---------------------------------------------------------------------------

my %stopword = map { $_ => 1 } qw(
  a i
  an as at be by do he if in is it no of on or so to we
  all and are but can for had has her his how its not one she the was who you
  also been does from have into more some than that them they this what when
  will with your
  about other their there these which would);

sub script_of
{
	my ($c) = @_;
	my $cp = ord($c);

	return 'latin' if $c =~ /[A-Za-z]/;
	return 'latin'
	  if ($cp >= 0xC0 && $cp <= 0x24F && $cp != 0xD7 && $cp != 0xF7)
	  || ($cp >= 0x1E00 && $cp <= 0x1EFF);
	return 'han'
	  if ($cp >= 0x4E00 && $cp <= 0x9FFF) || ($cp >= 0x3400 && $cp <= 0x4DBF)
	  || ($cp >= 0xF900 && $cp <= 0xFAFF) || ($cp >= 0x20000 && $cp <= 0x2FFFF);
	return 'kana'
	  if ($cp >= 0x3041 && $cp <= 0x30FF && $cp != 0x30FB)
	  || ($cp >= 0x31F0 && $cp <= 0x31FF) || ($cp >= 0xFF66 && $cp <= 0xFF9F);
	return 'hangul'
	  if ($cp >= 0xAC00 && $cp <= 0xD7AF) || ($cp >= 0x1100 && $cp <= 0x11FF)
	  || ($cp >= 0x3131 && $cp <= 0x318E);
	return 'cyrillic' if $cp >= 0x400 && $cp <= 0x52F;
	return 'arabic'
	  if ($cp >= 0x620 && $cp <= 0x64A) || ($cp >= 0x66E && $cp <= 0x6D3)
	  || ($cp >= 0x750 && $cp <= 0x77F) || ($cp >= 0x8A0 && $cp <= 0x8FF)
	  || ($cp >= 0xFB50 && $cp <= 0xFDFF) || ($cp >= 0xFE70 && $cp <= 0xFEFF);
	return 'devanagari' if $cp >= 0x904 && $cp <= 0x939;
	return 'other'
	  if ($cp >= 0x370 && $cp <= 0x3FF) || ($cp >= 0x531 && $cp <= 0x5FF)
	  || ($cp >= 0x980 && $cp <= 0xEFF) || ($cp >= 0x10A0 && $cp <= 0x10FF);
	return undef;
}

# [script, lang] of a list of texts (Perl character strings)
sub script_lang
{
	my (%n, $words, $stops);
	$words = $stops = 0;
	for my $t (@_)
	{
		for my $c (split //, $t)
		{
			my $s = script_of($c);
			$n{$s}++ if defined $s;
		}
		for my $w ($t =~ /[A-Za-z]+/g)
		{
			$words++;
			$stops++ if $stopword{ lc $w };
		}
	}
	my $best = 'none';
	my $max = 0;
	for my $s (qw(latin han kana hangul cyrillic arabic devanagari other))
	{
		if (($n{$s} // 0) > $max) { $best = $s; $max = $n{$s}; }
	}
	my %lang = (hangul => 'ko', cyrillic => 'ru', arabic => 'ar',
		devanagari => 'hi');
	my $lang = $lang{$best} // 'und';
	$lang = ($words > 0 && $stops * 10 >= $words) ? 'en' : 'und'
	  if $best eq 'latin';
	$lang = (($n{kana} // 0) * 10 >= ($n{han} // 0) + ($n{kana} // 0)) ? 'ja' : 'zh'
	  if $best eq 'han' || $best eq 'kana';
	return [ $best, $lang ];
}

{
	my $f = 'llamafactory/alpaca_en_demo.json';
	my $got = facets_of($f);
	my ($i, $agree, $en) = (0, 0, 0);

	for my $r (@{ $records{$f} })
	{
		$i++;
		my $want = script_lang(grep { defined && $_ ne '' }
			  map { $r->{$_} } qw(instruction input output));
		my $g = $got->{$i};
		$en++ if $g->{lang} eq 'en';
		if ($g->{script} eq $want->[0] && $g->{lang} eq $want->[1])
		{
			$agree++;
		}
		else
		{
			diag("alpaca record $i: got $g->{script}/$g->{lang}, want $want->[0]/$want->[1]");
		}
	}
	is($agree, $i, 'alpaca: script and lang agree with the rule on every record');
	cmp_ok($en, '>=', int($i * 0.98), "alpaca: lang is en on nearly all ($en of $i)");
}

# identity.json mixes Chinese and English records
{
	my $f = 'llamafactory/identity.json';
	my $got = facets_of($f);
	my ($i, $agree, $zh) = (0, 0, 0);

	for my $r (@{ $records{$f} })
	{
		$i++;
		my $want = script_lang(grep { defined && $_ ne '' }
			  map { $r->{$_} } qw(instruction input output));
		$agree++ if $got->{$i}{lang} eq $want->[1] && $got->{$i}{script} eq $want->[0];
		$zh++ if $want->[1] eq 'zh';
	}
	is($agree, $i, 'identity: script and lang agree with the rule on every record');
	cmp_ok($zh, '>', 50, "identity: most records are Chinese ($zh)");
}

# Samples written here, one per language the facets name.
{
	my @cases = (
		[ 'zh', 'han', '请把下面的句子翻译成英文。', '今天天气很好，我们去公园散步吧。' ],
		[ 'en', 'latin', 'Translate the sentence into English.', 'The weather is nice today, so we can walk in the park.' ],
		[ 'ja', 'kana', '次の文を英語に翻訳してください。', '今日は天気がいいので、公園を散歩しましょう。' ],
		[ 'ko', 'hangul', '다음 문장을 영어로 번역하세요.', '오늘은 날씨가 좋아서 공원에 산책하러 갑시다.' ],
		[ 'ru', 'cyrillic', 'Переведите предложение на английский.', 'Сегодня хорошая погода, пойдём гулять в парк.' ],
		[ 'ar', 'arabic', 'ترجم الجملة إلى الإنجليزية.', 'الطقس جميل اليوم، لنذهب للتنزه في الحديقة.' ],
		[ 'hi', 'devanagari', 'वाक्य का अंग्रेज़ी में अनुवाद करें।', 'आज मौसम अच्छा है, चलो पार्क में टहलने चलते हैं।' ],
		[ 'und', 'latin', 'Übersetze den Satz ins Englische.', 'Heute ist schönes Wetter, gehen wir im Park spazieren.' ],
	);
	for my $c (@cases)
	{
		my ($lang, $script, $q, $a) = @$c;
		my $want = script_lang($q, $a);
		is_deeply($want, [ $script, $lang ], "the rule gives $script/$lang for the $lang sample");
		my $doc = $json->encode({ instruction => $q, output => $a });
		my $got = $node->safe_psql('postgres', qq{
			SELECT f->>'script' || '/' || (f->>'lang')
			FROM ftstore.facets(\$doc\$$doc\$doc\$::ftstore.ftsample) f});
		is($got, "$script/$lang", "facets give $script/$lang for the $lang sample");
	}
	# the Chinese sample, stored, is found by the index and English is not
	my $zh = $json->encode({ instruction => $cases[0][2], output => $cases[0][3] });
	$node->safe_psql('postgres', qq{
		INSERT INTO ftstore.samples (dataset_id, sample, source, record)
		VALUES (ftstore.dataset_id('written', true), \$doc\$$zh\$doc\$::ftstore.ftsample, 'test', 1)});
	is($node->safe_psql('postgres', qq{
		SET enable_seqscan = off;
		SELECT count(*) FROM ftstore.samples s JOIN ftstore.datasets d ON d.id = s.dataset_id
		WHERE d.name = 'written' AND s.sample OPERATOR(ftstore.@>) '{"lang": "zh"}'}),
		1, 'the written Chinese sample is found as zh');
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM ftstore.samples s
		WHERE s.source = 'llamafactory/alpaca_en_demo.json'
		AND s.sample OPERATOR(ftstore.@>) '{"lang": "zh"}'}),
		0, 'no alpaca_en_demo sample is zh');
}

# ---------------------------------------------------------------------------
# Index answers equal sequential scan answers, for every operator.
# ---------------------------------------------------------------------------

my @queries = (
	[ '@>', 'jsonb', '{"lang": "zh"}' ],
	[ '@>', 'jsonb', '{"lang": "en", "kind": "sft"}' ],
	[ '@>', 'jsonb', '{}' ],
	[ '@>', 'jsonb', '{"roles": ["tool"]}' ],
	[ '@>', 'jsonb', '{"roles": ["system", "user"]}' ],
	[ '@>', 'jsonb', '{"roles": []}' ],
	[ '@>', 'jsonb', '{"roles": "user"}' ],
	[ '@>', 'jsonb', '{"roles": [["user"]]}' ],
	[ '@>', 'jsonb', '{"tools": true}' ],
	[ '@>', 'jsonb', '{"tools": false}' ],
	[ '@>', 'jsonb', '{"turns": 2}' ],
	[ '@>', 'jsonb', '{"turns": 2.0}' ],
	[ '@>', 'jsonb', '{"turns": "2"}' ],
	[ '@>', 'jsonb', '{"turns": 2.5}' ],
	[ '@>', 'jsonb', '{"images": 2}' ],
	[ '@>', 'jsonb', '{"images": 0}' ],
	[ '@>', 'jsonb', '{"images": 1, "media": ["image"]}' ],
	[ '@>', 'jsonb', '{"media": []}' ],
	[ '@>', 'jsonb', '{"media": ["video"]}' ],
	[ '@>', 'jsonb', '{"nokey": 1}' ],
	[ '@>', 'jsonb', '[]' ],
	[ '@>', 'jsonb', '"lang"' ],
	[ '@>', 'jsonb', '{"format": "auto"}' ],
	[ '@>', 'jsonb', '{"format": "sharegpt", "tool_calls": true, "length": "medium"}' ],
	[ '@>', 'jsonb', '{"script": "han", "lang": "zh", "turns": 2}' ],
	[ '@>', 'jsonb', '{"lang": ["zh"]}' ],
	[ '@>', 'jsonb', '{"system": true, "kind": "sft"}' ],
	[ '@>', 'jsonb', '{"kind": "text", "roles": ["text"]}' ],
	[ '@>', 'jsonb', '{"length": "xlong"}' ],
	[ '@>', 'jsonb', '{"kind": "preference", "turns": 2}' ],
	[ '@>', 'jsonb', '{"kind": "kto"}' ],
	[ '?', 'text', 'lang' ],
	[ '?', 'text', 'tools' ],
	[ '?', 'text', 'tool_calls' ],
	[ '?', 'text', 'system' ],
	[ '?', 'text', 'media' ],
	[ '?', 'text', 'images' ],
	[ '?', 'text', 'videos' ],
	[ '?', 'text', 'roles' ],
	[ '?', 'text', 'nokey' ],
	[ '?|', 'text[]', '{tools,system}' ],
	[ '?|', 'text[]', '{nokey}' ],
	[ '?|', 'text[]', '{}' ],
	[ '?|', 'text[]', '{nokey,images}' ],
	[ '?|', 'text[]', '{NULL,media}' ],
	[ '?&', 'text[]', '{tools,system}' ],
	[ '?&', 'text[]', '{tools,tool_calls}' ],
	[ '?&', 'text[]', '{}' ],
	[ '?&', 'text[]', '{lang,nokey}' ],
	[ '?&', 'text[]', '{NULL,turns}' ],
	[ '?&', 'text[]', '{images,media}' ],
);

my %seen_op;
for my $q (@queries)
{
	my ($op, $type, $arg) = @$q;
	(my $lit = $arg) =~ s/'/''/g;
	my $where = "sample OPERATOR(ftstore.$op) '$lit'::$type";
	my $sql = "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') "
	  . "FROM ftstore.samples WHERE $where";
	my $seq = $node->safe_psql('postgres',
		"SET enable_bitmapscan = off; SET enable_indexscan = off; $sql");
	my $idx = $node->safe_psql('postgres', "SET enable_seqscan = off; $sql");
	# what jsonb itself says on the facets
	my $ref = $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') "
		  . "FROM ftstore.samples WHERE ftstore.facets(sample) $op '$lit'::$type");
	my $n = ($seq eq '') ? 0 : scalar(split /,/, $seq);
	ok($seq eq $idx, "$op $arg: index and sequential scan agree ($n rows)");
	ok($seq eq $ref, "$op $arg: the operator agrees with jsonb on the facets");

	my $plan = $node->safe_psql('postgres',
		"SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM ftstore.samples WHERE $where");
	unless ($seen_op{$op}++)
	{
		like($plan, qr/Bitmap Index Scan on samples_facets_idx/,
			"EXPLAIN shows the facet index for $op");
	}
}

# Without help, the planner picks the index for a selective query.
like($node->safe_psql('postgres', q{
	EXPLAIN (COSTS OFF) SELECT id FROM ftstore.samples
	WHERE sample OPERATOR(ftstore.@>) '{"lang": "zh"}'}),
	qr/Bitmap Index Scan on samples_facets_idx/,
	'the planner chooses the facet index for lang zh by itself');

# ---------------------------------------------------------------------------
# Labels, and a label with a facet in one query.
# ---------------------------------------------------------------------------

{
	my $f = 'llamafactory/glaive_toolcall_en_demo.json';
	my @recs = @{ $records{$f} };
	my $with_tools = grep {
		defined $_->{tools} && $_->{tools} ne ''
		  && @{ $json->decode($_->{tools}) }
	} @recs;

	is($node->safe_psql('postgres', qq{
		SELECT ftstore.label('$f', '{"tools": true}', '{"review": "tools"}')}),
		$with_tools, 'label changes the records offering tools');
	is($node->safe_psql('postgres', qq{
		SELECT ftstore.label('$f', '{"tools": true}', '{"review": "tools"}')}),
		0, 'labelling again changes nothing');
	is($node->safe_psql('postgres', qq{
		SELECT ftstore.label('$f', NULL, '{"licence": "apache-2.0"}')}),
		scalar(@recs), 'a NULL filter labels the whole dataset');

	my $info_text = do
	{
		open my $fh, '<:raw', "$data_dir/llamafactory/dataset_info.json" or die $!;
		local $/;
		<$fh>;
	};
	my $info = $json->decode($info_text);
	my $entry = 'glaive_toolcall_en_demo';
	ok(exists $info->{$entry}, "dataset_info.json has the $entry entry");
	(my $lit = $info_text) =~ s/'/''/g;
	is($node->safe_psql('postgres', qq{
		SELECT ftstore.label_from_dataset_info('$f', '$lit', '$entry')}),
		scalar(@recs), 'label_from_dataset_info labels the whole dataset');
	my $labels = $json->decode($node->safe_psql('postgres', qq{
		SELECT labels FROM ftstore.samples WHERE source = '$f' AND record = 1}));
	is($labels->{source}, $entry, 'the entry name is the source label');
	is($labels->{formatting}, $info->{$entry}{formatting} // 'alpaca',
		'the formatting label is the entry\'s');
	is($labels->{file}, $info->{$entry}{file_name}, 'the file label is the entry\'s file_name');
	is_deeply($labels->{columns}, $info->{$entry}{columns}, 'the columns label is the entry\'s mapping');
	is($labels->{review}, 'tools', 'earlier labels stay');

	# label and facet together: both indexes in one plan
	$node->safe_psql('postgres', 'ANALYZE ftstore.samples');
	my $q = qq{SELECT count(*) FROM ftstore.samples
		WHERE labels \@> '{"review": "tools"}'
		AND sample OPERATOR(ftstore.@>) '{"tool_calls": true}'};
	my $with_both = grep {
		my $r = $_;
		defined $r->{tools} && $r->{tools} ne '' && @{ $json->decode($r->{tools}) }
		  && grep { $_->{from} eq 'function_call' } @{ $r->{conversations} }
	} @recs;
	is($node->safe_psql('postgres', "SET enable_seqscan = off; $q"), $with_both,
		'a label and a facet: the records offering tools that call one');
	# Both indexes serve their halves.  Whether the planner ANDs them
	# depends on the table's size: at 3,800 rows it reads one index and
	# filters; bench/facets.sql shows the BitmapAnd at 1,000,000.
	like($node->safe_psql('postgres', qq{SET enable_seqscan = off;
		EXPLAIN (COSTS OFF) SELECT id FROM ftstore.samples
		WHERE labels \@> '{"review": "tools"}'}),
		qr/Bitmap Index Scan on samples_labels_idx/,
		'the labels index serves a label query');
	like($node->safe_psql('postgres', qq{SET enable_seqscan = off; EXPLAIN (COSTS OFF) $q}),
		qr/Bitmap Index Scan on samples_(facets|labels)_idx/,
		'a label and a facet query uses an index');

	is($node->safe_psql('postgres', qq{
		SELECT ftstore.unlabel('$f', '{"tool_calls": true}', '{review}')}),
		$with_both, 'unlabel removes the key where the filter matches');
	is($node->safe_psql('postgres', qq{
		SELECT count(*) FROM ftstore.samples WHERE source = '$f' AND labels ? 'review'}),
		$with_tools - $with_both, 'the others keep it');
}

# Labels given at import land on every sample the import stores, from a
# server file and from client data alike; a label set that is not an
# object is refused before anything is read.
{
	my $f = 'llamafactory/identity.json';
	my $n = scalar(@{ $records{$f} });
	my $path = "$data_dir/$f";
	is($node->safe_psql('postgres', qq{
		SELECT imported FROM ftstore.import_file('labelled', '$path',
			labels => '{"split": "train", "licence": "apache-2.0"}')}),
		$n, 'import_file with labels imports every record');
	is($node->safe_psql('postgres', q{
		SELECT count(*) FROM ftstore.samples
		WHERE dataset_id = ftstore.dataset_id('labelled')
		AND labels @> '{"split": "train", "licence": "apache-2.0"}'}),
		$n, 'and every sample carries the labels');
	is($node->safe_psql('postgres', q{
		SELECT imported FROM ftstore.import_data('labelled', 'client',
			'{"text": "a"}' || chr(10) || '{"text": "b"}', 'auto', '{"split": "test"}')}),
		2, 'import_data with labels imports the client\'s records');
	is($node->safe_psql('postgres', q{
		SELECT string_agg(labels->>'split', ',' ORDER BY record) FROM ftstore.samples
		WHERE dataset_id = ftstore.dataset_id('labelled') AND source = 'client'}),
		'test,test', 'and labels them');
	my ($rc, $out, $err) = $node->psql('postgres', qq{\\set VERBOSITY verbose
		SELECT * FROM ftstore.import_file('labelled_bad', '$path', labels => '["train"]')});
	like($err, qr/ERROR:  22023: labels must be a JSON object/,
		'labels that are not an object are invalid_parameter_value');
	is($node->safe_psql('postgres', q{
		SELECT count(*) FROM ftstore.samples s JOIN ftstore.datasets d ON d.id = s.dataset_id
		WHERE d.name = 'labelled_bad'}), 0, 'and nothing of that import is stored');
}

# The summary counts per value, checked for kinds against the corpus.
{
	my $f = 'llamafactory/kto_en_demo.json';
	is($node->safe_psql('postgres', qq{
		SELECT string_agg(value || ':' || samples, ',' ORDER BY value)
		FROM ftstore.facet_summary('$f') WHERE facet = 'kind'}),
		'kto:' . scalar(@{ $records{$f} }), 'facet_summary counts the KTO samples');
	$f = 'llamafactory/mllm_demo.json';
	my $imgs = grep { @{ $_->{images} // [] } } @{ $records{$f} };
	is($node->safe_psql('postgres', qq{
		SELECT samples FROM ftstore.facet_summary('$f')
		WHERE facet = 'media' AND value = 'image'}),
		$imgs, 'facet_summary counts the samples with images');
}

$node->stop;
done_testing();
