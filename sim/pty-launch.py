#!/usr/bin/env python3
# Opens a raw pseudo-terminal for `tinyhsm sim --pty` (Node cannot call openpty) and execs the simulator on it.
#
# usage: pty-launch.py PROGRAM [ARG...]
# Runs PROGRAM ARG... --pty-child SLAVE_PATH with the pty master on fd 3 (the simulator's end of the
# link) and the slave kept open on fd 4, so reads on the master do not fail with EIO while no client
# has the slave open. The slave is set raw (no echo, no line editing, no CR/LF mapping), so the bytes a
# client writes arrive unchanged, as they would from a USB CDC board.
import os
import sys
import tty

MASTER_FD = 3
SLAVE_FD = 4


def main():
    if len(sys.argv) < 2:
        sys.stderr.write("usage: pty-launch.py PROGRAM [ARG...]\n")
        return 2
    master, slave = os.openpty()
    tty.setraw(slave)
    path = os.ttyname(slave)
    # Move the two ends onto fds 3 and 4 without closing one with the other.
    if master != MASTER_FD:
        if slave == MASTER_FD:
            slave = os.dup(slave)
        os.dup2(master, MASTER_FD)
        os.close(master)
    if slave != SLAVE_FD:
        os.dup2(slave, SLAVE_FD)
        os.close(slave)
    os.set_inheritable(MASTER_FD, True)
    os.set_inheritable(SLAVE_FD, True)
    args = sys.argv[1:] + ["--pty-child", path]
    try:
        os.execvp(args[0], args)
    except OSError as e:
        sys.stderr.write("pty-launch.py: cannot run %s: %s\n" % (args[0], e))
        return 127


if __name__ == "__main__":
    sys.exit(main())
