"""
The tally every python test keeps.

check() counts one result and names a failure; summary() prints the line
scripts/test.sh reads ("N passed, N failed") and gives the exit status:
non-zero on any failure, and when nothing was checked at all, as a test
that checked nothing proved nothing.
"""

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)
    return ok


def summary():
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0
