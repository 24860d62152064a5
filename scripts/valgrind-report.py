#!/usr/bin/python3
#
# valgrind-report.py: sorts the memcheck logs of scripts/valgrind.sh into
# errors with an ftstore frame and errors wholly in PostgreSQL or the C
# library, and prints each distinct one once with its count.
#
# Usage: valgrind-report.py LOG_DIR BUILD_DIR
#
# A frame is ftstore's when it names a source file under BUILD_DIR/src (the
# logs carry full paths) or the module ftstore.so; every stack of an error
# counts, the origin of an uninitialised value and the allocation of a
# block included.  Exits 1 if any error is left: one with an ftstore frame
# is a bug, one without is a false positive that scripts/valgrind.supp does
# not know yet.

import collections
import glob
import os
import re
import sys

log_dir, build_dir = sys.argv[1], os.path.realpath(sys.argv[2])
ours = re.compile(re.escape(build_dir + '/src/') + r'|ftstore\.so')
line_re = re.compile(r'==(\d+)== ?(.*)')
summary_re = re.compile(
    r'ERROR SUMMARY: (\d+) errors from \d+ contexts '
    r'\(suppressed: (\d+) from \d+\)')
# The first line of an error; valgrind's own banner lines are not.
error_start = re.compile(
    r'(Invalid |Conditional jump|Use of uninitialised|Syscall param|'
    r'Mismatched free|Source and destination overlap|Argument |'
    r'[A-Za-z]+ of size|Process terminating)')

ftstore = collections.Counter()
postgres = collections.Counter()
example = {}
reported = suppressed = processes = 0


def frame_key(lines):
    """The error's first line and its top frames, without addresses."""
    frames = [re.sub(r'0x[0-9A-Fa-f]+: ', '', line.strip())
              for line in lines[1:] if re.match(r'\s*(at|by) 0x', line)]
    return '\n    '.join([lines[0]] + frames[:8])


for path in sorted(glob.glob(os.path.join(log_dir, '*.log'))):
    processes += 1
    block = None
    with open(path, errors='replace') as f:
        for raw in f:
            m = line_re.match(raw.rstrip('\n'))
            if not m:
                continue
            text = m.group(2)
            s = summary_re.search(text)
            if s:
                reported += int(s.group(1))
                suppressed += int(s.group(2))
                continue
            if block is None:
                if error_start.match(text):
                    block = [text]
            elif text == '':
                key = frame_key(block)
                side = ftstore if any(ours.search(b) for b in block) else postgres
                side[key] += 1
                example.setdefault(key, (path, block))
                block = None
            else:
                block.append(text)

print(f'{processes} processes traced; memcheck reported {reported} errors '
      f'and suppressed {suppressed} (PostgreSQL false positives)')
print(f'errors with an ftstore frame: {sum(ftstore.values())} '
      f'({len(ftstore)} distinct)')
print(f'errors left in PostgreSQL or libc only: {sum(postgres.values())} '
      f'({len(postgres)} distinct)')
for title, side in (('ftstore', ftstore), ('PostgreSQL only', postgres)):
    for key, n in side.most_common():
        path, block = example[key]
        print(f'\n--- {title}, {n} time(s), first in {path}:')
        print('\n'.join(block))

sys.exit(1 if ftstore or postgres else 0)
