"""The fixtures' own promises: an sshd whose picked port was taken in between is detected, so the
sshd fixture picks another port instead of failing the session."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from conftest import PortTaken, keygen, start_sshd


def test_a_taken_port_is_reported_as_taken():
    d = Path(tempfile.mkdtemp(prefix="mcpt-port-", dir="/tmp"))
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        keygen(d / "host_ed25519")
        (d / "keys").mkdir()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        user = pwd.getpwuid(os.getuid()).pw_name
        with open(d / "sshd.log", "wb") as log, pytest.raises(PortTaken):
            start_sshd(d, port, user, log)
    finally:
        taken.close()
        shutil.rmtree(d, ignore_errors=True)
