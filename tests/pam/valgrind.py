#!/usr/bin/python3
"""Runs one test-pam case under valgrind and fails on any error or leak in
the driver or in any process it forks (the module's privilege-dropped
children included): valgrind follows fork(), each process writes its own
log, and every log must report zero errors.  Processes the module or the
test exec() (cofferd, dbus-daemon, gdbus) are not traced.

    valgrind.py VALGRIND TEST-PAM CASE
"""
import glob
import os
import re
import subprocess
import sys
import tempfile

valgrind, driver, case = sys.argv[1:4]
suppressions = os.path.join(os.path.dirname(os.path.abspath(__file__)), "valgrind.supp")
with tempfile.TemporaryDirectory(prefix="coffer-pam-vg-") as logs:
    cmd = [
        valgrind, "--error-exitcode=99", "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect", "--show-leak-kinds=definite,indirect",
        "--track-fds=no", "--trace-children=no", "--child-silent-after-fork=no",
        "--suppressions=" + suppressions,
        "--log-file=" + os.path.join(logs, "vg.%p"), driver, case,
    ]
    rc = subprocess.run(cmd).returncode
    bad = []
    for path in sorted(glob.glob(os.path.join(logs, "vg.*"))):
        with open(path) as f:
            text = f.read()
        m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        # A forked process that then exec()s (a spawned helper) ends its
        # log without a summary; it may still not have reported anything.
        failed = int(m.group(1)) != 0 if m else re.search(r"^==\d+==\s+(at|by) 0x", text, re.M) is not None
        if failed:
            bad.append(path)
            sys.stderr.write(text)
    summaries = sum(1 for p in glob.glob(os.path.join(logs, "vg.*")) if "ERROR SUMMARY" in open(p).read())
    print(f"valgrind: {summaries} process(es) checked to the end, {len(bad)} with errors; driver exit {rc}")
    if summaries < 3:  # the driver and the module's children at least
        bad.append("too few processes checked")
    sys.exit(1 if bad or rc != 0 else 0)
