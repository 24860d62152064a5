/*-------------------------------------------------------------------------
 *
 * s3.h
 *	  What the S3 store's operations (s3.c) and its requests
 *	  (s3_request.c) share: the store, a request, its response.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FT_S3_H
#define FT_S3_H

#include "postgres.h"

#include <curl/curl.h>

#include "tier/object_store.h"

/* One store: where its objects live on the service. */
typedef struct S3Store
{
	char	   *origin;			/* scheme://host[:port], as requested */
	char	   *host;			/* the Host header: host[:port] */
	char	   *bucket_path;	/* path of bucket-level requests */
	char	   *object_path;	/* path an object's key is appended to */
	char	   *prefix;			/* key prefix of the store, "" or "dir/" */
} S3Store;

/* One request, as the operations describe it. */
typedef struct S3Request
{
	const char *method;
	const char *key;			/* object key in the store; NULL for bucket */
	const char *query;			/* canonical query string, "" if none */
	const char *body;
	size_t		body_len;
	size_t		read_pos;		/* how much of body curl has taken */
	bool		unsigned_payload;	/* sign UNSIGNED-PAYLOAD, not the body */
	bool		want_md5;		/* compute md5, the body's MD5 */
	bool		md5_done;		/* md5 holds it */
	uint8		md5[16];
	size_t		md5_pos;		/* how much of body md5_ctx has taken */
	struct pg_cryptohash_ctx *md5_ctx;	/* NULL until begun, and once done */
	FtObjectWaitWork wait_work; /* run once while the service works */
	void	   *wait_arg;
	bool		no_retry;		/* one attempt only (abort after failure) */
	size_t		body_limit;		/* most response bytes kept */
	StringInfo	sink;			/* for GET: where a 200's body will go */
	FtObjectTap tap;			/* for GET: sees a 200's body as it lands */
	void	   *tap_arg;
} S3Request;

/* What came back, filled by the curl callbacks and after perform. */
typedef struct S3Response
{
	CURLcode	rc;
	long		status;
	char		errbuf[CURL_ERROR_SIZE];
	char	   *body;			/* NUL-terminated; len bytes */
	size_t		len;
	size_t		cap;

	/*
	 * With a sink, a 200 with a Content-Length is written after the sink's
	 * bytes (base of them): in the sink's own buffer when it has room for
	 * the body (a buffer reused from call to call), or else after a copy
	 * of them in the sink's memory context, so the caller can take the
	 * buffer as the sink's without copying the body.
	 */
	StringInfo	sink;
	size_t		base;
	bool		in_sink;
	bool		sink_buffer;	/* body is the sink's own buffer, not a copy */
	FtObjectTap tap;			/* the request's, called as the sink fills */
	void	   *tap_arg;
	long		header_status;	/* from the status line, as it arrives */
	bool		overflow;		/* body_limit or memory ran out */
	size_t		limit;
	curl_off_t	content_length; /* -1 when the response had none */
	bool		expect_body;	/* false for HEAD */
	char		etag[256];
	int			attempts;
} S3Response;

/* The settings requests use (s3.c defines them). */
extern char *ft_s3_region;
extern char *ft_s3_access_key_id;
extern char *ft_s3_secret_access_key;
extern char *ft_s3_ca_file;
extern int	ft_s3_connect_timeout;
extern int	ft_s3_timeout;
extern int	ft_s3_max_retries;
extern int	ft_s3_retry_delay;

/*
 * A memory context for one operation, whose reset releases the handle if
 * an error escaped in the middle of a request.
 */
extern MemoryContext s3_operation_context(void);

/* Sends a request, retrying as the settings say; fills resp. */
extern void s3_perform(S3Store *st, S3Request *req, S3Response *resp);
extern bool s3_request_md5(S3Request *req);

/* Reports a failed request: what was being done, the store, the cause. */
extern void s3_fail(FtObjectStore *store, const char *action,
					S3Response *resp) pg_attribute_noreturn();

/* The text of the first <tag> element between start and end, or NULL. */
extern char *s3_xml_element(const char *start, const char *end,
							const char *tag, const char **after);
extern char *s3_xml_escape(const char *s);

#endif							/* FT_S3_H */
