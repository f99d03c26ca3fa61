"""Fresh request ids (orderly/request_ids.py): 32 hex digits, never the same twice, in a forked child either."""

from __future__ import annotations

import os
import re

from orderly.request_ids import FreshIds, fresh_id


def test_fresh_ids_are_32_hex_digits_and_all_different() -> None:
    ids = [fresh_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)


def test_two_processes_do_not_share_ids() -> None:
    assert FreshIds()() != FreshIds()()  # each process draws its own half
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then out at once
        os.write(write, fresh_id().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    parent = fresh_id()
    assert len(child) == 32 and child[:16] != parent[:16]
