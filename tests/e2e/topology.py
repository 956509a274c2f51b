"""The deployed topology on one machine, each part a process of its own, and every part a test
cuts off a host of its own (a network namespace on a bridge):

    test ──▶ edge: nginx ──▶ api1, api2: `spacex-etl api` ───────────▶ db: PostgreSQL
                             sched1, sched2: `spacex-etl scheduler` ──▶ db, source: replay

`db` and `source` listen on the bridge's own address; the others each have a namespace with
one veth into the bridge. All addresses are link-local (169.254.N.0/24, N free on this
machine). Names resolve as in docker compose: each namespace has its own hosts file (`ip netns
exec` mounts /etc/netns/NS/hosts over /etc/hosts) where `api` lists both API addresses, so
the template's `server ${API_UPSTREAM}` rendered with `api:8000` gives nginx two servers, as
compose's DNS would with two replicas.

Every name carries this process's pid; everything is removed at exit, failure included, and
what a killed session left behind is swept at the next start.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from spacex_etl.db.database import TCP_KEEPALIVE
from spacex_etl.db.url import with_database
from tests.e2e.support import CLI, NGINX, Service, cli_env, nginx_edge, service
from tests.local_servers import free_port, wait_for_port
from tests.restartable_postgres import RestartablePostgres
from tests.support import admin, migrate_to_head

_TAG = "sxt"  # every namespace, link and hosts folder of these tests: sxt<pid>...
_NETNS_HOSTS = Path("/etc/netns")
API_PORT = 8000
EDGE_PORT = 8080
# PostgreSQL drops a session whose client went silent (and only then frees its run lock) after
# tcp_keepalives_idle + _interval x _count: 25 s. The interval is as short as allows a takeover
# at the next tick after that: a run every 30 s.
SILENT_CLIENT_DROPPED_S = int(TCP_KEEPALIVE["tcp_keepalives_idle"]) + int(
    TCP_KEEPALIVE["tcp_keepalives_interval"]
) * int(TCP_KEEPALIVE["tcp_keepalives_count"])
INTERVAL_S = SILENT_CLIENT_DROPPED_S + 5.0


def unavailable() -> str | None:
    """Why the topology cannot be built on this machine, or None."""
    if os.geteuid() != 0:
        return "needs root for network namespaces (CI runs as root)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` missing (Debian package iproute2)"
    if NGINX is None:
        return "nginx binary absent (.ci/run installs Debian's nginx package)"
    return None


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class Host:
    """A network namespace with one address, wired to the bridge by a veth pair."""

    name: str
    address: str
    netns: str
    port_link: str  # the veth end on the bridge; the other end is `eth0` inside

    def command(self, argv: Sequence[str] = ()) -> list[str]:
        """`argv` run on this host."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def cut(self) -> None:
        """Drop every packet to and from this host from now on: no RST, no FIN, no error to
        anyone, as when a cable, a switch or a NAT between it and the others goes silent."""
        # A queue of length 0 drops what it is given; the sender's TCP takes it for loss and
        # retransmits, so packets flow again after `heal`. (netem's `loss 100%` does the same
        # where the kernel has it; this one only needs the basic pfifo.)
        for tc_args in self._ends():
            _run("tc", *tc_args("qdisc", "replace"), "root", "pfifo", "limit", "0")

    def silence(self, local_port: int) -> None:
        """Drop the packets of one TCP connection of this host (its end on `local_port`), both
        ways; its other connections, and new ones, go on: a NAT that forgot one idle flow."""
        for tc_args, match in zip(self._ends(), ("sport", "dport"), strict=True):
            # Class 1:1 passes everything (default); the filter sends the flow to 1:2, whose
            # queue of length 0 drops it.
            _run("tc", *tc_args("qdisc", "replace"), "root", "handle", "1:", "htb", "default", "1")
            for classid in ("1:1", "1:2"):
                _run(
                    "tc",
                    *tc_args("class", "add"),
                    "parent",
                    "1:",
                    "classid",
                    classid,
                    "htb",
                    "rate",
                    "10gbit",
                )
            _run("tc", *tc_args("qdisc", "add"), "parent", "1:2", "pfifo", "limit", "0")
            _run(
                "tc",
                *tc_args("filter", "add"),
                *("parent", "1:", "protocol", "ip", "prio", "1", "u32"),
                *("match", "ip", "protocol", "6", "0xff"),
                *("match", "ip", match, str(local_port), "0xffff", "flowid", "1:2"),
            )

    def heal(self) -> None:
        """Undo `cut` and `silence`: packets flow again."""
        for tc_args in self._ends():
            with suppress(RuntimeError):  # nothing to delete
                _run("tc", *tc_args("qdisc", "del"), "root")

    def _ends(self) -> tuple[_TcArgs, _TcArgs]:
        """tc's arguments for the egress of each end: leaving the host, and leaving the bridge
        towards it."""
        return (
            _TcArgs(("-n", self.netns), "eth0"),
            _TcArgs((), self.port_link),
        )


@dataclass(frozen=True)
class _TcArgs:
    netns_option: tuple[str, ...]
    device: str

    def __call__(self, kind: str, action: str) -> list[str]:
        return [*self.netns_option, kind, action, "dev", self.device]


@dataclass
class Network:
    """A bridge at `<subnet>.1` and the namespaced hosts on it."""

    tag: str
    subnet: str
    hosts: dict[str, Host] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        """The bridge's own address: services of the root namespace listen there."""
        return f"{self.subnet}.1"

    def host_at(self, address: str) -> Host | None:
        return next((h for h in self.hosts.values() if h.address == address), None)


def _free_subnet() -> str:
    """A 169.254.N /24 no interface of this machine uses (169.254.169.x, cloud metadata, never)."""
    used = _run("ip", "-4", "-o", "addr", "show")
    for step in range(84):
        subnet = f"169.254.{170 + (os.getpid() + step) % 84}"
        if f"{subnet}." not in used:
            return subnet
    raise RuntimeError("no free 169.254.N.0/24 subnet on this machine")


def _sweep_leftovers() -> None:
    """Remove namespaces, bridges and hosts files of sessions that died without cleaning up."""

    def dead(name: str) -> bool:
        found = re.match(rf"{_TAG}(\d+)", name)
        return found is not None and not psutil.pid_exists(int(found.group(1)))

    for line in _run("ip", "netns", "list").splitlines():
        if line and dead(name := line.split()[0]):
            with suppress(RuntimeError):
                _run("ip", "netns", "delete", name)
    for line in _run("ip", "-o", "link", "show", "type", "bridge").splitlines():
        if dead(name := line.split(":")[1].strip()):
            with suppress(RuntimeError):
                _run("ip", "link", "delete", name)
    if _NETNS_HOSTS.is_dir():
        for folder in _NETNS_HOSTS.iterdir():
            if dead(folder.name):
                shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def network(hosts: Mapping[str, int], names: Mapping[str, Sequence[str]]) -> Iterator[Network]:
    """A bridge and a namespace per entry of `hosts` (name: last octet of its address); every
    namespace's hosts file maps each of `names` to the hosts (or `gateway`) listed for it."""
    _sweep_leftovers()
    net = Network(f"{_TAG}{os.getpid()}", _free_subnet())
    created: list[list[str]] = []  # the commands that undo what was made, newest first
    try:
        _run("ip", "link", "add", net.tag, "type", "bridge")
        created.insert(0, ["ip", "link", "delete", net.tag])
        _run("ip", "addr", "add", f"{net.gateway}/24", "dev", net.tag)
        _run("ip", "link", "set", net.tag, "up")
        for index, (name, octet) in enumerate(hosts.items()):
            host = Host(name, f"{net.subnet}.{octet}", f"{net.tag}-{name}", f"{net.tag}{index}")
            _run("ip", "netns", "add", host.netns)
            # Deleting the namespace deletes its veth pair too.
            created.insert(0, ["ip", "netns", "delete", host.netns])
            _run(
                *("ip", "link", "add", host.port_link, "type", "veth"),
                "peer",
                "name",
                "eth0",
                "netns",
                host.netns,
            )
            _run("ip", "link", "set", host.port_link, "master", net.tag, "up")
            _run("ip", "-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
            for device in ("eth0", "lo"):
                _run("ip", "-n", host.netns, "link", "set", device, "up")
            net.hosts[name] = host
        lines = ["127.0.0.1 localhost"]
        for name, targets in names.items():
            for target in targets:
                address = net.gateway if target == "gateway" else net.hosts[target].address
                lines.append(f"{address} {name}")
        for host in net.hosts.values():
            (_NETNS_HOSTS / host.netns).mkdir(parents=True)
            (_NETNS_HOSTS / host.netns / "hosts").write_text("\n".join(lines) + "\n")
        yield net
    finally:
        for undo in created:
            with suppress(RuntimeError):
                _run(*undo)
        for host in net.hosts.values():
            shutil.rmtree(_NETNS_HOSTS / host.netns, ignore_errors=True)


HOSTS = {"edge": 2, "api1": 11, "api2": 12, "sched1": 21, "sched2": 22}
APIS = ("api1", "api2")
SCHEDULERS = ("sched1", "sched2")
# As compose names them: `db` and `source` on the bridge's address, `api` for both replicas.
_NAMES = {"db": ["gateway"], "source": ["gateway"], "api": list(APIS)}


@dataclass
class Topology:
    """The running parts, and where the test reaches them."""

    net: Network
    postgres: RestartablePostgres
    database_url: str  # the service's database, as the test (outside any namespace) reaches it
    replay_url: str
    edge_url: str
    services: dict[str, Service]  # api1, api2, sched1, sched2
    env: dict[str, str]  # what every `spacex-etl` process of the topology is started with
    stack: ExitStack

    def start(self, name: str) -> Service:
        """Start host `name`'s process (`spacex-etl api` or `scheduler`), replacing one that
        was killed; returns once it serves."""
        host = self.net.hosts[name]
        command = "api" if name in APIS else "scheduler"
        env = {**self.env, "API_HOST": host.address}
        started = self.stack.enter_context(
            service(host.command([*CLI, command]), env, API_PORT, host.address)
        )
        self.services[name] = started
        return started

    def host_of(self, address: str | None) -> str | None:
        """The name of the host with `address` (a client address PostgreSQL shows)."""
        host = self.net.host_at(str(address)) if address is not None else None
        return host.name if host is not None else None


def _until_serving(topo: Topology, name: str) -> None:
    running = topo.services[name]
    if name in APIS:
        running.wait_for_log("Application startup complete", timeout=90)
        wait_for_port(API_PORT, 10, topo.net.hosts[name].address)
    else:
        running.wait_for_log("scheduler started", timeout=90)


@contextmanager
def topology(folder: Path, setup_sql: str = "") -> Iterator[Topology]:
    """The whole deployment, started (processes in parallel), and stopped at exit; `setup_sql`
    runs on the migrated database before any process starts."""
    with ExitStack() as stack:
        net = stack.enter_context(network(HOSTS, _NAMES))
        replay_port = free_port()
        replay = stack.enter_context(
            service(
                [
                    *(*CLI, "replay", "--host", net.gateway, "--port", str(replay_port)),
                    *("--upcoming-delay", "0"),  # runs take well under a second
                ],
                cli_env(),
                replay_port,
                net.gateway,
            )
        )
        # Outside pytest's folders, which another pytest session may prune meanwhile.
        pg_folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="spacex-etl-pg-"))
        # track_commit_timestamp: the tests order every commit against the runs' starts.
        postgres = RestartablePostgres(
            Path(pg_folder) / "data",
            listen=(net.gateway, free_port()),
            settings={"track_commit_timestamp": "on"},
        )
        stack.callback(postgres.close)
        asyncio.run(admin(postgres.url, "CREATE DATABASE spacex"))
        database_url = with_database(postgres.url, "spacex")
        asyncio.run(migrate_to_head(database_url))
        if setup_sql:
            asyncio.run(admin(database_url, setup_sql))
        db_port = database_url.split("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1]
        env = cli_env(
            DATABASE_URL=f"postgresql://postgres@db:{db_port}/spacex",
            SPACEX_API_URL=f"http://source:{replay_port}/",
            API_PORT=str(API_PORT),
            ETL_INTERVAL_SECONDS=str(INTERVAL_S),
            LOG_FORMAT="json",
            TRUSTED_PROXIES=net.hosts["edge"].address,
            RATE_LIMIT="",  # the edge limits; the test's one client address must not be
        )
        topo = Topology(net, postgres, database_url, "", "", {}, env, stack)
        for name in (*APIS, *SCHEDULERS):
            topo.start(name)
        edge = net.hosts["edge"]
        values = {
            "NGINX_LISTEN_PORT": str(EDGE_PORT),
            "API_UPSTREAM": f"api:{API_PORT}",
            "NGINX_RATE_LIMIT": "10000r/s",
            "NGINX_RATE_BURST": "10000",
        }
        (folder / "nginx").mkdir()
        topo.edge_url = stack.enter_context(
            nginx_edge(
                folder / "nginx", values, EDGE_PORT, host=edge.address, launcher=edge.command()
            )
        )
        replay.wait_for_log("replay server on http://", timeout=60)
        topo.replay_url = replay.url
        for name in topo.services:
            _until_serving(topo, name)
        yield topo
