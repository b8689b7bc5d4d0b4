"""A real IMAP server for tests: Debian's dovecot, with its own configuration in a folder.

`Dovecot(folder)` writes a configuration (IMAPS only, on a free loopback port, a
certificate made by the test, one user with a static password, Maildir storage under the
folder), starts `dovecot -F` and stops it on exit. `deliver(raw)` drops a message into
the user's INBOX as the server's own delivery would (a Maildir file in new/).
"""

from __future__ import annotations

import mailbox
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from digest.sink import free_port
from tests.conftest import require_tool

USER, PASSWORD = "bounces", "imap-test-password"


class Dovecot:
    def __init__(self, folder: Path, *, cert: str, key: str) -> None:
        self.binary = require_tool("dovecot")
        # Dovecot never reads mail as root: as root (CI), the mail belongs to `nobody`, in a
        # folder of its own that `nobody` can reach (a pytest tmp_path is root's, mode 0700).
        self.as_root = os.getuid() == 0
        if self.as_root:
            nobody = pwd.getpwnam("nobody")
            self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
            self.folder = Path(tempfile.mkdtemp(prefix="digest-dovecot-"))
            self.folder.chmod(0o755)
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            self.folder = folder
        self.cert, self.key = cert, key
        self.port = free_port("127.0.0.1")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def maildir(self) -> Path:
        return self.folder / "home" / USER / "Maildir"

    @property
    def url(self) -> str:
        return f"imaps://{USER}:{PASSWORD}@127.0.0.1:{self.port}/INBOX"

    def deliver(self, raw: bytes) -> None:
        mailbox.Maildir(self.maildir, create=True).add(raw)
        self._own()

    def _own(self) -> None:
        if not self.as_root:
            return
        home = self.folder / "home"
        for path in [home, *home.rglob("*")]:
            os.chown(path, self.uid, self.gid)

    def _config(self) -> str:
        me = pwd.getpwuid(os.getuid()).pw_name
        users = (
            "" if os.getuid() == 0 else f"default_internal_user = {me}\ndefault_login_user = {me}\n"
        )
        return f"""
base_dir = {self.folder}/run
state_dir = {self.folder}/state
log_path = {self.folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{self.cert}
ssl_key = <{self.key}
ssl_min_protocol = TLSv1.2
auth_mechanisms = plain
{users}passdb {{
  driver = static
  args = user={USER} password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={self.folder}/home/%u
}}
mail_location = maildir:~/Maildir
first_valid_uid = 1
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {self.port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""

    def __enter__(self) -> Dovecot:
        for sub in ("run", "state", "home"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.maildir.parent.mkdir(parents=True, exist_ok=True)
        mailbox.Maildir(self.maildir, create=True)
        self._own()
        config = self.folder / "dovecot.conf"
        config.write_text(self._config())
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                log = (
                    (self.folder / "dovecot.log").read_text()
                    if (self.folder / "dovecot.log").exists()
                    else ""
                )
                raise RuntimeError(f"dovecot exited: {output}\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("dovecot did not start listening within 15 s")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.as_root:
            shutil.rmtree(self.folder, ignore_errors=True)
