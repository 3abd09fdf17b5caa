"""The real node's network on the host: one bridge, one route, two iptables chains, sysctls.

- The bridge exists before the kubelet starts, with the node IP on it: the kubelet, kube-proxy
  and the DNS server bind that address, and the CNI bridge plugin accepts an existing bridge.
- The Service range is routed onto the bridge, so an address kube-proxy does not translate
  can never leave through the machine's own interface.
- Pods stay on this machine: nothing is masqueraded (the CNI config has ipMasq false), the
  FORWARD chain drops whatever crosses between the bridge and another interface, and the
  INPUT chain lets pods reach only the apiserver and the DNS server on the node IP.
- The kubelet rewrites some kernel tunables and the bridge plugin turns on ip_forward; the
  values from before the first start are saved and put back by `restore_sysctls`.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from pathlib import Path

from djangostack_devcluster import topology

FORWARD_CHAIN = "DJANGOSTACK-FORWARD"
INPUT_CHAIN = "DJANGOSTACK-INPUT"
# What the kubelet (and the bridge plugin) change; restored after the node is up and at the end.
SYSCTLS = (
    "net.ipv4.ip_forward",
    "vm.overcommit_memory",
    "kernel.panic",
    "kernel.panic_on_oops",
)
# ip_forward must stay on while pods run (Service traffic is routed back onto the bridge).
NEEDED_WHILE_RUNNING = {"net.ipv4.ip_forward": "1"}


class NetworkError(RuntimeError):
    """A host network change failed; the message has the command and its output."""


def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"{' '.join(argv)}: {result.stderr.strip() or result.stdout.strip()}")
    return result


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    return {name: _sysctl_path(name).read_text().strip() for name in SYSCTLS}


def save_sysctls(saved: Path) -> None:
    """Record the machine's values once; a second start must not record our own changes."""
    if not saved.is_file():
        saved.write_text(json.dumps(read_sysctls()))


def restore_sysctls(saved: Path, keep_running_values: bool) -> list[str]:
    """Put the saved values back (all but what running pods need, unless the node is gone);
    returns the names that had changed."""
    if not saved.is_file():
        return []
    changed = []
    for name, value in json.loads(saved.read_text()).items():
        if keep_running_values and name in NEEDED_WHILE_RUNNING:
            continue
        path = _sysctl_path(name)
        if path.read_text().strip() != value:
            path.write_text(value)
            changed.append(name)
    if not keep_running_values:
        saved.unlink()
    return changed


def bridge_exists() -> bool:
    return _run(["ip", "link", "show", topology.BRIDGE], check=False).returncode == 0


def create(apiserver_port: int) -> None:
    """Bridge, Service route and the isolation chains; each step is idempotent."""
    prefix = topology.POD_CIDR.split("/")[1]
    if not bridge_exists():
        _run(["ip", "link", "add", topology.BRIDGE, "type", "bridge"])
    _run(["ip", "addr", "replace", f"{topology.NODE_IP}/{prefix}", "dev", topology.BRIDGE])
    _run(["ip", "link", "set", topology.BRIDGE, "up"])
    _run(["ip", "route", "replace", topology.SERVICE_CIDR, "dev", topology.BRIDGE])
    _isolate(apiserver_port)


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return _run(["iptables", "-w", *args], check=check)


def fill_chain(
    name: str,
    rules: Sequence[Sequence[str]],
    hook: str,
    hook_rule: Sequence[str] = (),
    *,
    table: str = "filter",
    first: bool = True,
) -> None:
    """(Re)fill chain `name` of `table` with `rules` and make `hook` jump to it exactly once,
    as its first rule (or its last: `first=False`)."""
    where = ("-t", table)
    if _iptables(*where, "-n", "-L", name, check=False).returncode != 0:
        _iptables(*where, "-N", name)
    _iptables(*where, "-F", name)
    for rule in rules:
        _iptables(*where, "-A", name, *rule)
    jump = [*hook_rule, "-j", name]
    if _iptables(*where, "-C", hook, *jump, check=False).returncode != 0:
        _iptables(*where, *(("-I", hook, "1") if first else ("-A", hook)), *jump)


def remove_chain(
    name: str, hook: str, hook_rule: Sequence[str] = (), *, table: str = "filter"
) -> bool:
    """Undo `fill_chain`; False when there was no such chain."""
    where = ("-t", table)
    while _iptables(*where, "-D", hook, *hook_rule, "-j", name, check=False).returncode == 0:
        pass
    if _iptables(*where, "-n", "-L", name, check=False).returncode != 0:
        return False
    _iptables(*where, "-F", name)
    _iptables(*where, "-X", name)
    return True


def _isolate(apiserver_port: int) -> None:
    bridge = topology.BRIDGE
    fill_chain(
        FORWARD_CHAIN,
        [
            ["-i", bridge, "-o", bridge, "-j", "ACCEPT"],
            ["-i", bridge, "-j", "DROP"],
            ["-o", bridge, "-j", "DROP"],
        ],
        "FORWARD",
        [],
    )
    node = ["-d", topology.NODE_IP]
    fill_chain(
        INPUT_CHAIN,
        [
            ["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
            [*node, "-p", "tcp", "--dport", str(apiserver_port), "-j", "ACCEPT"],
            [*node, "-p", "udp", "--dport", "53", "-j", "ACCEPT"],
            [*node, "-p", "tcp", "--dport", "53", "-j", "ACCEPT"],
            ["-j", "DROP"],
        ],
        "INPUT",
        ["-i", bridge],
    )


def remove() -> list[str]:
    """Undo `create`; returns what was there to remove (for the log)."""
    removed = []
    for chain, hook, hook_rule in (
        (FORWARD_CHAIN, "FORWARD", []),
        (INPUT_CHAIN, "INPUT", ["-i", topology.BRIDGE]),
    ):
        if remove_chain(chain, hook, hook_rule):
            removed.append(f"iptables chain {chain}")
    if bridge_exists():
        # Deleting the bridge also drops its address and the Service route.
        _run(["ip", "link", "delete", topology.BRIDGE])
        removed.append(f"bridge {topology.BRIDGE}")
    return removed


# Chains of the kubelet, kube-proxy, the CNI portmap plugin and ours. One real node per machine,
# so every such chain on this host is the node's.
NODE_CHAIN_PREFIXES = ("KUBE-", "CNI-", "DJANGOSTACK")
TABLES = ("filter", "nat", "mangle")
IPTABLES_COMMANDS = ("iptables", "ip6tables")


def _node_chains(command: str, table: str) -> list[str]:
    listing = _run([command, "-w", "-t", table, "-S"], check=False).stdout
    return [
        line.split()[1]
        for line in listing.splitlines()
        if line.startswith("-N ") and line.split()[1].startswith(NODE_CHAIN_PREFIXES)
    ]


def remove_node_chains() -> list[str]:
    """Delete the node's chains that `kube-proxy --cleanup` leaves (the kubelet's canaries
    and KUBE-FIREWALL, in both address families), with the rules that jump to them."""
    removed = []
    for command in IPTABLES_COMMANDS:
        for table in TABLES:
            chains = _node_chains(command, table)
            if not chains:
                continue
            listing = _run([command, "-w", "-t", table, "-S"], check=False).stdout
            for line in listing.splitlines():
                words = line.split()
                if words[:1] == ["-A"] and "-j" in words:
                    target = words[words.index("-j") + 1]
                    if target in chains and not words[1].startswith(NODE_CHAIN_PREFIXES):
                        _run([command, "-w", "-t", table, "-D", *words[1:]], check=False)
            for chain in chains:
                _run([command, "-w", "-t", table, "-F", chain], check=False)
            for chain in chains:
                _run([command, "-w", "-t", table, "-X", chain], check=False)
                removed.append(f"{command} {table} chain {chain}")
    return removed


def leftovers() -> list[str]:
    """What the node's network would leave behind: the checks of `make cluster-down`."""
    found = []
    if bridge_exists():
        found.append(f"bridge {topology.BRIDGE}")
    for command in IPTABLES_COMMANDS:
        for table in TABLES:
            found += [f"{command} {table} chain {chain}" for chain in _node_chains(command, table)]
    routes = _run(["ip", "route", "show", topology.SERVICE_CIDR], check=False).stdout.strip()
    if routes:
        found.append(f"route {routes}")
    return found
