#!/usr/bin/python3
"""
test_dedup_marks.py: the marks dedup_exact writes, recomputed outside SQL.

Every file of ../shared/data (beside the project's root) is imported into
a dataset of its own.  The expected marks are computed here from the
samples' ids, fingerprints and restricted flags alone: group by
(fingerprint, restricted), keep the smallest id, every other member is
marked the duplicate of it.  They must equal ftstore.duplicates exactly,
and dedup_exact's return value must be their count, after each step:

  1. the first marking;
  2. a third of the samples restricted (the triggers mend the marks: the
     unrestricted marks must already equal the ranking of the unrestricted
     samples, before dedup_exact runs again), then ranked again;
  3. some of them unrestricted again, then ranked again;
  4. a quarter of the samples deleted (no mark may outlive its sample),
     then ranked again, and once more (nothing changes);
  5. a whole dataset deleted: none of its marks remain.

Between the steps, over the whole store: every mark's restricted flag is
its sample's, no mark lacks its sample, and no unrestricted mark points at
a restricted sample (which would tell an uncleared reader that it exists).

The fingerprints themselves are checked against Python by
test_fingerprint.py; here only the ranking is.  Connects with PGHOST,
PGPORT, PGUSER, PGDATABASE as a superuser.  Prints "N passed, N failed"
last; exits non-zero on any failure.
"""

import sys
from pathlib import Path

import psycopg
from _check import check, summary  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DATA = (ROOT / ".." / "shared" / "data").resolve()


def data_files():
    return [p for p in sorted(DATA.rglob("*"))
            if p.suffix in (".json", ".jsonl") and p.name != "dataset_info.json"]


def expected_marks(samples, only=None):
    """{sample id: id kept} from [(id, fingerprint, restricted)]."""
    keep = {}
    marks = {}
    for sid, fp, restricted in sorted(samples):
        if only is not None and restricted != only:
            continue
        key = (fp, restricted)
        if key in keep:
            marks[sid] = keep[key]
        else:
            keep[key] = sid
    return marks


def samples_of(cur, ds):
    cur.execute("SELECT id, fingerprint, restricted FROM ftstore.samples "
                "WHERE dataset_id = %s", (ds,))
    return [(r[0], bytes(r[1]), r[2]) for r in cur.fetchall()]


def marks_of(cur, ds, restricted=None):
    cur.execute("SELECT sample_id, duplicate_of FROM ftstore.duplicates "
                "WHERE dataset_id = %s AND (%s::boolean IS NULL OR restricted = %s)",
                (ds, restricted, restricted))
    return dict(cur.fetchall())


def store_invariants(cur, when):
    cur.execute("""
        SELECT count(*) FILTER (WHERE s.id IS NULL),
               count(*) FILTER (WHERE s.restricted IS DISTINCT FROM m.restricted
                                AND s.id IS NOT NULL),
               count(*) FILTER (WHERE NOT m.restricted AND t.restricted)
        FROM ftstore.duplicates m
        LEFT JOIN ftstore.samples s
               ON s.dataset_id = m.dataset_id AND s.id = m.sample_id
        LEFT JOIN ftstore.samples t
               ON t.dataset_id = m.dataset_id AND t.id = m.duplicate_of""")
    orphans, flag, leak = cur.fetchone()
    check(orphans == 0, "%s: %d marks without their sample" % (when, orphans))
    check(flag == 0, "%s: %d marks whose restricted flag is not their sample's"
          % (when, flag))
    check(leak == 0, "%s: %d unrestricted marks point at a restricted sample"
          % (when, leak))


def rank_and_compare(cur, datasets, when):
    for name, ds in datasets.items():
        cur.execute("SELECT ftstore.dedup_exact(%s)", (name,))
        returned = cur.fetchone()[0]
        want = expected_marks(samples_of(cur, ds))
        got = marks_of(cur, ds)
        if not check(got == want, "%s, %s: %d marks, expected %d (%d differ)"
                     % (when, name, len(got), len(want),
                        len(set(got.items()) ^ set(want.items())))):
            print("  e.g.", sorted(set(got.items()) ^ set(want.items()))[:5])
        check(returned == len(want), "%s, %s: dedup_exact returned %d, expected %d"
              % (when, name, returned, len(want)))
    store_invariants(cur, when)


def main():
    if not check((DATA / "README.md").is_file(), "shared data at %s" % DATA):
        return summary()
    conn = psycopg.connect(autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS ftstore")
    cur = conn.cursor()

    datasets = {}
    total = 0
    for i, path in enumerate(data_files()):
        name = "marks_%02d" % i
        cur.execute("SELECT ftstore.create_dataset(%s)", (name,))
        datasets[name] = cur.fetchone()[0]
        cur.execute("SELECT imported FROM ftstore.import_data(%s, %s, %s::text)",
                    (name, str(path.relative_to(DATA)), path.read_text(encoding="utf-8")))
        total += sum(r[0] for r in cur.fetchall())
    check(len(datasets) >= 10 and total > 1000,
          "imported %d samples from %d files" % (total, len(datasets)))

    rank_and_compare(cur, datasets, "first marking")
    cur.execute("SELECT count(*) FROM ftstore.duplicates")
    n_marks = cur.fetchone()[0]
    check(n_marks > 50, "%d marks over the shared data" % n_marks)
    print("first marking: %d samples, %d marks" % (total, n_marks))

    # A third restricted, in one statement: kept samples among them, so the
    # trigger must hand their groups to the next unrestricted member.
    cur.execute("UPDATE ftstore.samples SET restricted = true WHERE id % 3 = 0")
    store_invariants(cur, "after restricting")
    for name, ds in datasets.items():
        want = expected_marks(samples_of(cur, ds), only=False)
        got = marks_of(cur, ds, restricted=False)
        check(got == want, "after restricting, %s: unrestricted marks %d, "
              "ranking of the unrestricted samples %d" % (name, len(got), len(want)))
    rank_and_compare(cur, datasets, "restricted, ranked again")

    cur.execute("UPDATE ftstore.samples SET restricted = false WHERE id % 6 = 0")
    store_invariants(cur, "after unrestricting")
    rank_and_compare(cur, datasets, "unrestricted, ranked again")

    cur.execute("DELETE FROM ftstore.samples WHERE id % 4 = 1")
    store_invariants(cur, "after deleting")
    rank_and_compare(cur, datasets, "deleted, ranked again")
    cur.execute("SELECT array_agg(dataset_id ORDER BY dataset_id, sample_id), "
                "array_agg(duplicate_of ORDER BY dataset_id, sample_id) "
                "FROM ftstore.duplicates")
    before = cur.fetchone()
    rank_and_compare(cur, datasets, "ranked once more")
    cur.execute("SELECT array_agg(dataset_id ORDER BY dataset_id, sample_id), "
                "array_agg(duplicate_of ORDER BY dataset_id, sample_id) "
                "FROM ftstore.duplicates")
    check(cur.fetchone() == before, "ranking again changes nothing")

    # The dataset with the most marks, deleted.
    cur.execute("SELECT dataset_id FROM ftstore.duplicates GROUP BY 1 "
                "ORDER BY count(*) DESC LIMIT 1")
    gone = cur.fetchone()[0]
    cur.execute("DELETE FROM ftstore.datasets WHERE id = %s", (gone,))
    cur.execute("SELECT count(*) FROM ftstore.duplicates WHERE dataset_id = %s", (gone,))
    check(cur.fetchone()[0] == 0, "a deleted dataset's marks go with it")
    store_invariants(cur, "after deleting a dataset")

    conn.close()
    return summary()


if __name__ == "__main__":
    sys.exit(main())
