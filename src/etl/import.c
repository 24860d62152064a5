/*-------------------------------------------------------------------------
 *
 * import.c
 *	  ftstore.import_file() and ftstore.import_data(): load the records of
 *	  a file or a client's buffer into ftstore.samples, and keep each one
 *	  that cannot be a sample in ftstore.rejects with the reason.
 *
 * A bad record must not stop the import, so each record is parsed inside
 * an internal subtransaction, the way PL/pgSQL runs an exception block.
 * The subtransaction does the parse and nothing else: it writes nothing,
 * so it is never assigned a transaction ID and costs no more than its
 * bookkeeping.  All writes happen outside it through plans prepared once
 * per call.
 *
 * Imports are idempotent on (dataset, source, record): a record already
 * stored is left alone and counted as skipped, so an interrupted import
 * can simply be run again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "util/subxact.h"
#include "etl/reader.h"
#include "sample/ftsample.h"
#include "tier/tier.h"

/* How often an import says how far it got, at DEBUG1. */
#define PROGRESS_EVERY 50000

/*
 * Good samples are inserted by the batch: one INSERT ... SELECT FROM
 * unnest() per batch costs one executor start-up instead of one per
 * record, which is most of what a single-row insert costs.
 */
#define BATCH_RECORDS	1000
#define BATCH_BYTES		(16 * 1024 * 1024)

/*
 * The records a source already has, in order; it follows the unique index
 * on (dataset_id, source, record).  Operators are spelt out so that
 * nothing on the search path can stand in.
 */
static const char *const stored_query =
"SELECT s.record FROM ftstore.samples s"
" WHERE s.dataset_id OPERATOR(pg_catalog.=) $1"
"   AND s.source OPERATOR(pg_catalog.=) $2"
"   AND s.record IS NOT NULL"
" ORDER BY s.record";

typedef struct ImportState
{
	const char *source_name;
	Datum		source;			/* text */
	Datum		dataset_id;		/* int4 */
	Datum		labels;			/* jsonb object, given to every sample */
	FtFormat	hint;
	bool		server_encoded; /* input is text, already verified */
	const char *media_dir;		/* where relative media paths resolve, or
								 * NULL to keep them as they are */
	SPIPlanPtr	insert_samples;
	SPIPlanPtr	insert_reject;
	MemoryContext record_cxt;	/* reset after every record */

	/* good samples waiting to be inserted together */
	MemoryContext batch_cxt;
	Oid			sample_type;
	int16		sample_typlen;
	bool		sample_typbyval;
	char		sample_typalign;
	int			nbatch;
	Size		batch_bytes;
	Datum		batch_samples[BATCH_RECORDS];
	Datum		batch_records[BATCH_RECORDS];
	Datum		batch_lines[BATCH_RECORDS];

	/* ordinals this source already has in the dataset, ascending */
	Portal		stored;
	int32	   *stored_ords;
	int			nstored;
	int			stored_pos;
	bool		stored_done;

	int64		read;
	int64		imported;
	int64		rejected;
	int64		skipped;
} ImportState;

static FtFormat
import_format(const char *name)
{
	int			f = ft_format_from_name(name);

	if (f < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized sample format \"%s\"", name),
				 errhint("Valid formats are auto, openai, alpaca, sharegpt and text.")));
	return (FtFormat) f;
}

/*
 * The labels argument of an import: an object, as samples.labels must be,
 * checked before anything is read so that a wrong call stores nothing.
 */
static Datum
import_labels(FunctionCallInfo fcinfo, int argno)
{
	Jsonb	   *labels = PG_GETARG_JSONB_P(argno);

	if (!JB_ROOT_IS_OBJECT(labels) || JB_ROOT_IS_SCALAR(labels))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("labels must be a JSON object"),
				 errdetail("Labels are key/value pairs stored in samples.labels.")));
	return JsonbPGetDatum(labels);
}

static Oid
ftsample_type_oid(void)
{
	Oid			nsp = get_namespace_oid("ftstore", false);
	Oid			typid;

	typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
							CStringGetDatum("ftsample"),
							ObjectIdGetDatum(nsp));
	if (!OidIsValid(typid))
		elog(ERROR, "type ftstore.ftsample does not exist");
	return typid;
}

static SPIPlanPtr
prepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s",
			 sql, SPI_result_code_string(SPI_result));
	return plan;
}

typedef struct ParseWork
{
	ImportState *st;
	const FtRecord *rec;
	Datum		result;
} ParseWork;

static void
parse_work(void *arg)
{
	ParseWork  *w = (ParseWork *) arg;
	ImportState *st = w->st;
	const char *json = w->rec->data;
	size_t		len = w->rec->len;

	ft_record_check(w->rec);
	if (!st->server_encoded)
	{
		/* raises on invalid UTF-8, NUL included */
		json = pg_any_to_server(json, (int) len, PG_UTF8);
		if (json != w->rec->data)
			len = strlen(json);
	}
	w->result = ft_sample_from_text(json, len, st->hint);
	if (st->media_dir)
		w->result = ft_tier_import_media(w->result, st->media_dir,
										 DatumGetInt32(st->dataset_id));
	ft_blob_check_claims(w->result, DatumGetInt32(st->dataset_id));
}

/*
 * Parses one record in a subtransaction.  Returns the stored sample, or
 * (Datum) 0 with *error set.  Both live in the record context.
 */
static Datum
parse_record(ImportState *st, const FtRecord *rec, ErrorData **error)
{
	ParseWork	w = {st, rec, (Datum) 0};

	MemoryContextSwitchTo(st->record_cxt);
	*error = ft_run_in_subxact(parse_work, &w, true);
	return *error ? (Datum) 0 : w.result;
}

/*
 * Whether the dataset already holds this source's record.  Ordinals only
 * grow as the input is read, so the stored ones are read alongside it in
 * order, a batch at a time: a re-import costs a read of the file and an
 * index scan, no parsing and no inserts.
 */
static bool
already_stored(ImportState *st, int32 ordinal)
{
	for (;;)
	{
		uint64		i;

		while (st->stored_pos < st->nstored &&
			   st->stored_ords[st->stored_pos] < ordinal)
			st->stored_pos++;
		if (st->stored_pos < st->nstored)
			return st->stored_ords[st->stored_pos] == ordinal;
		if (st->stored_done)
			return false;

		SPI_cursor_fetch(st->stored, true, BATCH_RECORDS);
		if (SPI_processed == 0)
		{
			st->stored_done = true;
			SPI_cursor_close(st->stored);
			st->stored = NULL;
			continue;
		}
		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			st->stored_ords[i] =
				DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
											SPI_tuptable->tupdesc, 1,
											&isnull));
		}
		st->nstored = (int) SPI_processed;
		st->stored_pos = 0;
		SPI_freetuptable(SPI_tuptable);
	}
}

static void
flush_samples(ImportState *st)
{
	Datum		values[6];
	int			ret;

	if (st->nbatch == 0)
		return;

	values[0] = st->dataset_id;
	values[1] = PointerGetDatum(construct_array(st->batch_samples, st->nbatch,
												st->sample_type,
												st->sample_typlen,
												st->sample_typbyval,
												st->sample_typalign));
	values[2] = st->source;
	values[3] = PointerGetDatum(construct_array(st->batch_records, st->nbatch,
												INT4OID, sizeof(int32), true,
												TYPALIGN_INT));
	values[4] = PointerGetDatum(construct_array(st->batch_lines, st->nbatch,
												INT4OID, sizeof(int32), true,
												TYPALIGN_INT));
	values[5] = st->labels;

	ret = SPI_execute_plan(st->insert_samples, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert samples: %s",
			 SPI_result_code_string(ret));

	/*
	 * Rows that conflicted were imported by an earlier call.
	 *
	 * XXX A record that an earlier call rejected and this one imports (say
	 * after ftstore.max_sample_bytes was raised) keeps its old reject row;
	 * deleting it here would cost a statement per batch for a rare case.
	 */
	st->imported += SPI_processed;
	st->skipped += st->nbatch - SPI_processed;

	st->nbatch = 0;
	st->batch_bytes = 0;
	MemoryContextReset(st->batch_cxt);
}

static void
add_sample(ImportState *st, const FtRecord *rec, Datum sample)
{
	Size		size = VARSIZE_ANY(DatumGetPointer(sample));
	void	   *copy = MemoryContextAlloc(st->batch_cxt, size);

	memcpy(copy, DatumGetPointer(sample), size);
	st->batch_samples[st->nbatch] = PointerGetDatum(copy);
	st->batch_records[st->nbatch] = Int32GetDatum(rec->ordinal);
	st->batch_lines[st->nbatch] = Int32GetDatum(rec->line);
	st->nbatch++;
	st->batch_bytes += size;

	if (st->nbatch >= BATCH_RECORDS || st->batch_bytes >= BATCH_BYTES)
		flush_samples(st);
}

static void
store_reject(ImportState *st, const FtRecord *rec, ErrorData *edata)
{
	Datum		values[9];
	char		nulls[9];
	int			ret;

	memset(nulls, ' ', sizeof(nulls));

	values[0] = st->dataset_id;
	values[1] = st->source;
	values[2] = Int32GetDatum(rec->ordinal);
	values[3] = Int32GetDatum(rec->line);
	values[4] = PointerGetDatum(ft_record_raw_text(rec));
	values[5] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	values[6] = CStringGetTextDatum(edata->message ? edata->message
									: "unknown error");
	if (edata->detail)
		values[7] = CStringGetTextDatum(edata->detail);
	else
		nulls[7] = 'n';
	if (edata->column_name)
		values[8] = CStringGetTextDatum(edata->column_name);
	else
		nulls[8] = 'n';

	ret = SPI_execute_plan(st->insert_reject, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert reject: %s",
			 SPI_result_code_string(ret));

	/* an existing reject row means the record failed before; still bad */
	st->rejected++;
}

/*
 * The body shared by import_file and import_data: reads every record,
 * stores it or its reject, logs the call and returns the counts.
 */
static void
run_import(FunctionCallInfo fcinfo, text *dataset, text *source,
		   const char *format, FtFormat hint, Datum labels, FtReader *reader,
		   bool server_encoded, const char *media_dir)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz started_at = GetCurrentTimestamp();
	ImportState st;
	Oid			argtypes[9];
	Datum		args[8];
	bool		isnull;
	FtRecord	rec;
	MemoryContext oldcxt;
	int			ret;

	memset(&st, 0, sizeof(st));
	st.source_name = text_to_cstring(source);
	st.source = PointerGetDatum(source);
	st.hint = hint;
	st.labels = labels;
	st.server_encoded = server_encoded;
	st.media_dir = media_dir;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	argtypes[0] = TEXTOID;
	argtypes[1] = BOOLOID;
	args[0] = PointerGetDatum(dataset);
	args[1] = BoolGetDatum(true);
	ret = SPI_execute_with_args("SELECT ftstore.dataset_id($1, $2)",
								2, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not look up dataset: %s",
			 SPI_result_code_string(ret));
	st.dataset_id = SPI_getbinval(SPI_tuptable->vals[0],
								  SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "ftstore.dataset_id returned null");

	st.sample_type = ftsample_type_oid();
	get_typlenbyvalalign(st.sample_type, &st.sample_typlen,
						 &st.sample_typbyval, &st.sample_typalign);
	argtypes[0] = INT4OID;
	argtypes[1] = get_array_type(st.sample_type);
	argtypes[2] = TEXTOID;
	argtypes[3] = INT4ARRAYOID;
	argtypes[4] = INT4ARRAYOID;
	argtypes[5] = JSONBOID;
	if (!OidIsValid(argtypes[1]))
		elog(ERROR, "type ftstore.ftsample has no array type");
	st.insert_samples =
		prepare("INSERT INTO ftstore.samples"
				" (dataset_id, sample, source, record, line, labels)"
				" SELECT $1, u.sample, $3, u.record, u.line, $6"
				" FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($4),"
				" pg_catalog.unnest($5)) AS u (sample, record, line)"
				" ON CONFLICT (dataset_id, source, record) DO NOTHING",
				6, argtypes);

	argtypes[0] = INT4OID;
	argtypes[1] = TEXTOID;
	argtypes[2] = INT4OID;
	argtypes[3] = INT4OID;
	argtypes[4] = TEXTOID;
	argtypes[5] = TEXTOID;
	argtypes[6] = TEXTOID;
	argtypes[7] = TEXTOID;
	argtypes[8] = TEXTOID;
	st.insert_reject =
		prepare("INSERT INTO ftstore.rejects"
				" (dataset_id, source, record, line, raw,"
				"  error_code, message, detail, path)"
				" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
				" ON CONFLICT (dataset_id, source, record) DO NOTHING",
				9, argtypes);

	argtypes[0] = INT4OID;
	argtypes[1] = TEXTOID;
	args[0] = st.dataset_id;
	args[1] = st.source;
	st.stored = SPI_cursor_open_with_args(NULL, stored_query,
										  2, argtypes, args, NULL, false, 0);
	st.stored_ords = palloc(BATCH_RECORDS * sizeof(int32));

	st.record_cxt = AllocSetContextCreate(CurrentMemoryContext,
										  "ftstore import record",
										  ALLOCSET_DEFAULT_SIZES);
	st.batch_cxt = AllocSetContextCreate(CurrentMemoryContext,
										 "ftstore import batch",
										 ALLOCSET_DEFAULT_SIZES);

	oldcxt = MemoryContextSwitchTo(st.record_cxt);
	while (ft_reader_next(reader, &rec))
	{
		ErrorData  *edata;
		Datum		sample;

		st.read++;
		if (already_stored(&st, rec.ordinal))
			st.skipped++;
		else
		{
			sample = parse_record(&st, &rec, &edata);
			if (edata == NULL)
				add_sample(&st, &rec, sample);
			else
				store_reject(&st, &rec, edata);
		}

		MemoryContextReset(st.record_cxt);

		if (st.read % PROGRESS_EVERY == 0)
			ereport(DEBUG1,
					(errmsg_internal("ftstore import of \"%s\": " INT64_FORMAT " records read, "
									 INT64_FORMAT " imported, " INT64_FORMAT " rejected, "
									 INT64_FORMAT " skipped",
									 st.source_name, st.read, st.imported,
									 st.rejected, st.skipped)));
		CHECK_FOR_INTERRUPTS();
	}
	flush_samples(&st);
	if (st.stored != NULL)
		SPI_cursor_close(st.stored);
	MemoryContextSwitchTo(oldcxt);
	ereport(DEBUG1,
			(errmsg_internal("ftstore import of \"%s\": read as %s, compression %s",
							 st.source_name,
							 ft_reader_container(reader),
							 ft_reader_compression(reader))));
	ft_reader_close(reader);

	argtypes[0] = INT4OID;
	argtypes[1] = TEXTOID;
	argtypes[2] = TEXTOID;
	argtypes[3] = INT8OID;
	argtypes[4] = INT8OID;
	argtypes[5] = INT8OID;
	argtypes[6] = INT8OID;
	argtypes[7] = TIMESTAMPTZOID;
	{
		Datum		values[8];

		values[0] = st.dataset_id;
		values[1] = st.source;
		values[2] = CStringGetTextDatum(format);
		values[3] = Int64GetDatum(st.read);
		values[4] = Int64GetDatum(st.imported);
		values[5] = Int64GetDatum(st.rejected);
		values[6] = Int64GetDatum(st.skipped);
		values[7] = TimestampTzGetDatum(started_at);
		ret = SPI_execute_with_args("INSERT INTO ftstore.imports"
									" (dataset_id, source, format, records_read,"
									"  imported, rejected, skipped, started_at)"
									" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
									8, argtypes, values, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not log import: %s",
				 SPI_result_code_string(ret));
	}

	ereport(DEBUG1,
			(errmsg_internal("ftstore import of \"%s\" done: " INT64_FORMAT " records read, "
							 INT64_FORMAT " imported, " INT64_FORMAT " rejected, "
							 INT64_FORMAT " skipped",
							 st.source_name, st.read, st.imported,
							 st.rejected, st.skipped)));

	SPI_finish();

	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = Int64GetDatum(st.imported);
		values[1] = Int64GetDatum(st.rejected);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 values, nulls);
	}
}

/* The folder of a file, against which its relative media paths resolve. */
static char *
media_dir(const char *path)
{
	char	   *dir = pstrdup(path);

	get_parent_directory(dir);
	return dir[0] ? dir : pstrdup(".");
}

/*
 * ftstore.import_file(dataset, path, format, labels): a file on the
 * server, for superusers and members of pg_read_server_files.
 */
PG_FUNCTION_INFO_V1(ft_import_file);

Datum
ft_import_file(PG_FUNCTION_ARGS)
{
	text	   *dataset = PG_GETARG_TEXT_PP(0);
	text	   *path_text = PG_GETARG_TEXT_PP(1);
	char	   *format = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *path = text_to_cstring(path_text);
	FtFormat	hint;
	FtReader   *reader;

	Datum		labels;

	ft_check_server_file_access(path, false);
	hint = import_format(format);
	labels = import_labels(fcinfo, 3);
	InitMaterializedSRF(fcinfo, 0);

	reader = ft_reader_open_file(path);
	run_import(fcinfo, dataset, path_text, format, hint, labels, reader,
			   false, ft_import_media ? media_dir(path) : NULL);
	return (Datum) 0;
}

/*
 * ftstore.import_data(dataset, source, data bytea, format, labels): the
 * same over bytes a client sent, plain or compressed.  source names the
 * records the way a path does for import_file.
 */
PG_FUNCTION_INFO_V1(ft_import_data);

Datum
ft_import_data(PG_FUNCTION_ARGS)
{
	text	   *dataset = PG_GETARG_TEXT_PP(0);
	text	   *source = PG_GETARG_TEXT_PP(1);
	bytea	   *data = PG_GETARG_BYTEA_PP(2);
	char	   *format = text_to_cstring(PG_GETARG_TEXT_PP(3));
	FtFormat	hint = import_format(format);
	Datum		labels = import_labels(fcinfo, 4);
	FtReader   *reader;

	InitMaterializedSRF(fcinfo, 0);
	reader = ft_reader_open_buffer(VARDATA_ANY(data),
								   VARSIZE_ANY_EXHDR(data),
								   text_to_cstring(source));
	run_import(fcinfo, dataset, source, format, hint, labels, reader, false,
			   NULL);
	return (Datum) 0;
}

/*
 * The text overload: the server has already checked the encoding, and
 * the bytes are in the database's, not necessarily UTF-8.
 */
PG_FUNCTION_INFO_V1(ft_import_text);

Datum
ft_import_text(PG_FUNCTION_ARGS)
{
	text	   *dataset = PG_GETARG_TEXT_PP(0);
	text	   *source = PG_GETARG_TEXT_PP(1);
	text	   *data = PG_GETARG_TEXT_PP(2);
	char	   *format = text_to_cstring(PG_GETARG_TEXT_PP(3));
	FtFormat	hint = import_format(format);
	Datum		labels = import_labels(fcinfo, 4);
	FtReader   *reader;

	InitMaterializedSRF(fcinfo, 0);
	reader = ft_reader_open_buffer(VARDATA_ANY(data),
								   VARSIZE_ANY_EXHDR(data),
								   text_to_cstring(source));
	run_import(fcinfo, dataset, source, format, hint, labels, reader, true,
			   NULL);
	return (Datum) 0;
}
