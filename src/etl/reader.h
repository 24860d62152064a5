/*-------------------------------------------------------------------------
 *
 * reader.h
 *	  Streaming record reader for imports: JSONL or one JSON array, plain,
 *	  gzip or zstd, from a file on the server or a buffer in memory.
 *
 * The reader makes one pass in bounded memory.  It splits the input into
 * records without parsing them; deciding whether a record is a valid
 * sample is the parser's job.  What the reader alone can tell is wrong
 * with a record (too long, cut off by the end of the input) it reports in
 * the record's status, and ft_record_check() turns that into an error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FT_READER_H
#define FT_READER_H

#include "lib/stringinfo.h"

/* Bytes of an oversized record that are kept for its reject row. */
#define FT_REJECT_KEEP_BYTES	1024

typedef enum FtRecordStatus
{
	FT_RECORD_OK = 0,
	FT_RECORD_OVERSIZED,		/* longer than ft_max_sample_bytes; data holds
								 * its first FT_REJECT_KEEP_BYTES */
	FT_RECORD_TRUNCATED,		/* the input ended inside an array element */
	FT_RECORD_UNCLOSED,			/* no bytes: the input ended before the
								 * array's closing bracket */
	FT_RECORD_TRAILING,			/* text after the array's closing bracket */
	FT_RECORD_EMPTY,			/* a comma where an array element should be
								 * (",," or "[,"); data is the comma */
	FT_RECORD_TRAILING_COMMA	/* a comma just before the array's "]"; data
								 * is the comma */
} FtRecordStatus;

typedef struct FtRecord
{
	int32		ordinal;		/* 1-based */
	int32		line;			/* 1-based line its text starts on */
	FtRecordStatus status;
	const char *data;			/* NUL-terminated; valid until the next call */
	size_t		len;
	uint64		total_len;		/* full length, also when oversized */
} FtRecord;

typedef struct FtReader FtReader;

/*
 * The reader lives in its own memory context under the caller's current
 * one; deleting or resetting that context (as an error does) closes the
 * file and frees the decompressor, so callers need no PG_TRY.
 */
extern FtReader *ft_reader_open_file(const char *path);
extern FtReader *ft_reader_open_buffer(const char *data, size_t len,
									   const char *name);
extern bool ft_reader_next(FtReader *reader, FtRecord *rec);
extern void ft_reader_close(FtReader *reader);
extern const char *ft_reader_compression(const FtReader *reader);
extern const char *ft_reader_container(const FtReader *reader);

/* Raises the error that a record of a status other than OK stands for. */
extern void ft_record_check(const FtRecord *rec);

/* The record as text, invalid UTF-8 bytes written as \xNN. */
extern text *ft_record_raw_text(const FtRecord *rec);
extern void ft_append_escaped_bytes(StringInfo buf, const char *data,
									size_t len);

/* Privilege and path checks shared by every function on server files. */
extern void ft_check_server_file_access(const char *path, bool for_write);

#endif							/* FT_READER_H */
