"""Runs `tripmail snapshots --review` under a pseudo-terminal, answering each question with the
next of the answers given, and prints what it showed, then `exit N`.

Usage: review_pty.py TRIPMAIL CONFIG ANSWER…"""

import os
import pty
import sys

tripmail, config, answers = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(tripmail, [tripmail, "snapshots", "--config", config, "--review"])
shown = b""
asked = 0
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    shown += chunk
    while shown.count(b"[q]uit: ") > asked:
        answer = answers[asked] if asked < len(answers) else "q"
        os.write(fd, answer.encode() + b"\n")
        asked += 1
_, status = os.waitpid(pid, 0)
sys.stdout.write(shown.decode("utf-8", "replace"))
print(f"exit {os.waitstatus_to_exitcode(status)}")
