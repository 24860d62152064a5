/*-------------------------------------------------------------------------
 *
 * export.c
 *	  ftstore.export() and ftstore.export_file(): a dataset's samples as
 *	  JSON lines in a chosen format, to the client or to a server file.
 *
 * Samples come out in id order, which is import order, so exporting what
 * was imported gives the records back in the order they were read.  A
 * server file is written under a temporary name and renamed into place
 * when complete, so that a failed export never leaves a short file that
 * looks like a whole one.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "etl/reader.h"
#include "sample/ftsample.h"
#include "tier/tier.h"

/* Rows fetched from the cursor at a time. */
#define EXPORT_BATCH	1000

/* Uncompressed bytes gathered before a write. */
#define SINK_BUFFER		(256 * 1024)

/* Operators spelt out, so that nothing on the search path can stand in. */
static const char *const export_query =
"SELECT s.sample FROM ftstore.samples s"
" WHERE s.dataset_id OPERATOR(pg_catalog.=) $1"
"   AND ($2 OR NOT EXISTS ("
"        SELECT 1 FROM ftstore.duplicates m"
"        WHERE m.dataset_id OPERATOR(pg_catalog.=) s.dataset_id"
"          AND m.sample_id OPERATOR(pg_catalog.=) s.id))"
" ORDER BY s.id";

typedef void (*ExportEmit) (void *arg, const char *line, int len);

typedef enum SinkCompression
{
	SINK_NONE,
	SINK_GZIP,
	SINK_ZSTD
} SinkCompression;

typedef struct FileSink
{
	MemoryContextCallback cleanup;
	char	   *path;
	char	   *tmppath;
	int			fd;
	bool		renamed;
	SinkCompression compression;
	z_stream	zs;
	bool		zs_live;
	ZSTD_CStream *zcs;
	char	   *out;
	StringInfoData pending;
} FileSink;

static FtFormat
export_format(const char *name)
{
	int			f = ft_format_from_name(name);

	if (f < 0 || f == FT_FORMAT_AUTO)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized export format \"%s\"", name),
				 errhint("Valid formats are openai, alpaca, sharegpt and text.")));
	return (FtFormat) f;
}

/*
 * Renders every sample of the dataset, in id order, passing each line
 * (without its newline) to emit.  With media_dir, the blobs the samples
 * reference are written there (media.c) and named by relative path.
 * Returns the number of lines.
 */
static int64
export_scan(text *dataset, FtFormat format, bool include_duplicates,
			const char *media_dir, ExportEmit emit, void *arg)
{
	Oid			argtypes[2];
	Datum		args[2];
	bool		isnull;
	Datum		dataset_id;
	Portal		portal;
	MemoryContext row_cxt;
	MemoryContext oldcxt;
	StringInfoData line;
	int64		count = 0;
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	argtypes[0] = TEXTOID;
	args[0] = PointerGetDatum(dataset);
	ret = SPI_execute_with_args("SELECT ftstore.dataset_id($1)",
								1, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not look up dataset: %s",
			 SPI_result_code_string(ret));
	dataset_id = SPI_getbinval(SPI_tuptable->vals[0],
							   SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "ftstore.dataset_id returned null");

	argtypes[0] = INT4OID;
	argtypes[1] = BOOLOID;
	args[0] = dataset_id;
	args[1] = BoolGetDatum(include_duplicates);
	portal = SPI_cursor_open_with_args(NULL, export_query,
									   2, argtypes, args, NULL, true, 0);

	initStringInfo(&line);
	row_cxt = AllocSetContextCreate(CurrentMemoryContext,
									"ftstore export row",
									ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		uint64		i;
		uint64		nrows;
		SPITupleTable *rows;

		SPI_cursor_fetch(portal, true, EXPORT_BATCH);
		if (SPI_processed == 0)
			break;

		/* kept: writing media runs queries that replace SPI_tuptable */
		nrows = SPI_processed;
		rows = SPI_tuptable;
		for (i = 0; i < nrows; i++)
		{
			Datum		d;
			FtSample   *sample;

			oldcxt = MemoryContextSwitchTo(row_cxt);
			d = SPI_getbinval(rows->vals[i], rows->tupdesc, 1, &isnull);
			if (isnull)
				elog(ERROR, "sample is null");
			sample = ft_sample_from_datum(d);
			if (media_dir != NULL)
				ft_tier_export_media(sample, media_dir);
			resetStringInfo(&line);
			ft_write_rendered(&line, sample, format);
			MemoryContextSwitchTo(oldcxt);

			/* a raw newline would split the record in two */
			if (memchr(line.data, '\n', line.len) != NULL)
				elog(ERROR, "rendered sample contains a newline");

			emit(arg, line.data, line.len);
			count++;
			MemoryContextReset(row_cxt);
		}
		SPI_freetuptable(rows);
		CHECK_FOR_INTERRUPTS();
	}

	SPI_cursor_close(portal);
	SPI_finish();
	return count;
}

static void
emit_row(void *arg, const char *line, int len)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	Datum		value = PointerGetDatum(cstring_to_text_with_len(line, len));
	bool		isnull = false;

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	pfree(DatumGetPointer(value));
}

/*
 * ftstore.export(dataset, format, include_duplicates): one JSON line per
 * sample.  Only active samples unless duplicates are asked for.
 */
PG_FUNCTION_INFO_V1(ft_export);

Datum
ft_export(PG_FUNCTION_ARGS)
{
	text	   *dataset = PG_GETARG_TEXT_PP(0);
	FtFormat	format = export_format(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	bool		include_duplicates = PG_GETARG_BOOL(2);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	export_scan(dataset, format, include_duplicates, NULL, emit_row, rsinfo);
	return (Datum) 0;
}

/* Error cleanup: nothing of a failed export stays behind. */
static void
sink_cleanup(void *arg)
{
	FileSink   *sink = (FileSink *) arg;

	if (sink->zs_live)
	{
		deflateEnd(&sink->zs);
		sink->zs_live = false;
	}
	if (sink->zcs != NULL)
	{
		ZSTD_freeCStream(sink->zcs);
		sink->zcs = NULL;
	}
	if (sink->fd >= 0)
	{
		close(sink->fd);
		sink->fd = -1;
	}
	if (!sink->renamed && sink->tmppath != NULL)
	{
		unlink(sink->tmppath);
		sink->tmppath = NULL;
	}
}

static void
sink_write(FileSink *sink, const char *p, size_t n)
{
	while (n > 0)
	{
		ssize_t		w;

		errno = 0;
		w = write(sink->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
		{
			/* a short write without errno means the disk is full */
			if (errno == 0)
				errno = ENOSPC;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write file \"%s\": %m",
							sink->tmppath)));
		}
		p += w;
		n -= w;
	}
}

/* Compresses and writes what is pending; finish ends the stream. */
static void
sink_flush(FileSink *sink, bool finish)
{
	switch (sink->compression)
	{
		case SINK_NONE:
			sink_write(sink, sink->pending.data, sink->pending.len);
			break;

		case SINK_GZIP:
			{
				int			ret;

				sink->zs.next_in = (Bytef *) sink->pending.data;
				sink->zs.avail_in = sink->pending.len;
				do
				{
					sink->zs.next_out = (Bytef *) sink->out;
					sink->zs.avail_out = SINK_BUFFER;
					ret = deflate(&sink->zs, finish ? Z_FINISH : Z_NO_FLUSH);
					if (ret == Z_STREAM_ERROR)
						elog(ERROR, "could not compress gzip data");
					sink_write(sink, sink->out,
							   SINK_BUFFER - sink->zs.avail_out);
				} while (sink->zs.avail_out == 0 ||
						 (finish && ret != Z_STREAM_END));
				break;
			}

		case SINK_ZSTD:
			{
				ZSTD_inBuffer in = {sink->pending.data, sink->pending.len, 0};
				size_t		remaining;

				do
				{
					ZSTD_outBuffer out = {sink->out, SINK_BUFFER, 0};

					remaining = ZSTD_compressStream2(sink->zcs, &out, &in,
													 finish ? ZSTD_e_end :
													 ZSTD_e_continue);
					if (ZSTD_isError(remaining))
						ereport(ERROR,
								(errcode(ERRCODE_INTERNAL_ERROR),
								 errmsg("could not compress zstd data: %s",
										ZSTD_getErrorName(remaining))));
					sink_write(sink, sink->out, out.pos);
				} while (in.pos < in.size || (finish && remaining > 0));
				break;
			}
	}
	resetStringInfo(&sink->pending);
}

static void
emit_file(void *arg, const char *line, int len)
{
	FileSink   *sink = (FileSink *) arg;

	appendBinaryStringInfo(&sink->pending, line, len);
	appendStringInfoChar(&sink->pending, '\n');
	if (sink->pending.len >= SINK_BUFFER)
		sink_flush(sink, false);
}

static SinkCompression
sink_compression(const char *name)
{
	if (pg_strcasecmp(name, "none") == 0)
		return SINK_NONE;
	if (pg_strcasecmp(name, "gzip") == 0)
		return SINK_GZIP;
	if (pg_strcasecmp(name, "zstd") == 0)
		return SINK_ZSTD;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized compression \"%s\"", name),
			 errhint("Valid compressions are none, gzip and zstd.")));
	return SINK_NONE;			/* keep compiler quiet */
}

/*
 * ftstore.export_file(dataset, path, format, compression): the export as
 * a JSONL file on the server, byte for byte what ftstore.export() returns
 * with a newline after each line.  Returns the number of lines.
 */
PG_FUNCTION_INFO_V1(ft_export_file);

Datum
ft_export_file(PG_FUNCTION_ARGS)
{
	text	   *dataset = PG_GETARG_TEXT_PP(0);
	char	   *path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	FtFormat	format;
	SinkCompression compression;
	MemoryContext cxt;
	MemoryContext oldcxt;
	FileSink   *sink;
	int64		count;
	mode_t		oldumask;
	int			save_errno;
	struct stat st;
	char	   *media_dir = NULL;

	ft_check_server_file_access(path, true);
	format = export_format(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	compression = sink_compression(text_to_cstring(PG_GETARG_TEXT_PP(3)));

	/* find out now, not after rendering the whole dataset */
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is a directory", path)));

	cxt = AllocSetContextCreate(CurrentMemoryContext, "ftstore export file",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	sink = palloc0(sizeof(FileSink));
	sink->fd = -1;
	sink->path = pstrdup(path);
	sink->compression = compression;
	sink->out = palloc(SINK_BUFFER);
	initStringInfo(&sink->pending);
	sink->cleanup.func = sink_cleanup;
	sink->cleanup.arg = sink;
	MemoryContextRegisterResetCallback(cxt, &sink->cleanup);

	sink->tmppath = psprintf("%s.ftstore-tmp.%d", path, MyProcPid);
	MemoryContextSwitchTo(oldcxt);

	/*
	 * Readable by all, as COPY TO makes its files: the server's own umask
	 * would keep an exported dataset from whoever is to train on it.
	 */
	oldumask = umask(S_IWGRP | S_IWOTH);
	sink->fd = BasicOpenFilePerm(sink->tmppath,
								 O_WRONLY | O_CREAT | O_EXCL | PG_BINARY,
								 S_IRUSR | S_IWUSR | S_IRGRP | S_IROTH);
	save_errno = errno;
	umask(oldumask);
	errno = save_errno;
	if (sink->fd < 0)
	{
		/* not ours: the callback must not remove it */
		char	   *tmppath = sink->tmppath;

		sink->tmppath = NULL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", tmppath)));
	}

	if (compression == SINK_GZIP)
	{
		/* 16 + MAX_WBITS: write a gzip header and trailer */
		if (deflateInit2(&sink->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
						 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not set up gzip compression")));
		sink->zs_live = true;
	}
	else if (compression == SINK_ZSTD)
	{
		sink->zcs = ZSTD_createCStream();
		if (sink->zcs == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not set up zstd compression")));
	}

	if (ft_export_media)
	{
		media_dir = pstrdup(path);
		get_parent_directory(media_dir);
		if (media_dir[0] == '\0')
			media_dir = ".";
	}
	count = export_scan(dataset, format, PG_GETARG_BOOL(4), media_dir,
						emit_file, sink);
	sink_flush(sink, true);

	if (close(sink->fd) != 0)
	{
		sink->fd = -1;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", sink->tmppath)));
	}
	sink->fd = -1;
	if (rename(sink->tmppath, sink->path) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename file \"%s\" to \"%s\": %m",
						sink->tmppath, sink->path)));
	sink->renamed = true;
	MemoryContextDelete(cxt);

	PG_RETURN_INT64(count);
}
