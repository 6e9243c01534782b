#!/usr/bin/env python3
"""Run a command on a pseudo-terminal and relay bytes: our stdin -> the pty, the pty -> our stdout.

Usage: pty-run.py COMMAND [ARGS...]. Exits with the command's exit status (128+N for signal N). EOF on our
stdin is ignored (the command keeps its terminal); SIGTERM to us hangs up the pty (the command gets SIGHUP).
Used by specs for peers that want a terminal (FreeIPMI ipmiconsole puts it into raw mode).
"""
import os
import pty
import select
import signal
import sys
import tty


def main() -> int:
    if len(sys.argv) < 2:
        sys.stderr.write("usage: pty-run.py COMMAND [ARGS...]\n")
        return 2
    pid, master = pty.fork()
    if pid == 0:
        # A raw terminal from the start: no CR/LF translation either way, no echo, whatever the command sets.
        tty.setraw(0)
        os.execvp(sys.argv[1], sys.argv[1:])
    signal.signal(signal.SIGTERM, lambda *_: os.close(master) if master >= 0 else None)
    stdin_open = True
    out = sys.stdout.fileno()
    while True:
        fds = [master] + ([0] if stdin_open else [])
        try:
            ready, _, _ = select.select(fds, [], [])
        except (OSError, ValueError):
            break
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:
                break  # EIO: the child closed its terminal
            if not data:
                break
            os.write(out, data)
        if 0 in ready:
            data = os.read(0, 65536)
            if not data:
                stdin_open = False
            else:
                os.write(master, data)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    sys.exit(main())
