# ftstore: PostgreSQL as the system of record for LLM fine-tuning data.
#
# Built with PGXS.  The install script of each release is assembled from
# the SQL fragments of every capability, in the order below, so each
# capability keeps its SQL beside its C.

EXTENSION = ftstore
EXTVERSION = 0.1

MODULE_big = ftstore
OBJS = \
	src/ftstore.o \
	src/util/subxact.o \
	src/security/caller.o \
	src/sample/names.o \
	src/sample/jsontext.o \
	src/sample/parse.o \
	src/sample/layout.o \
	src/sample/bodycache.o \
	src/sample/output.o \
	src/sample/ftsample.o \
	src/sample/accessors.o \
	src/sample/tokens.o \
	src/dedup/fingerprint.o \
	src/validate/validate.o \
	src/etl/reader.o \
	src/etl/import.o \
	src/etl/export.o \
	src/facets/facets.o \
	src/facets/gin.o \
	src/tier/object_store.o \
	src/tier/file_store.o \
	src/tier/object_admin.o \
	src/tier/sigv4.o \
	src/tier/s3_request.o \
	src/tier/s3.o \
	src/tier/settings.o \
	src/tier/blob.o \
	src/tier/media.o \
	src/tier/codec.o \
	src/tier/md5_lanes.o \
	src/tier/cache.o \
	src/tier/fetch.o \
	src/tier/offload.o \
	src/tier/worker.o

SQL_FRAGMENTS = \
	src/sample/sample.sql \
	src/dedup/fingerprint.sql \
	src/store/store.sql \
	src/dedup/dedup.sql \
	src/validate/validate.sql \
	src/etl/etl.sql \
	src/store/report.sql \
	src/facets/facets.sql \
	src/security/security.sql \
	src/tier/object_store.sql \
	src/tier/tier.sql

DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
EXTRA_CLEAN = $(DATA_built)

REGRESS = ftsample render accessors fingerprint validate store hostile facets security tier
REGRESS_OPTS = --inputdir=.

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CPPFLAGS = -I$(srcdir)/src
SHLIB_LINK = -lzstd -lz -lcurl -lcrypto

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS gives -Wall and friends; -Wextra catches more, minus the noise that
# PostgreSQL's own headers make under it.
override CFLAGS += -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare

$(DATA_built): $(SQL_FRAGMENTS)
	@mkdir -p sql
	{ echo "-- ftstore $(EXTVERSION): assembled from $(SQL_FRAGMENTS)"; \
	  cat $(SQL_FRAGMENTS); } > $@

.PHONY: run test bench bench-s3 deps valgrind

# README's two commands.  Both install what they need on a fresh machine.
run:
	bash scripts/run.sh $(DATA)

test:
	bash scripts/test.sh

bench:
	bash scripts/bench.sh
	bash scripts/bench-s3.sh

# The S3 store against curl, on s3rver; part of "make bench" too.
bench-s3:
	bash scripts/bench-s3.sh

# pg_regress and hostile file input against a server under valgrind
# memcheck; slow (about six minutes), so not part of "make test".
valgrind:
	bash scripts/valgrind.sh
