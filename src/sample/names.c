/*-------------------------------------------------------------------------
 *
 * names.c
 *	  The names of roles, formats, kinds and media, in one place so that
 *	  SQL, the parser and the renderers spell them alike.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "sample/ftsample.h"

static const char *const role_names[] = {
	NULL, "system", "developer", "user", "assistant", "tool", "function",
	"text"
};

static const char *const format_names[] = {
	"auto", "openai", "alpaca", "sharegpt", "text"
};

static const char *const kind_names[] = {
	NULL, "sft", "preference", "kto", "text"
};

static const char *const media_keys[] = {"images", "videos", "audios"};
static const char *const media_placeholders[] = {"<image>", "<video>", "<audio>"};

const char *
ft_role_name(int role)
{
	if (role < 1 || role > FT_ROLE_MAX)
		elog(ERROR, "invalid ftsample role %d", role);
	return role_names[role];
}

/*
 * Map an OpenAI role name to its code; 0 when unknown.  "text" is internal
 * and not accepted from input.
 */
int
ft_role_from_name(const char *name, int len)
{
	for (int i = 1; i < FT_ROLE_TEXT; i++)
	{
		if (strlen(role_names[i]) == len && memcmp(role_names[i], name, len) == 0)
			return i;
	}
	return 0;
}

const char *
ft_format_name(int format)
{
	if (format < 0 || format > FT_FORMAT_MAX)
		elog(ERROR, "invalid ftsample format %d", format);
	return format_names[format];
}

/* -1 when the name is not a format. */
int
ft_format_from_name(const char *name)
{
	for (int i = 0; i <= FT_FORMAT_MAX; i++)
	{
		if (pg_strcasecmp(format_names[i], name) == 0)
			return i;
	}
	return -1;
}

const char *
ft_kind_name(int kind)
{
	if (kind < 1 || kind > FT_KIND_MAX)
		elog(ERROR, "invalid ftsample kind %d", kind);
	return kind_names[kind];
}

const char *
ft_media_key(int media)
{
	Assert(media >= 0 && media < FT_NUM_MEDIA);
	return media_keys[media];
}

const char *
ft_media_placeholder(int media)
{
	Assert(media >= 0 && media < FT_NUM_MEDIA);
	return media_placeholders[media];
}
