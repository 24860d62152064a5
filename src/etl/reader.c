/*-------------------------------------------------------------------------
 *
 * reader.c
 *	  Streaming record reader: splits JSONL or a JSON array, plain, gzip or
 *	  zstd, into records in one pass and bounded memory.
 *
 * Compression is told by magic bytes, not by file name, and the container
 * by the first byte that is not white space (after an optional UTF-8
 * BOM): '[' starts a JSON array, whose top-level elements are the
 * records; anything else is JSONL, one record per non-blank line.  Array
 * elements are found by tracking depth, strings and escapes, never by
 * parsing, so a malformed element costs one record and not the file.  A
 * comma with no element before it (",,", "[,", ",]") is a record of its
 * own, rejected, as JSON has no empty elements.
 *
 * A line ends at "\n", "\r\n" or a lone "\r" (old Mac OS files): a raw
 * carriage return cannot occur inside a JSON string, so outside one it
 * can only be white space, and a file whose lines all end in "\r" would
 * otherwise be one huge record.  The line end is never part of a record,
 * so it does not count against ftstore.max_sample_bytes.
 *
 * A record longer than ftstore.max_sample_bytes is not buffered: its first
 * kilobyte is kept for the reject row and the rest skipped.  So the memory
 * a reader holds is about max_sample_bytes plus two chunks, whatever the
 * size of the input.
 *
 * Corrupt or truncated compressed data is an error for the whole input:
 * unlike a cut JSON file, a compressed stream carries the proof that it is
 * incomplete, and importing what came before the damage would quietly
 * lose records.  The error is invalid_binary_representation (22P03), the
 * user's data being wrong, and never data_corrupted (XX001), which
 * monitoring takes for damage to the database itself.
 *
 * Only regular files are read: a device or a pipe may never end.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "etl/reader.h"
#include "sample/ftsample.h"

#define FT_RAW_CHUNK	(64 * 1024)
#define FT_OUT_CHUNK	(128 * 1024)

typedef enum FtCompression
{
	FT_COMPRESSION_NONE,
	FT_COMPRESSION_GZIP,
	FT_COMPRESSION_ZSTD
} FtCompression;

typedef enum FtScanState
{
	S_BOM,						/* at the very start, maybe inside a BOM */
	S_START,					/* blanks before the first byte of content */
	S_LINE_START,				/* JSONL: blanks before a record */
	S_LINE,						/* JSONL: inside a record */
	S_ARRAY_EXPECT,				/* array: after '[' or ',' */
	S_ARRAY_ELEM,				/* array: inside an element */
	S_ARRAY_AFTER,				/* array: after a whole object or array */
	S_ARRAY_END,				/* array: after the closing ']' */
	S_TRAILING,					/* array: text after the closing ']' */
	S_DONE
} FtScanState;

struct FtReader
{
	MemoryContext cxt;
	MemoryContextCallback cleanup;
	char	   *name;			/* path or client label, for messages */

	/* raw input: a file, or a caller's buffer */
	int			fd;
	char	   *raw_buf;
	const char *raw;
	size_t		raw_len;
	size_t		raw_pos;
	bool		raw_eof;		/* nothing left after raw[raw_len] */
	uint64		raw_offset;		/* input bytes read before raw[0] */

	/* decompression */
	FtCompression compression;
	z_stream	zs;
	bool		zs_live;
	bool		gz_member_done;
	ZSTD_DStream *zds;
	size_t		zstd_hint;		/* 0 when between zstd frames */
	char	   *out_buf;

	/* the decompressed bytes being scanned */
	const char *chunk;
	size_t		chunk_len;
	size_t		chunk_pos;
	bool		eof;

	/* scanner */
	FtScanState	state;
	int			bom_seen;
	bool		is_array;
	int64		line;
	bool		after_cr;		/* the last byte scanned was a '\r' */
	int64		ordinal;
	size_t		cap;			/* ft_max_sample_bytes, read once */
	StringInfoData rec;
	int64		rec_line;
	uint64		rec_total;
	bool		rec_oversized;
	int64		depth;
	bool		in_string;
	bool		escape;
	bool		elem_container; /* element began with '{' or '[' */
	bool		after_comma;	/* array: a ',' ended the last element */
	int64		comma_line;		/* the line that ',' is on */
};

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

#define IS_JSON_SPACE(c) \
	((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

/*
 * Runs when the reader's context is reset or deleted, including by error
 * cleanup, so nothing that lives outside palloc'd memory can leak.
 */
static void
reader_cleanup(void *arg)
{
	FtReader   *r = (FtReader *) arg;

	if (r->zs_live)
	{
		inflateEnd(&r->zs);
		r->zs_live = false;
	}
	if (r->zds != NULL)
	{
		ZSTD_freeDStream(r->zds);
		r->zds = NULL;
	}
	if (r->fd >= 0)
	{
		close(r->fd);
		r->fd = -1;
	}
}

static FtReader *
reader_create(const char *name)
{
	MemoryContext cxt;
	FtReader   *r;
	MemoryContext oldcxt;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "ftstore reader",
								ALLOCSET_DEFAULT_SIZES);
	r = MemoryContextAllocZero(cxt, sizeof(FtReader));
	r->cxt = cxt;
	r->fd = -1;
	r->cleanup.func = reader_cleanup;
	r->cleanup.arg = r;
	MemoryContextRegisterResetCallback(cxt, &r->cleanup);

	oldcxt = MemoryContextSwitchTo(cxt);
	r->name = pstrdup(name);
	initStringInfo(&r->rec);
	MemoryContextSwitchTo(oldcxt);

	r->line = 1;
	r->zstd_hint = 1;
	r->state = S_BOM;

	/* a StringInfo cannot hold more than MaxAllocSize - 1 */
	if (ft_max_sample_bytes <= 0 ||
		(Size) ft_max_sample_bytes > MaxAllocSize / 2)
		r->cap = MaxAllocSize / 2;
	else
		r->cap = ft_max_sample_bytes;

	return r;
}

static bool
raw_exhausted(const FtReader *r)
{
	return r->raw_pos >= r->raw_len && r->raw_eof;
}

/* Makes raw bytes available; false when the input is used up. */
static bool
raw_fill(FtReader *r)
{
	ssize_t		n;

	if (r->raw_pos < r->raw_len)
		return true;
	if (r->raw_eof)
		return false;

	do
	{
		n = read(r->fd, r->raw_buf, FT_RAW_CHUNK);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", r->name)));
	r->raw_offset += r->raw_len;
	r->raw = r->raw_buf;
	r->raw_len = n;
	r->raw_pos = 0;
	if (n == 0)
	{
		r->raw_eof = true;
		return false;
	}
	return true;
}

/*
 * Bad compressed input.  offset is how many bytes of it the decompressor
 * had taken when it gave up, so the damage is at or before that byte.
 */
static void
decompress_error(FtReader *r, const char *what, const char *why,
				 uint64 offset)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("could not decompress %s data in \"%s\": %s",
					what, r->name, why),
			 errdetail("The compressed input is invalid at or before byte " UINT64_FORMAT "; nothing from it was kept.",
					   offset)));
}

static void
truncated_error(FtReader *r, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
			 errmsg("%s data in \"%s\" ends unexpectedly", what, r->name),
			 errdetail("The compressed input ends after " UINT64_FORMAT " bytes, inside a compressed stream: it is truncated, and nothing from it was kept.",
					   r->raw_offset + r->raw_len)));
}

static bool
gzip_chunk(FtReader *r)
{
	for (;;)
	{
		int			ret;
		size_t		produced;

		if (r->zs.avail_in == 0 && raw_fill(r))
		{
			r->zs.next_in = (Bytef *) (r->raw + r->raw_pos);
			r->zs.avail_in = (uInt) Min(r->raw_len - r->raw_pos,
										(size_t) UINT_MAX);
			r->raw_pos += r->zs.avail_in;
		}
		if (r->gz_member_done)
		{
			if (r->zs.avail_in == 0)
				return false;
			/* another member follows, as gzip itself allows */
			if (inflateReset(&r->zs) != Z_OK)
				decompress_error(r, "gzip", "could not reset the stream",
								 r->raw_offset + r->raw_pos - r->zs.avail_in);
			r->gz_member_done = false;
		}

		r->zs.next_out = (Bytef *) r->out_buf;
		r->zs.avail_out = FT_OUT_CHUNK;
		ret = inflate(&r->zs, Z_NO_FLUSH);
		produced = FT_OUT_CHUNK - r->zs.avail_out;

		if (ret == Z_STREAM_END)
			r->gz_member_done = true;
		else if (ret == Z_BUF_ERROR)
		{
			if (produced == 0 && r->zs.avail_in == 0 && raw_exhausted(r))
				truncated_error(r, "gzip");
		}
		else if (ret == Z_MEM_ERROR)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		else if (ret != Z_OK)
			decompress_error(r, "gzip",
							 r->zs.msg ? r->zs.msg : "invalid data",
							 r->raw_offset + r->raw_pos - r->zs.avail_in);

		if (produced > 0)
		{
			r->chunk = r->out_buf;
			r->chunk_len = produced;
			return true;
		}
	}
}

static bool
zstd_chunk(FtReader *r)
{
	for (;;)
	{
		ZSTD_inBuffer in;
		ZSTD_outBuffer out;
		size_t		ret;

		raw_fill(r);
		if (r->raw_pos >= r->raw_len && r->zstd_hint == 0)
			return false;		/* clean end between frames */

		in.src = r->raw;
		in.size = r->raw_len;
		in.pos = r->raw_pos;
		out.dst = r->out_buf;
		out.size = FT_OUT_CHUNK;
		out.pos = 0;
		ret = ZSTD_decompressStream(r->zds, &out, &in);
		if (ZSTD_isError(ret))
			decompress_error(r, "zstd", ZSTD_getErrorName(ret),
							 r->raw_offset + in.pos);
		r->raw_pos = in.pos;
		r->zstd_hint = ret;

		if (out.pos > 0)
		{
			r->chunk = r->out_buf;
			r->chunk_len = out.pos;
			return true;
		}
		if (raw_exhausted(r))
		{
			if (ret == 0)
				return false;
			truncated_error(r, "zstd");
		}
	}
}

/* Makes the next decompressed chunk current; false at the end. */
static bool
next_chunk(FtReader *r)
{
	r->chunk_pos = 0;
	switch (r->compression)
	{
		case FT_COMPRESSION_NONE:
			if (!raw_fill(r))
				return false;
			r->chunk = r->raw + r->raw_pos;
			r->chunk_len = r->raw_len - r->raw_pos;
			r->raw_pos = r->raw_len;
			return true;
		case FT_COMPRESSION_GZIP:
			return gzip_chunk(r);
		case FT_COMPRESSION_ZSTD:
			return zstd_chunk(r);
	}
	return false;				/* keep compiler quiet */
}

/* Picks the decompressor from the first raw bytes. */
static void
reader_start(FtReader *r)
{
	const unsigned char *b = (const unsigned char *) r->raw + r->raw_pos;
	size_t		n = r->raw_len - r->raw_pos;

	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
	{
		int			ret;

		r->compression = FT_COMPRESSION_GZIP;
		r->out_buf = MemoryContextAlloc(r->cxt, FT_OUT_CHUNK);
		/* 16 + MAX_WBITS: expect the gzip header and trailer */
		ret = inflateInit2(&r->zs, 16 + MAX_WBITS);
		if (ret != Z_OK)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not set up gzip decompression: %s",
							r->zs.msg ? r->zs.msg : "out of memory")));
		r->zs_live = true;
	}
	else if (n >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f &&
			 b[3] == 0xfd)
	{
		r->compression = FT_COMPRESSION_ZSTD;
		r->out_buf = MemoryContextAlloc(r->cxt, FT_OUT_CHUNK);
		r->zds = ZSTD_createDStream();
		if (r->zds == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not set up zstd decompression")));
		ZSTD_initDStream(r->zds);
	}
	else
		r->compression = FT_COMPRESSION_NONE;
}

static void
not_regular_file(const char *path, mode_t mode)
{
	if (S_ISDIR(mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a directory", path)));
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("\"%s\" is not a regular file", path),
			 errdetail("Only regular files can be read: a device, pipe or socket might never end.")));
}

FtReader *
ft_reader_open_file(const char *path)
{
	FtReader   *r = reader_create(path);
	struct stat st;

	/*
	 * Opening a device or a pipe can block or have effects of its own, so
	 * the path is looked at first; the descriptor is looked at again after
	 * opening, in case the path changed in between.  O_NONBLOCK keeps the
	 * open of a pipe without a writer from hanging, and has no effect on
	 * reading a regular file.
	 */
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		not_regular_file(path, st.st_mode);
	r->fd = BasicOpenFile(path, O_RDONLY | O_NONBLOCK | PG_BINARY);
	if (r->fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\" for reading: %m", path)));
	if (fstat(r->fd, &st) < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not stat file \"%s\": %m", path)));
	if (!S_ISREG(st.st_mode))
		not_regular_file(path, st.st_mode);

	r->raw_buf = MemoryContextAlloc(r->cxt, FT_RAW_CHUNK);
	r->raw = r->raw_buf;

	/* a read may return fewer bytes than the magic numbers need */
	while (r->raw_len < 4 && !r->raw_eof)
	{
		ssize_t		n = read(r->fd, r->raw_buf + r->raw_len,
							 FT_RAW_CHUNK - r->raw_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		if (n == 0)
			r->raw_eof = true;
		r->raw_len += n;
	}

	reader_start(r);
	return r;
}

FtReader *
ft_reader_open_buffer(const char *data, size_t len, const char *name)
{
	FtReader   *r = reader_create(name);

	r->raw = data;
	r->raw_len = len;
	r->raw_eof = true;
	reader_start(r);
	return r;
}

void
ft_reader_close(FtReader *reader)
{
	MemoryContextDelete(reader->cxt);
}

const char *
ft_reader_compression(const FtReader *reader)
{
	switch (reader->compression)
	{
		case FT_COMPRESSION_NONE:
			return "none";
		case FT_COMPRESSION_GZIP:
			return "gzip";
		case FT_COMPRESSION_ZSTD:
			return "zstd";
	}
	return "?";
}

const char *
ft_reader_container(const FtReader *reader)
{
	return reader->is_array ? "json array" : "jsonl";
}

/*
 * Counts the line ends among scanned bytes: "\n", "\r\n" and a lone "\r"
 * are one each.  Every byte scanned outside a JSONL record goes through
 * here, so that after_cr always says what the previous byte was.
 */
static inline void
count_line(FtReader *r, char c)
{
	if (c == '\n')
	{
		if (!r->after_cr)
			r->line++;
		r->after_cr = false;
	}
	else if (c == '\r')
	{
		r->line++;
		r->after_cr = true;
	}
	else
		r->after_cr = false;
}

/* Starts a record whose first byte is on the current line. */
static void
rec_begin(FtReader *r)
{
	resetStringInfo(&r->rec);
	r->rec_line = r->line;
	r->rec_total = 0;
	r->rec_oversized = false;
}

/*
 * The longest prefix of data[0..len) that does not end inside a UTF-8
 * sequence, so that a cut record's kept start is not one byte of garbage
 * longer than it need be.
 */
static size_t
utf8_clip(const char *data, size_t len)
{
	size_t		j;

	for (j = len; j > 0 && len - j < 4; j--)
	{
		unsigned char b = (unsigned char) data[j - 1];

		if ((b & 0xC0) != 0x80)
		{
			int			l = (b < 0x80) ? 1 : pg_utf_mblen(&b);

			return (j - 1 + l > len) ? j - 1 : len;
		}
	}
	return len;
}

/* Adds bytes to the record, keeping only its start once it is too long. */
static void
rec_append(FtReader *r, const char *p, size_t n)
{
	size_t		keep;

	if (n == 0)
		return;
	r->rec_total += n;
	if (r->rec_oversized)
		return;
	if (r->rec_total <= r->cap)
	{
		appendBinaryStringInfo(&r->rec, p, n);
		return;
	}

	r->rec_oversized = true;
	if ((size_t) r->rec.len < FT_REJECT_KEEP_BYTES)
		appendBinaryStringInfo(&r->rec, p,
							   Min(n, FT_REJECT_KEEP_BYTES - r->rec.len));
	keep = Min((size_t) r->rec.len, FT_REJECT_KEEP_BYTES);
	keep = utf8_clip(r->rec.data, keep);
	r->rec.len = keep;
	r->rec.data[keep] = '\0';
}

/* Hands the current record to the caller. */
static void
rec_emit(FtReader *r, FtRecord *out, FtRecordStatus status)
{
	if (!r->rec_oversized)
	{
		/* trailing blanks belong to no record */
		while (r->rec.len > 0 && IS_JSON_SPACE(r->rec.data[r->rec.len - 1]))
			r->rec.len--;
		r->rec.data[r->rec.len] = '\0';
	}

	r->ordinal++;
	if (r->ordinal > PG_INT32_MAX || r->rec_line > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("input \"%s\" has too many records or lines",
						r->name),
				 errdetail("Record ordinals and line numbers are limited to %d.",
						   PG_INT32_MAX)));

	out->ordinal = (int32) r->ordinal;
	out->line = (int32) r->rec_line;
	out->status = r->rec_oversized ? FT_RECORD_OVERSIZED : status;
	out->data = r->rec.data;
	out->len = r->rec.len;
	out->total_len = r->rec_total;
}

/* Starts an array element (or stray text where one was expected). */
static void
elem_begin(FtReader *r, char c)
{
	rec_begin(r);
	r->elem_container = (c == '{' || c == '[');
	r->depth = 0;
	r->in_string = false;
	r->escape = false;
	r->after_comma = false;
	r->state = S_ARRAY_ELEM;
}

/*
 * Hands a comma that stands where no element is as a record of its own:
 * on_line is the line the comma is on.
 */
static void
stray_comma(FtReader *r, FtRecord *out, FtRecordStatus status,
			int64 on_line)
{
	rec_begin(r);
	r->rec_line = on_line;
	rec_append(r, ",", 1);
	rec_emit(r, out, status);
	r->after_comma = false;
}

/*
 * Scans the current chunk from chunk_pos; true when a record is complete,
 * with chunk_pos just past it.
 */
static bool
scan(FtReader *r, FtRecord *out)
{
	const char *p = r->chunk;
	size_t		n = r->chunk_len;
	size_t		i = r->chunk_pos;

	while (i < n)
	{
		char		c = p[i];

		switch (r->state)
		{
			case S_BOM:
				if ((unsigned char) c == utf8_bom[r->bom_seen])
				{
					i++;
					if (++r->bom_seen == 3)
						r->state = S_START;
					break;
				}
				if (r->bom_seen == 0)
				{
					r->state = S_START;
					break;
				}
				/* a broken BOM is content: a JSONL record that will fail */
				rec_begin(r);
				rec_append(r, (const char *) utf8_bom, r->bom_seen);
				r->state = S_LINE;
				break;

			case S_START:
			case S_LINE_START:
				if (IS_JSON_SPACE(c))
				{
					count_line(r, c);
					i++;
				}
				else if (c == '[' && r->state == S_START)
				{
					r->is_array = true;
					r->state = S_ARRAY_EXPECT;
					i++;
				}
				else
				{
					rec_begin(r);
					r->state = S_LINE;
				}
				break;

			case S_LINE:
				{
					const char *nl = memchr(p + i, '\n', n - i);
					const char *cr = memchr(p + i, '\r',
											(nl ? nl : p + n) - (p + i));
					const char *eol = cr ? cr : nl;

					r->after_cr = false;
					if (eol == NULL)
					{
						rec_append(r, p + i, n - i);
						i = n;
						break;
					}
					rec_append(r, p + i, eol - (p + i));
					i = eol - p + 1;
					rec_emit(r, out, FT_RECORD_OK);
					count_line(r, *eol);
					r->state = S_LINE_START;
					r->chunk_pos = i;
					return true;
				}

			case S_ARRAY_EXPECT:
			case S_ARRAY_AFTER:
				if (IS_JSON_SPACE(c))
				{
					count_line(r, c);
					i++;
				}
				else if (c == ',' && r->state == S_ARRAY_AFTER)
				{
					r->state = S_ARRAY_EXPECT;
					r->after_comma = true;
					r->comma_line = r->line;
					i++;
				}
				else if (c == ',')
				{
					/* "[," or ",,": the comma stands where an element is due */
					stray_comma(r, out, FT_RECORD_EMPTY, r->line);
					r->after_cr = false;
					r->chunk_pos = i + 1;
					return true;
				}
				else if (c == ']')
				{
					r->state = S_ARRAY_END;
					r->after_cr = false;
					i++;
					if (r->after_comma)
					{
						stray_comma(r, out, FT_RECORD_TRAILING_COMMA,
									r->comma_line);
						r->chunk_pos = i;
						return true;
					}
				}
				else
				{
					r->after_cr = false;
					elem_begin(r, c);
				}
				break;

			case S_ARRAY_ELEM:
				{
					size_t		start = i;

					for (; i < n; i++)
					{
						c = p[i];
						count_line(r, c);
						if (r->in_string)
						{
							if (r->escape)
								r->escape = false;
							else if (c == '\\')
								r->escape = true;
							else if (c == '"')
								r->in_string = false;
							continue;
						}
						if (c == '"')
							r->in_string = true;
						else if (c == '{' || c == '[')
							r->depth++;
						else if (c == '}' || c == ']')
						{
							if (r->depth > 0)
							{
								if (--r->depth == 0 && r->elem_container)
								{
									rec_append(r, p + start, i + 1 - start);
									rec_emit(r, out, FT_RECORD_OK);
									r->state = S_ARRAY_AFTER;
									r->chunk_pos = i + 1;
									return true;
								}
							}
							else if (c == ']')
							{
								/* the array's end closes a stray scalar */
								rec_append(r, p + start, i - start);
								rec_emit(r, out, FT_RECORD_OK);
								r->state = S_ARRAY_END;
								r->chunk_pos = i + 1;
								return true;
							}
						}
						else if (c == ',' && r->depth == 0)
						{
							rec_append(r, p + start, i - start);
							rec_emit(r, out, FT_RECORD_OK);
							r->state = S_ARRAY_EXPECT;
							r->after_comma = true;
							r->comma_line = r->line;
							r->chunk_pos = i + 1;
							return true;
						}
					}
					rec_append(r, p + start, n - start);
					break;
				}

			case S_ARRAY_END:
				if (IS_JSON_SPACE(c))
				{
					count_line(r, c);
					i++;
				}
				else
				{
					r->after_cr = false;
					rec_begin(r);
					r->state = S_TRAILING;
				}
				break;

			case S_TRAILING:
				{
					size_t		j;

					for (j = i; j < n; j++)
						count_line(r, p[j]);
					rec_append(r, p + i, n - i);
					i = n;
					break;
				}

			case S_DONE:
				i = n;
				break;
		}
	}

	r->chunk_pos = i;
	return false;
}

/* At the end of the input: yields what was left open, once. */
static bool
finish(FtReader *r, FtRecord *out)
{
	FtScanState	state = r->state;

	r->state = S_DONE;
	switch (state)
	{
		case S_BOM:
			if (r->bom_seen == 0)
				return false;
			rec_begin(r);
			rec_append(r, (const char *) utf8_bom, r->bom_seen);
			rec_emit(r, out, FT_RECORD_OK);
			return true;
		case S_LINE:
			rec_emit(r, out, FT_RECORD_OK);
			return true;
		case S_ARRAY_EXPECT:
		case S_ARRAY_AFTER:
			rec_begin(r);
			rec_emit(r, out, FT_RECORD_UNCLOSED);
			return true;
		case S_ARRAY_ELEM:
			rec_emit(r, out, FT_RECORD_TRUNCATED);
			return true;
		case S_TRAILING:
			rec_emit(r, out, FT_RECORD_TRAILING);
			return true;
		case S_START:
		case S_LINE_START:
		case S_ARRAY_END:
		case S_DONE:
			return false;
	}
	return false;				/* keep compiler quiet */
}

bool
ft_reader_next(FtReader *reader, FtRecord *rec)
{
	for (;;)
	{
		if (reader->state == S_DONE)
			return false;
		if (reader->chunk_pos >= reader->chunk_len)
		{
			CHECK_FOR_INTERRUPTS();
			if (reader->eof || !next_chunk(reader))
			{
				reader->eof = true;
				return finish(reader, rec);
			}
		}
		if (scan(reader, rec))
			return true;
	}
}

void
ft_record_check(const FtRecord *rec)
{
	switch (rec->status)
	{
		case FT_RECORD_OK:
			break;
		case FT_RECORD_OVERSIZED:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("record is too large"),
					 errdetail("The record is " UINT64_FORMAT " bytes; ftstore.max_sample_bytes allows %d.",
							   rec->total_len, ft_max_sample_bytes),
					 errhint("Only its first %d bytes are kept here.",
							 FT_REJECT_KEEP_BYTES)));
			break;
		case FT_RECORD_TRUNCATED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("input ends inside a record"),
					 errdetail("The JSON array ends before this element is complete; the file may be truncated.")));
			break;
		case FT_RECORD_UNCLOSED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("JSON array is not closed"),
					 errdetail("The input ends without the array's closing \"]\"; the file may be truncated.")));
			break;
		case FT_RECORD_TRAILING:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("unexpected text after the end of the JSON array")));
			break;
		case FT_RECORD_EMPTY:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("empty element in JSON array"),
					 errdetail("A comma stands where an array element should be; JSON has no empty elements.")));
			break;
		case FT_RECORD_TRAILING_COMMA:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("trailing comma in JSON array"),
					 errdetail("A comma comes just before the array's closing \"]\"; no record was lost.")));
			break;
	}
}

/*
 * Valid UTF-8 is copied; any other byte, and NUL, becomes \xNN so that a
 * text column can hold it.  In a database of another encoding every
 * non-ASCII byte is escaped, since converting could fail again.
 */
void
ft_append_escaped_bytes(StringInfo buf, const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *) data;
	const unsigned char *end = p + len;
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);

	while (p < end)
	{
		const unsigned char *run = p;
		int			l;

		while (p < end && *p != 0 && *p < 0x80)
			p++;
		if (p > run)
			appendBinaryStringInfo(buf, (const char *) run, p - run);
		if (p >= end)
			break;

		if (*p != 0 && utf8)
		{
			l = pg_utf_mblen(p);
			if (l <= end - p && pg_utf8_islegal(p, l))
			{
				appendBinaryStringInfo(buf, (const char *) p, l);
				p += l;
				continue;
			}
		}
		appendStringInfo(buf, "\\x%02X", *p);
		p++;
	}
}

text *
ft_record_raw_text(const FtRecord *rec)
{
	StringInfoData buf;
	text	   *result;

	initStringInfo(&buf);
	ft_append_escaped_bytes(&buf, rec->data, rec->len);
	result = cstring_to_text_with_len(buf.data, buf.len);
	pfree(buf.data);
	return result;
}

void
ft_check_server_file_access(const char *path, bool for_write)
{
	if (for_write)
	{
		if (!superuser() &&
			!has_privs_of_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to write server file \"%s\"",
							path),
					 errdetail("Only superusers and roles with privileges of the \"%s\" role may write files on the server.",
							   "pg_write_server_files")));
	}
	else
	{
		if (!superuser() &&
			!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to read server file \"%s\"",
							path),
					 errdetail("Only superusers and roles with privileges of the \"%s\" role may read files on the server.",
							   "pg_read_server_files"),
					 errhint("Clients can send the file's contents to ftstore.import_data() instead.")));
	}

	if (!is_absolute_path(path))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relative path not allowed: \"%s\"", path),
				 errdetail("Server files are named by absolute paths.")));
}

/*
 * ftstore.read_records(path): the records of a server file as the reader
 * splits them, for looking into a file that will not import.
 */
PG_FUNCTION_INFO_V1(ft_read_records);

Datum
ft_read_records(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(0));
	FtReader   *reader;
	FtRecord	rec;

	ft_check_server_file_access(path, false);
	InitMaterializedSRF(fcinfo, 0);

	reader = ft_reader_open_file(path);
	while (ft_reader_next(reader, &rec))
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		text	   *raw = ft_record_raw_text(&rec);

		values[0] = Int32GetDatum(rec.ordinal);
		values[1] = Int32GetDatum(rec.line);
		values[2] = PointerGetDatum(raw);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 values, nulls);
		pfree(raw);
	}
	ft_reader_close(reader);

	return (Datum) 0;
}
