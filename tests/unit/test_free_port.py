"""Ports for our listeners come from outside the range outbound connections draw from."""

from __future__ import annotations

from djangostack_devcluster.processes import LOWEST_LISTEN_PORT, ephemeral_ports, free_port


def test_free_ports_are_below_the_ephemeral_range_and_never_repeat() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(LOWEST_LISTEN_PORT <= port < ephemeral_ports().start for port in ports)
