/*-------------------------------------------------------------------------
 *
 * ftstore.c
 *	  Module entry point: the settings every capability shares.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "sample/ftsample.h"
#include "tier/object_store.h"
#include "tier/tier.h"

PG_MODULE_MAGIC;

int			ft_max_sample_bytes = 64 * 1024 * 1024;
int			ft_max_depth = 64;

void		_PG_init(void);

void
_PG_init(void)
{
	/*
	 * The limits are per sample.  A superuser may raise them, but no user
	 * may, since they are what keeps one hostile record from exhausting a
	 * backend's memory or stack.
	 */
	DefineCustomIntVariable("ftstore.max_sample_bytes",
							"Largest sample, in bytes of JSON text, that is accepted.",
							"Valid range is 1 kB to 256 MB.  Larger samples are refused with an error, not truncated.",
							&ft_max_sample_bytes,
							64 * 1024 * 1024,
							1024, 256 * 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("ftstore.max_depth",
							"Deepest nesting of JSON arrays and objects accepted in a sample.",
							"Valid range is 8 to 1000.",
							&ft_max_depth,
							64,
							8, 1000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	ft_file_store_define_settings();
	ft_s3_define_settings();
	ft_tier_define_settings();
	if (process_shared_preload_libraries_in_progress)
		ft_register_offload_workers();
	ft_worker_install_hooks();

	MarkGUCPrefixReserved("ftstore");
}
