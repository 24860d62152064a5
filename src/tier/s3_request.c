/*-------------------------------------------------------------------------
 *
 * s3_request.c
 *	  One request of the S3 store over libcurl: signed, sent, retried, and
 *	  its failure reported.
 *
 * A backend keeps one CURL easy handle and one multi handle for its life,
 * so the connection to the service is reused from one blob to the next.
 * The easy handle is reset between requests, released at backend exit,
 * and released as well when an error escapes while a request is being
 * prepared or run.  No curl callback ever raises an error: they only
 * record what went wrong, and the request reports it once curl has
 * returned.
 *
 * A request is driven through the multi handle, as curl_easy_perform
 * does itself, so that the backend gets control back once the body has
 * gone: the service then stores it and answers, and meanwhile the backend
 * computes the body's MD5 when asked for it and runs the caller's wait
 * work (the offload prepares the next blob there).  Work done in that
 * window costs no time, where done before the request or after the answer
 * it adds to every request's.
 *
 * Every request is signed with SigV4 (sigv4.c) from the superuser-only
 * credential settings.  The signature covers the SHA-256 of the body, so
 * that the service refuses a body damaged on the way up, except for the
 * PUTs of a caller that checks them itself (FtObjectStore.checked_puts):
 * those go as UNSIGNED-PAYLOAD, as curl and the AWS SDKs over https send
 * them, and the ETag check, or the read-back when that fails, proves their
 * bytes instead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include <curl/curl.h>

#include "common/cryptohash.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "tier/object_store.h"
#include "tier/s3.h"
#include "tier/sigv4.h"

/* Longest backoff between two attempts, whatever the base delay. */
#define S3_MAX_BACKOFF_MS	30000

/*
 * The backend's handle.  s3_busy is set while a request is prepared and
 * run: an error that escapes then leaves the handle in an unknown state,
 * so it is released (by the reset callback of the operation's context, or
 * at the latest before the next request).
 */
static CURL *s3_curl = NULL;
static CURLM *s3_multi = NULL;
static bool s3_in_multi = false;	/* s3_curl is in s3_multi */
static struct curl_slist *s3_headers = NULL;
static bool s3_busy = false;
static bool s3_exit_hook_set = false;

/* ------------------------------------------------------------------------
 * The handle
 * ------------------------------------------------------------------------
 */

static void
s3_release_handle(void)
{
	if (s3_headers)
		curl_slist_free_all(s3_headers);
	s3_headers = NULL;
	/* a transfer cut short: its connection is closed, not kept */
	if (s3_in_multi)
		curl_multi_remove_handle(s3_multi, s3_curl);
	s3_in_multi = false;
	if (s3_curl)
		curl_easy_cleanup(s3_curl);
	s3_curl = NULL;
	s3_busy = false;
}

static void
s3_at_exit(int code, Datum arg)
{
	s3_release_handle();
	if (s3_multi)
		curl_multi_cleanup(s3_multi);
	s3_multi = NULL;
}

/* Runs when an operation's memory goes: after an error, the handle too. */
static void
s3_operation_reset(void *arg)
{
	if (s3_busy)
		s3_release_handle();
}

/*
 * A context for one operation, whose reset releases the handle if an
 * error escaped in the middle of a request.
 */
MemoryContext
s3_operation_context(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "ftstore S3 operation",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContextCallback *cb = MemoryContextAlloc(cxt, sizeof(*cb));

	cb->func = s3_operation_reset;
	cb->arg = NULL;
	MemoryContextRegisterResetCallback(cxt, cb);
	return cxt;
}

static CURL *
s3_handle(void)
{
	/* A request that never finished left the handle in an unknown state. */
	if (s3_busy)
		s3_release_handle();

	if (s3_curl == NULL)
	{
		static bool global_done = false;

		if (!global_done)
		{
			if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("could not initialize libcurl")));
			global_done = true;
		}
		if (!s3_exit_hook_set)
		{
			on_proc_exit(s3_at_exit, (Datum) 0);
			s3_exit_hook_set = true;
		}
		if (s3_multi == NULL)
			s3_multi = curl_multi_init();
		if (s3_multi == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a libcurl multi handle")));
		s3_curl = curl_easy_init();
		if (s3_curl == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a libcurl handle")));
	}
	return s3_curl;
}

/* ------------------------------------------------------------------------
 * curl callbacks: none of them may raise an error
 * ------------------------------------------------------------------------
 */

static size_t
s3_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	S3Response *resp = (S3Response *) userdata;
	size_t		n = size * nmemb;

	if (resp->len - resp->base + n > resp->limit)
	{
		resp->overflow = true;
		return 0;
	}
	if (resp->len + n + 1 > resp->cap && resp->sink_buffer)
	{
		/* more than the Content-Length: curl refuses that anyway */
		resp->overflow = true;
		return 0;
	}
	if (resp->len + n + 1 > resp->cap)
	{
		size_t		newcap = Max(resp->cap * 2, resp->len + n + 1);
		char	   *newbody;

		/* With a Content-Length, one allocation of the right size. */
		if (resp->content_length < 0 && resp->body == NULL)
			newcap = Max(newcap, 64 * 1024);
		newcap = Min(newcap, resp->limit + 1);
		if (resp->body == NULL)
			newbody = palloc_extended(newcap, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		else
			newbody = repalloc_extended(resp->body, newcap,
										MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
		if (newbody == NULL)
		{
			resp->overflow = true;
			return 0;
		}
		resp->body = newbody;
		resp->cap = newcap;
	}
	memcpy(resp->body + resp->len, ptr, n);
	/* the bytes as they lie in the sink, which is what the caller keeps */
	if (resp->tap && resp->in_sink)
		resp->tap(resp->body + resp->len, resp->len - resp->base, n,
				  resp->tap_arg);
	resp->len += n;
	resp->body[resp->len] = '\0';
	return n;
}

static size_t
s3_header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	S3Response *resp = (S3Response *) userdata;
	size_t		n = size * nitems;

	/* A new response (after 100 Continue, say) starts a new header set. */
	if (n >= 5 && strncmp(buffer, "HTTP/", 5) == 0)
	{
		const char *space = memchr(buffer, ' ', n);

		resp->etag[0] = '\0';
		resp->content_length = -1;
		resp->header_status = space ? strtol(space + 1, NULL, 10) : 0;
	}
	else if (n > 5 && pg_strncasecmp(buffer, "etag:", 5) == 0)
	{
		size_t		start = 5;
		size_t		end = n;

		while (start < end && (buffer[start] == ' ' || buffer[start] == '\t'))
			start++;
		while (end > start && (buffer[end - 1] == '\r' || buffer[end - 1] == '\n' ||
							   buffer[end - 1] == ' '))
			end--;
		if (end - start < sizeof(resp->etag))
		{
			memcpy(resp->etag, buffer + start, end - start);
			resp->etag[end - start] = '\0';
		}
	}
	else if (n > 15 && pg_strncasecmp(buffer, "content-length:", 15) == 0)
	{
		/* Known early, so the body buffer can be sized once. */
		long long	v = strtoll(buffer + 15, NULL, 10);

		if (resp->expect_body && v >= 0 && (size_t) v <= resp->limit &&
			resp->body == NULL)
		{
			resp->content_length = v;
			if (resp->sink && resp->header_status == 200 &&
				(size_t) resp->sink->maxlen > resp->sink->len + (size_t) v)
			{
				/* The sink has room: the body goes straight into it. */
				resp->body = resp->sink->data;
				resp->base = resp->len = resp->sink->len;
				resp->cap = resp->sink->maxlen;
				resp->in_sink = true;
				resp->sink_buffer = true;
			}
			else if (resp->sink && resp->header_status == 200)
			{
				StringInfo	sink = resp->sink;

				resp->body = MemoryContextAllocExtended(GetMemoryChunkContext(sink->data),
														sink->len + v + 1,
														MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
				if (resp->body)
				{
					memcpy(resp->body, sink->data, sink->len);
					resp->base = resp->len = sink->len;
					resp->cap = sink->len + v + 1;
					resp->in_sink = true;
				}
			}
			else
			{
				resp->body = palloc_extended(v + 1, MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
				resp->cap = resp->body ? v + 1 : 0;
			}
			if (resp->body)
				resp->body[resp->len] = '\0';
		}
	}
	return n;
}

static size_t
s3_read_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	S3Request  *req = (S3Request *) userdata;
	size_t		n = Min(size * nitems, req->body_len - req->read_pos);

	memcpy(buffer, req->body + req->read_pos, n);
	req->read_pos += n;
	return n;
}

/* Stops the transfer on a cancel or a shutdown; the caller then obeys it. */
static int
s3_progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
			   curl_off_t ultotal, curl_off_t ulnow)
{
	if (INTERRUPTS_CAN_BE_PROCESSED() &&
		(QueryCancelPending || ProcDiePending))
		return 1;
	return 0;
}

/* ------------------------------------------------------------------------
 * One request, then the retries
 * ------------------------------------------------------------------------
 */

static void
amz_date_now(char *out)
{
	time_t		now = time(NULL);
	struct tm	tm;

	gmtime_r(&now, &tm);
	strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static void
s3_add_header(const char *name, const char *value)
{
	char	   *line = psprintf("%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(s3_headers, line);

	explicit_bzero(line, strlen(line));
	pfree(line);
	if (l == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	s3_headers = l;
}

/* A header line as is: "Name:" with no value removes curl's own. */
static void
s3_headers_append_raw(const char *line)
{
	struct curl_slist *l = curl_slist_append(s3_headers, line);

	if (l == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	s3_headers = l;
}

#define SETOPT(h, opt, val) \
	do { \
		if (curl_easy_setopt((h), (opt), (val)) != CURLE_OK) \
			ereport(ERROR, \
					(errcode(ERRCODE_INTERNAL_ERROR), \
					 errmsg("could not set libcurl option %s", #opt))); \
	} while (0)

/*
 * The body's MD5 is taken a piece at a time, in the gaps of the request:
 * while the socket is full and curl waits for the service to read, and
 * then while the service stores the body.  A piece is small enough that
 * the service never runs short of bytes meanwhile.
 */
#define S3_MD5_PIECE	(64 * 1024)

static void
s3_md5_failed(S3Request *req)
{
	ereport(ERROR,
			(errcode(ERRCODE_INTERNAL_ERROR),
			 errmsg("could not compute the MD5 of an S3 request's body: %s",
					pg_cryptohash_error(req->md5_ctx))));
}

/* Hashes up to n more bytes of the body into its MD5. */
static void
s3_body_md5_step(S3Request *req, size_t n)
{
	if (!req->want_md5 || req->md5_done)
		return;
	if (req->md5_ctx == NULL)
	{
		/* owned by the resource owner, so an error cannot leak it */
		req->md5_ctx = pg_cryptohash_create(PG_MD5);
		req->md5_pos = 0;
		if (pg_cryptohash_init(req->md5_ctx) < 0)
			s3_md5_failed(req);
	}
	n = Min(n, req->body_len - req->md5_pos);
	if (n > 0 && pg_cryptohash_update(req->md5_ctx,
									  (const uint8 *) req->body + req->md5_pos,
									  n) < 0)
		s3_md5_failed(req);
	req->md5_pos += n;
	if (req->md5_pos == req->body_len)
	{
		if (pg_cryptohash_final(req->md5_ctx, req->md5, sizeof(req->md5)) < 0)
			s3_md5_failed(req);
		pg_cryptohash_free(req->md5_ctx);
		req->md5_ctx = NULL;
		req->md5_done = true;
	}
}

/*
 * Finishes the body's MD5, if wanted, and returns whether it is in md5.
 * Every piece hashed before a retry still counts: the body is the same.
 */
bool
s3_request_md5(S3Request *req)
{
	if (req->want_md5)
		s3_body_md5_step(req, SIZE_MAX);
	return req->md5_done;
}

/* What the backend does while the service works on a request. */
static void
s3_while_waiting(S3Request *req)
{
	FtObjectWaitWork work = req->wait_work;

	(void) s3_request_md5(req);
	if (work)
	{
		/* once, even if the request is sent again */
		req->wait_work = NULL;
		work(req->wait_arg);
	}
}

/* Whether curl has handed the whole body to the connection. */
static bool
body_sent(CURL *h, const S3Request *req)
{
	curl_off_t	sent = 0;

	if (req->read_pos != req->body_len)
		return false;
	if (req->body_len == 0)
		return true;
	return curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &sent) == CURLE_OK &&
		sent >= (curl_off_t) req->body_len;
}

/*
 * Runs the request on the easy handle h, through the multi handle, and
 * returns curl's result.  Once curl has sent the whole body, and before
 * the answer is read, s3_while_waiting does its work (at the latest once
 * the request is over, so it is never skipped): an error it raises leaves
 * s3_busy set, so the handle is released (and with it the connection).
 */
static CURLcode
s3_run(CURL *h, S3Request *req)
{
	CURLcode	rc = CURLE_OK;
	CURLMcode	mc;
	CURLMsg    *msg;
	int			running = 1;
	int			left;
	int			timeout;
	bool		waited = false;

	mc = curl_multi_add_handle(s3_multi, h);
	if (mc != CURLM_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not start an S3 request: %s",
						curl_multi_strerror(mc))));
	s3_in_multi = true;
	for (;;)
	{
		mc = curl_multi_perform(s3_multi, &running);
		if (mc != CURLM_OK || running == 0)
			break;
		if (!waited && body_sent(h, req))
		{
			waited = true;
			s3_while_waiting(req);
			/* the answer may be in already */
			continue;
		}
		/*
		 * While curl waits for room in the socket, the MD5 goes on, and
		 * the socket is looked at again at once.  Otherwise a second at
		 * most, as curl_easy_perform waits: a cancel is seen.
		 */
		if (!waited && req->want_md5 && !req->md5_done)
		{
			s3_body_md5_step(req, S3_MD5_PIECE);
			timeout = 0;
		}
		else
			timeout = 1000;
		mc = curl_multi_poll(s3_multi, NULL, 0, timeout, NULL);
		if (mc != CURLM_OK)
			break;
	}
	/* an answer that came before the body was all sent: the work is due */
	if (!waited)
		s3_while_waiting(req);
	if (mc != CURLM_OK)
		rc = CURLE_RECV_ERROR;
	while ((msg = curl_multi_info_read(s3_multi, &left)) != NULL)
	{
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
			rc = msg->data.result;
	}
	curl_multi_remove_handle(s3_multi, h);
	s3_in_multi = false;
	return rc;
}

static void
s3_perform_once(S3Store *st, S3Request *req, S3Response *resp)
{
	CURL	   *h;
	char	   *path;
	char	   *url;
	char		payload_hash[65];
	char		amz_date[17];
	char	   *auth;
	FtSigV4Header headers[4];
	int			nheaders = 0;
	bool		is_post = strcmp(req->method, "POST") == 0;

	memset(resp, 0, sizeof(*resp));
	resp->content_length = -1;
	resp->limit = req->body_limit;
	resp->expect_body = strcmp(req->method, "HEAD") != 0;
	resp->sink = req->sink;
	resp->tap = req->tap;
	resp->tap_arg = req->tap_arg;
	if (req->tap)
		req->tap(NULL, 0, 0, req->tap_arg);
	req->read_pos = 0;

	path = req->key ? psprintf("%s%s", st->object_path, req->key)
		: pstrdup(st->bucket_path);
	path = ft_sigv4_canonical_path(path);
	url = psprintf("%s%s%s%s", st->origin, path,
				   req->query[0] ? "?" : "", req->query);

	if (req->unsigned_payload)
		strcpy(payload_hash, FT_SIGV4_UNSIGNED_PAYLOAD);
	else if (req->body_len == 0)
		strcpy(payload_hash, FT_SIGV4_EMPTY_SHA256);
	else
		ft_sigv4_sha256_hex(req->body ? req->body : "", req->body_len,
							payload_hash);
	amz_date_now(amz_date);
	headers[nheaders++] = (FtSigV4Header)
	{
		"host", st->host
	};
	headers[nheaders++] = (FtSigV4Header)
	{
		"x-amz-content-sha256", payload_hash
	};
	headers[nheaders++] = (FtSigV4Header)
	{
		"x-amz-date", amz_date
	};
	if (is_post)
		headers[nheaders++] = (FtSigV4Header)
	{
		"content-type", "application/xml"
	};
	auth = ft_sigv4_authorization(req->method, path, req->query,
								  headers, nheaders, payload_hash, amz_date,
								  ft_s3_region, "s3",
								  ft_s3_access_key_id, ft_s3_secret_access_key);

	h = s3_handle();
	s3_busy = true;
	curl_easy_reset(h);

	for (int i = 0; i < nheaders; i++)
		s3_add_header(headers[i].name, headers[i].value);
	s3_add_header("Authorization", auth);
	explicit_bzero(auth, strlen(auth));
	/* The body goes at once, rather than after waiting for 100 Continue. */
	s3_headers_append_raw("Expect:");

	SETOPT(h, CURLOPT_URL, url);
	SETOPT(h, CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(h, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(h, CURLOPT_PATH_AS_IS, 1L);
	SETOPT(h, CURLOPT_NOSIGNAL, 1L);
	SETOPT(h, CURLOPT_HTTPHEADER, s3_headers);
	SETOPT(h, CURLOPT_USERAGENT, "ftstore/0.1");
	SETOPT(h, CURLOPT_ERRORBUFFER, resp->errbuf);
	SETOPT(h, CURLOPT_CONNECTTIMEOUT_MS, (long) ft_s3_connect_timeout);
	SETOPT(h, CURLOPT_TIMEOUT_MS, (long) ft_s3_timeout);
	SETOPT(h, CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (ft_s3_ca_file && ft_s3_ca_file[0] != '\0')
		SETOPT(h, CURLOPT_CAINFO, ft_s3_ca_file);
	SETOPT(h, CURLOPT_BUFFERSIZE, 256L * 1024);

	/*
	 * No CURLOPT_UPLOAD_BUFFERSIZE: setting it makes curl free its upload
	 * buffer and allocate it again at every request, fresh pages each time
	 * once it is large; the default 64 kB one is reused.
	 */
	SETOPT(h, CURLOPT_WRITEFUNCTION, s3_write_cb);
	SETOPT(h, CURLOPT_WRITEDATA, resp);
	SETOPT(h, CURLOPT_HEADERFUNCTION, s3_header_cb);
	SETOPT(h, CURLOPT_HEADERDATA, resp);
	SETOPT(h, CURLOPT_NOPROGRESS, 0L);
	SETOPT(h, CURLOPT_XFERINFOFUNCTION, s3_progress_cb);

	if (strcmp(req->method, "HEAD") == 0)
		SETOPT(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(req->method, "PUT") == 0)
	{
		SETOPT(h, CURLOPT_UPLOAD, 1L);
		SETOPT(h, CURLOPT_READFUNCTION, s3_read_cb);
		SETOPT(h, CURLOPT_READDATA, req);
		SETOPT(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) req->body_len);
	}
	else if (is_post)
	{
		SETOPT(h, CURLOPT_POST, 1L);
		SETOPT(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		SETOPT(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) req->body_len);
	}
	else if (strcmp(req->method, "DELETE") == 0)
		SETOPT(h, CURLOPT_CUSTOMREQUEST, "DELETE");

	resp->rc = s3_run(h, req);
	if (resp->rc == CURLE_OK)
	{
		curl_off_t	cl = -1;

		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
		resp->content_length = cl;

		/*
		 * curl reports a body shorter than its Content-Length as a partial
		 * file; check again all the same, as a truncated object must never
		 * pass for the whole.
		 */
		if (strcmp(req->method, "HEAD") != 0 && cl >= 0 &&
			(curl_off_t) (resp->len - resp->base) != cl)
			resp->rc = CURLE_PARTIAL_FILE;
	}

	/* The request is over: whatever happens next, the handle is sound. */
	curl_slist_free_all(s3_headers);
	s3_headers = NULL;
	s3_busy = false;
	pfree(url);
}

static bool
s3_retryable(const S3Response *resp)
{
	switch (resp->rc)
	{
		case CURLE_OK:
			return resp->status >= 500 || resp->status == 429;
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
			return true;
		default:
			return false;
	}
}

/* Waits before retry number attempt + 1, waking for a cancel. */
static void
s3_backoff(int attempt)
{
	int64		delay = (int64) ft_s3_retry_delay << Min(attempt, 20);
	TimestampTz until;

	delay = Min(delay, S3_MAX_BACKOFF_MS);
	until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay);
	for (;;)
	{
		long		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until);

		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

void
s3_perform(S3Store *st, S3Request *req, S3Response *resp)
{
	for (int attempt = 0;; attempt++)
	{
		if (resp->body && !resp->sink_buffer)
			pfree(resp->body);
		s3_perform_once(st, req, resp);
		resp->attempts = attempt + 1;
		if (resp->rc == CURLE_ABORTED_BY_CALLBACK)
			CHECK_FOR_INTERRUPTS();
		if (req->no_retry || attempt >= ft_s3_max_retries || !s3_retryable(resp))
			return;
		ereport(DEBUG1,
				(errmsg_internal("ftstore: S3 %s of \"%s\" will be retried: %s",
								 req->method, req->key ? req->key : "(bucket)",
								 resp->rc != CURLE_OK ? curl_easy_strerror(resp->rc)
								 : psprintf("HTTP status %ld", resp->status))));
		s3_backoff(attempt);
	}
}

/* ------------------------------------------------------------------------
 * XML: just what S3's answers need
 * ------------------------------------------------------------------------
 */

/*
 * XXX S3's answers are read with string searches for the few elements
 * needed, not with an XML parser: enough for S3's fixed layout, but an
 * element written with attributes (<Key attr="...">) would not be found.
 * libxml2 would lift that, at the cost of a dependency.
 */

/* Undoes XML's escapes of &, <, >, " and ', and numeric ones. */
static char *
xml_unescape(const char *s, size_t len)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (size_t i = 0; i < len; i++)
	{
		if (s[i] != '&')
		{
			appendStringInfoChar(&buf, s[i]);
			continue;
		}
		if (len - i >= 5 && strncmp(s + i, "&amp;", 5) == 0)
			appendStringInfoChar(&buf, '&'), i += 4;
		else if (len - i >= 4 && strncmp(s + i, "&lt;", 4) == 0)
			appendStringInfoChar(&buf, '<'), i += 3;
		else if (len - i >= 4 && strncmp(s + i, "&gt;", 4) == 0)
			appendStringInfoChar(&buf, '>'), i += 3;
		else if (len - i >= 6 && strncmp(s + i, "&quot;", 6) == 0)
			appendStringInfoChar(&buf, '"'), i += 5;
		else if (len - i >= 6 && strncmp(s + i, "&apos;", 6) == 0)
			appendStringInfoChar(&buf, '\''), i += 5;
		else if (len - i >= 4 && s[i + 1] == '#')
		{
			const char *semi = memchr(s + i, ';', len - i);
			long		cp;

			if (semi == NULL)
			{
				appendStringInfoChar(&buf, '&');
				continue;
			}
			cp = (s[i + 2] == 'x') ? strtol(s + i + 3, NULL, 16)
				: strtol(s + i + 2, NULL, 10);
			if (cp > 0 && cp < 128)
				appendStringInfoChar(&buf, (char) cp);
			i = semi - s;
		}
		else
			appendStringInfoChar(&buf, '&');
	}
	return buf.data;
}

/*
 * The text of the first <tag> element between start and end, unescaped,
 * or NULL.  *after, if given, is set past its closing tag.
 */
char *
s3_xml_element(const char *start, const char *end, const char *tag,
			const char **after)
{
	char	   *open = psprintf("<%s>", tag);
	char	   *close = psprintf("</%s>", tag);
	const char *a;
	const char *b;
	char	   *result = NULL;

	if (start == NULL)
		return NULL;
	a = strstr(start, open);
	if (a && a < end)
	{
		a += strlen(open);
		b = strstr(a, close);
		if (b && b <= end)
		{
			result = xml_unescape(a, b - a);
			if (after)
				*after = b + strlen(close);
		}
	}
	pfree(open);
	pfree(close);
	return result;
}

char *
s3_xml_escape(const char *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (; *s; s++)
	{
		if (*s == '&')
			appendStringInfoString(&buf, "&amp;");
		else if (*s == '<')
			appendStringInfoString(&buf, "&lt;");
		else if (*s == '>')
			appendStringInfoString(&buf, "&gt;");
		else
			appendStringInfoChar(&buf, *s);
	}
	return buf.data;
}

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------
 */

/* How often a failed request was sent, as the error's context. */
static int
attempts_context(int attempts)
{
	if (attempts == 1)
		return errcontext("the S3 request was sent once");
	return errcontext("the S3 request was sent %d times", attempts);
}

/*
 * Reports a failed request: what was being done, the store, then either
 * the transfer's failure or the HTTP status with S3's <Code> and
 * <Message>.  Nothing of the request's headers goes in: they carry the
 * signature.
 */
void
s3_fail(FtObjectStore *store, const char *action, S3Response *resp)
{
	if (resp->rc == CURLE_PARTIAL_FILE)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not %s in \"%s\": the response body ended early",
						action, store->url),
				 errdetail("%zu bytes arrived of the %lld the response announced.",
						   resp->len - resp->base, (long long) resp->content_length),
				 attempts_context(resp->attempts)));
	if (resp->rc == CURLE_WRITE_ERROR && resp->overflow)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("could not %s in \"%s\": the response is larger than %zu bytes",
						action, store->url, resp->limit)));
	if (resp->rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not %s in \"%s\": %s",
						action, store->url, curl_easy_strerror(resp->rc)),
				 resp->errbuf[0] ? errdetail("libcurl said: %s.", resp->errbuf) : 0,
				 attempts_context(resp->attempts)));

	{
		const char *end = resp->body ? resp->body + resp->len : NULL;
		char	   *code = s3_xml_element(resp->body, end, "Code", NULL);
		char	   *message = s3_xml_element(resp->body, end, "Message", NULL);
		int			sqlstate;

		if (resp->status == 403)
			sqlstate = ERRCODE_INSUFFICIENT_PRIVILEGE;
		else if (resp->status == 404)
			sqlstate = ERRCODE_UNDEFINED_OBJECT;
		else
			sqlstate = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;

		if (code)
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("could not %s in \"%s\": HTTP status %ld, S3 error code \"%s\"",
							action, store->url, resp->status, code),
					 message ? errdetail("The service said: %s", message) : 0,
					 attempts_context(resp->attempts)));
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("could not %s in \"%s\": HTTP status %ld",
						action, store->url, resp->status),
				 attempts_context(resp->attempts)));
	}
}
