/*-------------------------------------------------------------------------
 *
 * s3.c
 *	  The cold tier's object store on an S3-compatible service: its
 *	  settings, opening a store, and the five operations.
 *
 * Objects are written with PUT (or a multipart upload past a size), read
 * with GET, looked up with HEAD, removed with DELETE and listed with
 * ListObjectsV2.  How one request is signed, sent, retried and reported
 * is s3_request.c's; the signature itself is sigv4.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "tier/md5_lanes.h"
#include "tier/object_store.h"
#include "tier/s3.h"
#include "tier/sigv4.h"

/* How a bucket is named in a request: in the path or in the host name. */
typedef enum S3Addressing
{
	S3_ADDRESSING_PATH,
	S3_ADDRESSING_VIRTUAL
} S3Addressing;

static const struct config_enum_entry s3_addressing_options[] = {
	{"path", S3_ADDRESSING_PATH, false},
	{"virtual", S3_ADDRESSING_VIRTUAL, false},
	{NULL, 0, false}
};

/* S3 numbers parts from 1 to 10000. */
#define S3_MAX_PARTS		10000

/* An error body worth keeping is small; an object may be up to 1 GB. */
#define S3_ERROR_BODY_LIMIT	(64 * 1024)

/* Settings, defined in ft_s3_define_settings. */
char	   *ft_s3_endpoint = NULL;
char	   *ft_s3_region = NULL;
char	   *ft_s3_access_key_id = NULL;
char	   *ft_s3_secret_access_key = NULL;
char	   *ft_s3_ca_file = NULL;
int			ft_s3_connect_timeout = 10000;
int			ft_s3_timeout = 300000;
int			ft_s3_max_retries = 4;
int			ft_s3_retry_delay = 200;
static int	ft_s3_addressing = S3_ADDRESSING_PATH;
static int	ft_s3_multipart_threshold = 64 * 1024 * 1024;
static int	ft_s3_part_size = 16 * 1024 * 1024;
static int	ft_s3_list_max_keys = 1000;

/* Whether ftstore came in through shared_preload_libraries. */
static bool s3_preloaded = false;

static bool s3_put(FtObjectStore *store, const char *key,
				   const char *data, size_t len, const uint8 *md5);
static bool s3_get(FtObjectStore *store, const char *key, StringInfo out,
				   FtObjectTap tap, void *tap_arg);
static bool s3_head(FtObjectStore *store, const char *key, uint64 *size);
static bool s3_remove(FtObjectStore *store, const char *key);
static void s3_list(FtObjectStore *store, const char *prefix,
					FtObjectListCallback cb, void *arg);
static void s3_close(FtObjectStore *store);

static const FtObjectStoreOps s3_ops = {
	.put = s3_put,
	.get = s3_get,
	.head = s3_head,
	.remove = s3_remove,
	.list = s3_list,
	.close = s3_close,
};

/* ------------------------------------------------------------------------
 * Settings
 * ------------------------------------------------------------------------
 */

/*
 * The endpoint is scheme://host[:port] and nothing else: credentials never
 * go in a URL, and a path would make the signed path ambiguous.
 */
static bool
check_s3_endpoint(char **newval, void **extra, GucSource source)
{
	const char *v = *newval;
	const char *rest;

	if (v == NULL || v[0] == '\0')
		return true;
	if (strncmp(v, "http://", 7) == 0)
		rest = v + 7;
	else if (strncmp(v, "https://", 8) == 0)
		rest = v + 8;
	else
	{
		GUC_check_errdetail("The endpoint must start with http:// or https://.");
		return false;
	}
	if (rest[0] == '\0' || rest[0] == '/' || rest[0] == ':')
	{
		GUC_check_errdetail("The endpoint must name a host.");
		return false;
	}
	for (const char *p = rest; *p; p++)
	{
		if (*p == '/' && p[1] == '\0')
			break;
		if (!(isalnum((unsigned char) *p) || *p == '.' || *p == '-' ||
			  *p == ':' || *p == '[' || *p == ']'))
		{
			GUC_check_errdetail("The endpoint is scheme://host[:port] only, with no user, path or query.");
			return false;
		}
	}
	return true;
}

void
ft_s3_define_settings(void)
{
	s3_preloaded = process_shared_preload_libraries_in_progress;

	DefineCustomStringVariable("ftstore.s3_endpoint",
							   "Base URL of the S3-compatible service, as scheme://host[:port].",
							   "Empty (the default) means no S3 store can be opened.  No AWS host is assumed.",
							   &ft_s3_endpoint,
							   "",
							   PGC_SUSET,
							   0,
							   check_s3_endpoint, NULL, NULL);

	DefineCustomStringVariable("ftstore.s3_region",
							   "Region named in the SigV4 credential scope.",
							   NULL,
							   &ft_s3_region,
							   "us-east-1",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	/*
	 * The credentials: only a superuser may read them, and they stay out
	 * of SHOW ALL and pg_settings.  XXX Members of pg_read_all_settings can
	 * read them too, as PostgreSQL grants them every superuser-only
	 * setting; a credentials file would avoid that.
	 */
	DefineCustomStringVariable("ftstore.s3_access_key_id",
							   "Access key id that signs S3 requests.",
							   NULL,
							   &ft_s3_access_key_id,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("ftstore.s3_secret_access_key",
							   "Secret access key that signs S3 requests.",
							   NULL,
							   &ft_s3_secret_access_key,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	DefineCustomEnumVariable("ftstore.s3_addressing",
							 "How requests name the bucket: path (endpoint/bucket/key) or virtual (bucket.host/key).",
							 NULL,
							 &ft_s3_addressing,
							 S3_ADDRESSING_PATH,
							 s3_addressing_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("ftstore.s3_ca_file",
							   "File of CA certificates that verify the service's TLS certificate.",
							   "Empty means the system's CA bundle.  Verification is never turned off.",
							   &ft_s3_ca_file,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.s3_connect_timeout",
							"Longest wait for a connection to the S3 service.",
							"Valid range is 100 ms to 10 minutes.",
							&ft_s3_connect_timeout,
							10000,
							100, 600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.s3_timeout",
							"Longest time one S3 request may take, transfer included.",
							"Valid range is 100 ms to 1 hour.  A request that times out is retried.",
							&ft_s3_timeout,
							300000,
							100, 3600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.s3_max_retries",
							"Retries of an S3 request after a 5xx, a 429, a timeout or a broken transfer.",
							"Valid range is 0 to 20.  Other 4xx answers are never retried.",
							&ft_s3_max_retries,
							4,
							0, 20,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.s3_retry_delay",
							"Wait before the first retry of an S3 request; it doubles at each retry.",
							"Valid range is 1 ms to 1 minute; no wait is longer than 30 seconds.",
							&ft_s3_retry_delay,
							200,
							1, 60000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.s3_multipart_threshold",
							"Objects larger than this are written with a multipart upload.",
							"Valid range is 5 MB to 1 GB.",
							&ft_s3_multipart_threshold,
							64 * 1024 * 1024,
							5 * 1024 * 1024, 1024 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.s3_part_size",
							"Size of each part of a multipart upload but the last.",
							"Valid range is 5 MB (S3's smallest part) to 1 GB.",
							&ft_s3_part_size,
							16 * 1024 * 1024,
							5 * 1024 * 1024, 1024 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.s3_list_max_keys",
							"Most keys asked for in one ListObjectsV2 page.",
							"Valid range is 1 to 1000; listing goes on with continuation tokens.",
							&ft_s3_list_max_keys,
							1000,
							1, 1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
}

/* ------------------------------------------------------------------------
 * Opening a store
 * ------------------------------------------------------------------------
 */

/* Bucket names as S3 allows them: 3 to 63 of [a-z0-9.-]. */
static bool
valid_bucket(const char *b, size_t len)
{
	if (len < 3 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9') ||
			  b[i] == '.' || b[i] == '-'))
			return false;
	return true;
}

/*
 * Keys (and key prefixes) are relative paths of [A-Za-z0-9/._-]: no empty,
 * "." or ".." segment, so no client or service may rewrite them.
 */
static bool
valid_key(const char *key, bool allow_empty, bool allow_trailing_slash)
{
	const char *seg = key;

	if (key[0] == '\0')
		return allow_empty;
	if (strlen(key) > 1024)
		return false;
	for (const char *p = key;; p++)
	{
		if (*p == '/' || *p == '\0')
		{
			size_t		seglen = p - seg;

			if ((seglen == 0 && !(*p == '\0' && allow_trailing_slash && p > key)) ||
				(seglen == 1 && seg[0] == '.') ||
				(seglen == 2 && seg[0] == '.' && seg[1] == '.'))
				return false;
			if (*p == '\0')
				return true;
			seg = p + 1;
		}
		else if (!(isalnum((unsigned char) *p) || *p == '.' || *p == '_' ||
				   *p == '-'))
			return false;
	}
}

static void
check_key(const char *key)
{
	if (!valid_key(key, false, false))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid object key \"%s\"", key),
				 errdetail("Keys are relative paths of letters, digits and the characters / . _ - with no empty, \".\" or \"..\" segment.")));
}

/*
 * Where the credential settings got their values, as pg_settings names it.
 */
static const char *
setting_source(const char *name)
{
	int			n = GetNumConfigOptions();

	for (int i = 0; i < n; i++)
	{
		const char *values[32];
		bool		noshow;

		GetConfigOptionByNum(i, values, &noshow);
		if (values[0] && strcmp(values[0], name) == 0)
			return values[8] ? values[8] : "default";
	}
	return "default";
}

/*
 * The credentials must be set, and must not have been readable by anyone
 * on the way.  Until ftstore's library is loaded, a backend holds ftstore.*
 * settings from postgresql.conf, ALTER SYSTEM, ALTER DATABASE or ALTER ROLE
 * as plain placeholders, which any role can SHOW.  Only when ftstore is in
 * shared_preload_libraries are the settings defined, superuser-only, before
 * any of those is read; otherwise only values set in the session itself
 * (by a superuser, since the settings are PGC_SUSET) are used.
 */
static void
check_credentials(const char *action)
{
	static const char *const names[] = {
		"ftstore.s3_access_key_id", "ftstore.s3_secret_access_key"
	};

	if (ft_s3_access_key_id == NULL || ft_s3_access_key_id[0] == '\0' ||
		ft_s3_secret_access_key == NULL || ft_s3_secret_access_key[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s: the S3 credentials are not set", action),
				 errhint("A superuser sets ftstore.s3_access_key_id and ftstore.s3_secret_access_key, in postgresql.conf with ftstore in shared_preload_libraries, or with SET in the session.")));
	if (s3_preloaded)
		return;
	for (int i = 0; i < lengthof(names); i++)
	{
		const char *source = setting_source(names[i]);

		if (strcmp(source, "session") != 0 && strcmp(source, "client") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot %s: %s comes from the %s, but ftstore is not in shared_preload_libraries",
							action, names[i], source),
					 errdetail("Until ftstore is loaded, a backend keeps such a setting as a placeholder that any role can read."),
					 errhint("Add ftstore to shared_preload_libraries and restart, or set the credentials with SET in the session.")));
	}
}

FtObjectStore *
ft_s3_store_open(const char *url, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	FtObjectStore *store;
	S3Store    *st;
	const char *bucket = url + 5;
	const char *slash = strchr(bucket, '/');
	size_t		bucket_len = slash ? (size_t) (slash - bucket) : strlen(bucket);
	const char *prefix = slash ? slash + 1 : "";
	const char *scheme_end;
	char	   *hostport;
	char	   *bucket_name;

	if (strncmp(url, "s3://", 5) != 0 || !valid_bucket(bucket, bucket_len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid S3 store URL \"%s\"", url),
				 errhint("Write it as s3://bucket or s3://bucket/prefix, with a bucket of 3 to 63 characters among a-z, 0-9, '.' and '-'.")));
	if (!valid_key(prefix, true, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid key prefix in S3 store URL \"%s\"", url),
				 errdetail("A prefix is a relative path of letters, digits and the characters / . _ - with no empty, \".\" or \"..\" segment.")));
	if (ft_s3_endpoint == NULL || ft_s3_endpoint[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot open S3 store \"%s\": ftstore.s3_endpoint is not set", url),
				 errhint("Set ftstore.s3_endpoint to the service's scheme://host[:port].")));
	check_credentials(psprintf("open S3 store \"%s\"", url));

	st = palloc0(sizeof(S3Store));
	bucket_name = pnstrdup(bucket, bucket_len);
	scheme_end = strstr(ft_s3_endpoint, "://") + 3;
	hostport = pstrdup(scheme_end);
	if (hostport[strlen(hostport) - 1] == '/')
		hostport[strlen(hostport) - 1] = '\0';

	st->prefix = pstrdup(prefix);
	if (st->prefix[0] != '\0' && st->prefix[strlen(st->prefix) - 1] != '/')
		st->prefix = psprintf("%s/", st->prefix);

	if (ft_s3_addressing == S3_ADDRESSING_VIRTUAL)
	{
		st->host = psprintf("%s.%s", bucket_name, hostport);
		st->bucket_path = pstrdup("/");
		st->object_path = psprintf("/%s", st->prefix);
	}
	else
	{
		st->host = hostport;
		st->bucket_path = psprintf("/%s", bucket_name);
		st->object_path = psprintf("/%s/%s", bucket_name, st->prefix);
	}
	st->origin = psprintf("%.*s%s", (int) (scheme_end - ft_s3_endpoint),
						  ft_s3_endpoint, st->host);

	store = palloc0(sizeof(FtObjectStore));
	store->ops = &s3_ops;
	store->url = pstrdup(url);
	store->state = st;
	MemoryContextSwitchTo(old);
	return store;
}

static void
s3_close(FtObjectStore *store)
{
	/* The handle is the backend's, kept for the next store. */
	pfree(store->state);
	store->state = NULL;
}

/* ------------------------------------------------------------------------
 * The operations
 * ------------------------------------------------------------------------
 */

/*
 * The MD5 of the body a PUT sent, which s3_request.c computed during the
 * request; false when curl did not take the whole body.
 */
static bool
s3_sent_md5(S3Request *req, uint8 *md5)
{
	bool		done = s3_request_md5(req);

	if (req->read_pos != req->body_len)
		return false;
	memcpy(md5, req->md5, 16);
	return done;
}

/*
 * Whether an ETag (as the service sent it, quoted) is the hex form of the
 * 16-byte digest md5, followed by "-nparts" when nparts > 0: the form S3
 * gives an object written whole (the MD5 of its bytes) or in nparts parts
 * (the MD5 of the parts' MD5s).
 */
static bool
s3_etag_is(const char *etag, const uint8 *md5, int nparts)
{
	static const char digits[] = "0123456789abcdef";
	char		want[32 + 1 + 12 + 1];
	size_t		len = strlen(etag);

	for (int i = 0; i < 16; i++)
	{
		want[2 * i] = digits[md5[i] >> 4];
		want[2 * i + 1] = digits[md5[i] & 0x0f];
	}
	want[32] = '\0';
	if (nparts > 0)
		snprintf(want + 32, sizeof(want) - 32, "-%d", nparts);
	if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"')
	{
		etag++;
		len -= 2;
	}
	return len == strlen(want) && pg_strncasecmp(etag, want, len) == 0;
}

/*
 * One PUT.  Returns whether the ETag of the answer is the MD5 of the body
 * sent, which S3 and s3rver compute over the bytes they stored.
 */
static bool
s3_put_single(FtObjectStore *store, const char *key,
			  const char *data, size_t len, const uint8 *data_md5)
{
	uint8		md5[16];
	S3Request	req = {.method = "PUT",.key = key,.query = "",
		.body = data,.body_len = len,.want_md5 = true,
		.unsigned_payload = store->checked_puts,
		.wait_work = store->wait_work,.wait_arg = store->wait_arg,
	.body_limit = S3_ERROR_BODY_LIMIT};
	S3Response	resp = {0};

	store->wait_work = NULL;
	if (data_md5)
	{
		memcpy(req.md5, data_md5, 16);
		req.md5_done = true;
	}
	s3_perform(store->state, &req, &resp);
	if (resp.rc != CURLE_OK || resp.status != 200)
		s3_fail(store, psprintf("store object \"%s\"", key), &resp);
	return s3_sent_md5(&req, md5) && s3_etag_is(resp.etag, md5, 0);
}

/* Aborts a multipart upload, once, reporting nothing: we are failing. */
static void
s3_abort_multipart(FtObjectStore *store, const char *key, const char *query)
{
	S3Request	req = {.method = "DELETE",.key = key,.query = query,
	.no_retry = true,.body_limit = S3_ERROR_BODY_LIMIT};
	S3Response	resp = {0};

	s3_perform(store->state, &req, &resp);
	if (resp.rc != CURLE_OK || resp.status >= 300)
		ereport(WARNING,
				(errmsg("could not abort the multipart upload of object \"%s\" in \"%s\"",
						key, store->url),
				 errhint("The service keeps its parts until a lifecycle rule or an administrator removes them.")));
}

/*
 * A multipart upload: initiate, one PUT per part, complete.
 * XXX The parts go one after another over the backend's one connection;
 * a distant service would take them faster in parallel (a curl multi
 * handle), which the 1 GB cap on an object has not yet made worth it.
 * If anything fails after the upload began, it is aborted so the service
 * does not keep the parts, and the error goes on.
 */
static bool
s3_put_multipart(FtObjectStore *store, const char *key,
				 const char *data, size_t len)
{
	size_t		part_size = (size_t) ft_s3_part_size;
	int			nparts = (int) ((len + part_size - 1) / part_size);
	uint8	   *part_md5s;
	volatile bool vouched = true;
	S3Request	req = {.method = "POST",.key = key,.query = "uploads=",
		.wait_work = store->wait_work,.wait_arg = store->wait_arg,
	.body_limit = S3_ERROR_BODY_LIMIT};
	S3Response	resp = {0};
	char	   *upload_id;
	char	   *upload_query;
	MemoryContext cxt = CurrentMemoryContext;

	store->wait_work = NULL;
	if (nparts > S3_MAX_PARTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("object \"%s\" of %zu bytes needs more than %d parts",
						key, len, S3_MAX_PARTS),
				 errhint("Raise ftstore.s3_part_size.")));

	s3_perform(store->state, &req, &resp);
	if (resp.rc != CURLE_OK || resp.status != 200)
		s3_fail(store, psprintf("start a multipart upload of object \"%s\"", key),
				&resp);
	upload_id = s3_xml_element(resp.body, resp.body + resp.len, "UploadId", NULL);
	if (upload_id == NULL || upload_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("could not start a multipart upload of object \"%s\" in \"%s\": the answer has no upload id",
						key, store->url)));
	upload_query = psprintf("uploadId=%s",
							ft_sigv4_uri_encode(upload_id, strlen(upload_id), false));
	part_md5s = palloc(16 * nparts);

	PG_TRY();
	{
		StringInfoData complete;

		initStringInfo(&complete);
		appendStringInfoString(&complete, "<CompleteMultipartUpload>");
		for (int part = 1; part <= nparts; part++)
		{
			size_t		off = (size_t) (part - 1) * part_size;
			uint8	   *md5 = part_md5s + 16 * (part - 1);
			S3Request	preq = {.method = "PUT",.key = key,
				.query = psprintf("partNumber=%d&%s", part, upload_query),
				.body = data + off,.body_len = Min(part_size, len - off),
				.want_md5 = true,.unsigned_payload = store->checked_puts,
			.body_limit = S3_ERROR_BODY_LIMIT};

			s3_perform(store->state, &preq, &resp);
			if (resp.rc != CURLE_OK || resp.status != 200)
				s3_fail(store, psprintf("upload part %d of object \"%s\"", part, key),
						&resp);
			if (resp.etag[0] == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("could not upload part %d of object \"%s\" in \"%s\": the answer has no ETag",
								part, key, store->url)));
			if (!s3_sent_md5(&preq, md5) || !s3_etag_is(resp.etag, md5, 0))
				vouched = false;
			appendStringInfo(&complete,
							 "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
							 part, s3_xml_escape(resp.etag));
		}
		appendStringInfoString(&complete, "</CompleteMultipartUpload>");

		req = (S3Request)
		{
			.method = "POST",.key = key,.query = upload_query,
				.body = complete.data,.body_len = complete.len,
				.body_limit = S3_ERROR_BODY_LIMIT
		};
		s3_perform(store->state, &req, &resp);

		/* S3 may answer 200 and still put an <Error> in the body. */
		if (resp.rc != CURLE_OK || resp.status != 200 ||
			(resp.body && strstr(resp.body, "<Error>") != NULL))
		{
			if (resp.rc == CURLE_OK && resp.status == 200)
				resp.status = 500;
			s3_fail(store, psprintf("complete the multipart upload of object \"%s\"", key),
					&resp);
		}
	}
	PG_CATCH();
	{
		/* The error left us in ErrorContext; the abort needs our own. */
		MemoryContextSwitchTo(cxt);
		HOLD_INTERRUPTS();
		s3_abort_multipart(store, key, upload_query);
		RESUME_INTERRUPTS();
		PG_RE_THROW();
	}
	PG_END_TRY();

	/*
	 * The object's ETag, when it is one of the two forms a service gives a
	 * multipart object: S3's MD5 of the parts' MD5s with "-N", or the MD5
	 * of the whole object (s3rver).  The parts' ETags were checked above.
	 */
	{
		char	   *etag = s3_xml_element(resp.body, resp.body + resp.len,
										  "ETag", NULL);
		uint8		md5[16];

		if (!vouched || etag == NULL)
			return false;
		ft_md5((const char *) part_md5s, 16 * nparts, md5);
		if (s3_etag_is(etag, md5, nparts))
			return true;
		ft_md5(data, len, md5);
		return s3_etag_is(etag, md5, 0);
	}
}

/*
 * Returns whether the service vouched for what it stored: its ETag is the
 * MD5 of the bytes sent (each part's too, for a multipart upload).  The
 * MD5 is the caller's, or is computed while the body goes and while the
 * service stores it (s3_request.c), rather than in a pass of its own
 * before the request; a multipart upload's parts are hashed that way.  A
 * different ETag, whatever its cause (a damaged object, or a service whose
 * ETags are not MD5s, as S3 with SSE-KMS), makes it false, and the caller
 * reads the object back.
 */
static bool
s3_put(FtObjectStore *store, const char *key, const char *data, size_t len,
	   const uint8 *md5)
{
	MemoryContext cxt = s3_operation_context();
	MemoryContext old = MemoryContextSwitchTo(cxt);
	bool		vouched;

	check_key(key);
	if (len > (size_t) ft_s3_multipart_threshold)
		vouched = s3_put_multipart(store, key, data, len);
	else
		vouched = s3_put_single(store, key, data, len, md5);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	if (!vouched)
		ereport(DEBUG1,
				(errmsg_internal("ftstore: the ETag of object \"%s\" in \"%s\" is not the MD5 of what was sent",
								 key, store->url)));
	return vouched;
}

/*
 * XXX The whole object is held in memory, as the interface passes buffers,
 * so an object is at most 1 GB (MaxAllocSize); streaming to and from a
 * file would lift that.
 */
static bool
s3_get(FtObjectStore *store, const char *key, StringInfo out,
	   FtObjectTap tap, void *tap_arg)
{
	MemoryContext cxt = s3_operation_context();
	MemoryContext old = MemoryContextSwitchTo(cxt);
	S3Request	req = {.method = "GET",.key = key,.query = "",
		.body_limit = MaxAllocSize - 1 - out->len,.sink = out,
		.tap = tap,.tap_arg = tap_arg,
	.wait_work = store->wait_work,.wait_arg = store->wait_arg};
	S3Response	resp = {0};
	bool		found;

	store->wait_work = NULL;
	check_key(key);
	s3_perform(store->state, &req, &resp);
	if (resp.rc == CURLE_OK && resp.status == 404)
		found = false;
	else if (resp.rc == CURLE_OK && resp.status == 200 && resp.in_sink)
	{
		/*
		 * The body followed a copy of out's bytes in out's own context: the
		 * buffer becomes out's, and the object is never copied.
		 * s3_perform_once already refused a body shorter than its
		 * Content-Length.
		 */
		if (!resp.sink_buffer)
		{
			pfree(out->data);
			out->data = resp.body;
			out->maxlen = (int) resp.cap;
		}
		out->len = (int) resp.len;
		out->data[out->len] = '\0';
		resp.body = NULL;
		found = true;
	}
	else if (resp.rc == CURLE_OK && resp.status == 200)
	{
		/* Without a Content-Length (or room in out's context): a copy. */
		MemoryContextSwitchTo(old);
		appendBinaryStringInfo(out, resp.body ? resp.body : "", resp.len);
		if (tap)
		{
			tap(NULL, 0, 0, tap_arg);
			tap(out->data + out->len - resp.len, 0, resp.len, tap_arg);
		}
		found = true;
	}
	else
		s3_fail(store, psprintf("read object \"%s\"", key), &resp);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return found;
}

static bool
s3_head(FtObjectStore *store, const char *key, uint64 *size)
{
	MemoryContext cxt = s3_operation_context();
	MemoryContext old = MemoryContextSwitchTo(cxt);
	S3Request	req = {.method = "HEAD",.key = key,.query = "",
	.body_limit = S3_ERROR_BODY_LIMIT};
	S3Response	resp = {0};
	bool		found;

	check_key(key);
	s3_perform(store->state, &req, &resp);
	if (resp.rc == CURLE_OK && resp.status == 404)
		found = false;
	else if (resp.rc == CURLE_OK && resp.status == 200 && resp.content_length >= 0)
	{
		if (size)
			*size = (uint64) resp.content_length;
		found = true;
	}
	else if (resp.rc == CURLE_OK && resp.status == 200)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("could not look up object \"%s\" in \"%s\": the answer has no Content-Length",
						key, store->url)));
	else
		s3_fail(store, psprintf("look up object \"%s\"", key), &resp);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return found;
}

/*
 * S3 answers a DELETE the same whether the object was there or not, so a
 * HEAD first tells which.
 */
static bool
s3_remove(FtObjectStore *store, const char *key)
{
	MemoryContext cxt;
	MemoryContext old;
	S3Request	req = {.method = "DELETE",.key = key,.query = "",
	.body_limit = S3_ERROR_BODY_LIMIT};
	S3Response	resp = {0};

	if (!s3_head(store, key, NULL))
		return false;

	cxt = s3_operation_context();
	old = MemoryContextSwitchTo(cxt);
	s3_perform(store->state, &req, &resp);
	if (resp.rc != CURLE_OK || (resp.status != 204 && resp.status != 200))
		s3_fail(store, psprintf("delete object \"%s\"", key), &resp);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return true;
}

static void
s3_list(FtObjectStore *store, const char *prefix,
		FtObjectListCallback cb, void *arg)
{
	S3Store    *st = store->state;
	MemoryContext cxt = s3_operation_context();
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MemoryContext page_cxt = AllocSetContextCreate(cxt, "ftstore S3 list page",
												   ALLOCSET_DEFAULT_SIZES);
	char	   *full_prefix;
	char	   *token = NULL;
	size_t		strip = strlen(st->prefix);

	if (prefix == NULL)
		prefix = "";
	if (!valid_key(prefix, true, true))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid key prefix \"%s\"", prefix),
				 errdetail("A prefix is a relative path of letters, digits and the characters / . _ - with no empty, \".\" or \"..\" segment.")));
	full_prefix = psprintf("%s%s", st->prefix, prefix);

	for (;;)
	{
		StringInfoData query;
		S3Request	req = {.method = "GET",.key = NULL,
		.body_limit = 64 * 1024 * 1024};
		S3Response	resp = {0};
		const char *pos;
		const char *end;
		char	   *truncated;
		char	   *next;

		MemoryContextSwitchTo(page_cxt);

		/* Parameters in canonical order, so the URL is what is signed. */
		initStringInfo(&query);
		if (token)
			appendStringInfo(&query, "continuation-token=%s&",
							 ft_sigv4_uri_encode(token, strlen(token), false));
		appendStringInfo(&query, "list-type=2&max-keys=%d&prefix=%s",
						 ft_s3_list_max_keys,
						 ft_sigv4_uri_encode(full_prefix, strlen(full_prefix), false));
		req.query = query.data;

		s3_perform(st, &req, &resp);
		if (resp.rc != CURLE_OK || resp.status != 200)
			s3_fail(store, psprintf("list objects under \"%s\"", prefix), &resp);

		pos = resp.body ? resp.body : "";
		end = pos + resp.len;
		for (;;)
		{
			const char *c_end;
			const char *after = NULL;
			char	   *key;
			char	   *size;
			char	   *modified;
			TimestampTz stamp;

			pos = strstr(pos, "<Contents>");
			if (pos == NULL)
				break;
			c_end = strstr(pos, "</Contents>");
			if (c_end == NULL)
				break;
			key = s3_xml_element(pos, c_end, "Key", &after);
			size = s3_xml_element(pos, c_end, "Size", NULL);
			modified = s3_xml_element(pos, c_end, "LastModified", NULL);
			if (key == NULL || size == NULL ||
				strncmp(key, st->prefix, strip) != 0)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("could not list objects under \"%s\" in \"%s\": an entry has no key, no size or a key outside the store",
								prefix, store->url)));
			stamp = modified ?
				DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
														CStringGetDatum(modified),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1))) :
				0;

			/*
			 * In the caller's context: what the callback keeps (the
			 * collector keeps every key) must outlive this page.
			 */
			MemoryContextSwitchTo(old);
			cb(key + strip, (uint64) strtoull(size, NULL, 10), stamp, arg);
			MemoryContextSwitchTo(page_cxt);
			pos = c_end;
		}

		truncated = s3_xml_element(resp.body, end, "IsTruncated", NULL);
		next = s3_xml_element(resp.body, end, "NextContinuationToken", NULL);
		if (truncated == NULL || strcmp(truncated, "true") != 0)
			break;
		if (next == NULL || next[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("could not list objects under \"%s\" in \"%s\": a truncated page has no continuation token",
							prefix, store->url)));
		token = MemoryContextStrdup(cxt, next);
		MemoryContextReset(page_cxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/* ------------------------------------------------------------------------
 * Signing a fixed request, for tests against an independent signer
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(ft_s3_sign_request);

/*
 * ftstore.s3_sign_request(method, url, headers jsonb, payload_hash,
 * amz_date, service): the Authorization header the store would send for
 * that request with the configured region and credentials.  host and
 * x-amz-date are added from the URL and amz_date unless headers has them.
 */
Datum
ft_s3_sign_request(PG_FUNCTION_ARGS)
{
	char	   *method = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *url = text_to_cstring(PG_GETARG_TEXT_PP(1));
	Jsonb	   *hdrs = PG_GETARG_JSONB_P(2);
	char	   *payload_hash = text_to_cstring(PG_GETARG_TEXT_PP(3));
	char	   *amz_date = text_to_cstring(PG_GETARG_TEXT_PP(4));
	char	   *service = text_to_cstring(PG_GETARG_TEXT_PP(5));
	const char *hostport;
	const char *host_end;
	const char *query;
	char	   *path;
	FtSigV4Header *headers;
	int			nheaders = 0;
	bool		have_host = false;
	bool		have_date = false;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *pending_name = NULL;

	check_credentials("sign an S3 request");
	if (!JB_ROOT_IS_OBJECT(hdrs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("headers must be a JSON object of names and string values")));

	hostport = strstr(url, "://");
	if (hostport == NULL || hostport[3] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid URL \"%s\"", url)));
	hostport += 3;
	host_end = hostport + strcspn(hostport, "/?#");
	query = strchr(host_end, '?');
	path = pnstrdup(host_end, strcspn(host_end, "?#"));
	if (query)
		query = pnstrdup(query + 1, strcspn(query + 1, "#"));

	headers = palloc(sizeof(FtSigV4Header) * (JsonContainerSize(&hdrs->root) + 2));
	it = JsonbIteratorInit(&hdrs->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			pending_name = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("header \"%s\" must have a string value", pending_name)));
			headers[nheaders].name = pending_name;
			headers[nheaders].value = pnstrdup(v.val.string.val, v.val.string.len);
			if (pg_strcasecmp(pending_name, "host") == 0)
				have_host = true;
			if (pg_strcasecmp(pending_name, "x-amz-date") == 0)
				have_date = true;
			nheaders++;
		}
	}
	if (!have_host)
	{
		headers[nheaders].name = "host";
		headers[nheaders].value = pnstrdup(hostport, host_end - hostport);
		nheaders++;
	}
	if (!have_date)
	{
		headers[nheaders].name = "x-amz-date";
		headers[nheaders].value = amz_date;
		nheaders++;
	}

	PG_RETURN_TEXT_P(cstring_to_text(
									 ft_sigv4_authorization(method,
															ft_sigv4_canonical_path(path),
															ft_sigv4_canonical_query(query),
															headers, nheaders,
															payload_hash, amz_date,
															ft_s3_region, service,
															ft_s3_access_key_id,
															ft_s3_secret_access_key)));
}
