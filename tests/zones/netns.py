"""Two network namespaces joined by a veth pair: the control plane's and a zone's, the
zone behind a firewall (nftables) that drops every connection opened from outside it.

Needs root, ``ip`` (iproute2) and ``nft`` (nftables). Only addresses in the two
namespaces made here are used (10.213.N.0/30); both are deleted on ``close()``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass

ZONE_FIREWALL = """\
table inet unifier_zone {
  chain input {
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct state established,related accept
  }
}
"""


def missing_requirements() -> str | None:
    """Why these tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, as CI does)"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install -y {package}; scripts/test.sh does)"
    return None


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, text=True)


@dataclass
class ZoneNetwork:
    suffix: str
    subnet: int

    @property
    def cp_ns(self) -> str:
        return f"uz-cp-{self.suffix}"

    @property
    def zone_ns(self) -> str:
        return f"uz-zone-{self.suffix}"

    @property
    def cp_link(self) -> str:
        return f"uzc{self.suffix}"

    @property
    def zone_link(self) -> str:
        return f"uzz{self.suffix}"

    @property
    def cp_address(self) -> str:
        return f"10.213.{self.subnet}.1"

    @property
    def zone_address(self) -> str:
        return f"10.213.{self.subnet}.2"

    @classmethod
    def create(cls) -> ZoneNetwork:
        net = cls(suffix=secrets.token_hex(3), subnet=secrets.randbelow(250) + 1)
        try:
            net._build()
        except BaseException:
            net.close()
            raise
        return net

    def _build(self) -> None:
        _run("ip", "netns", "add", self.cp_ns)
        _run("ip", "netns", "add", self.zone_ns)
        _run("ip", "link", "add", self.cp_link, "type", "veth", "peer", "name", self.zone_link)
        _run("ip", "link", "set", self.cp_link, "netns", self.cp_ns)
        _run("ip", "link", "set", self.zone_link, "netns", self.zone_ns)
        for ns, link, address in ((self.cp_ns, self.cp_link, self.cp_address),
                                  (self.zone_ns, self.zone_link, self.zone_address)):
            _run("ip", "-n", ns, "addr", "add", f"{address}/30", "dev", link)
            _run("ip", "-n", ns, "link", "set", link, "up")
            _run("ip", "-n", ns, "link", "set", "lo", "up")
        subprocess.run(["ip", "netns", "exec", self.zone_ns, "nft", "-f", "-"], input=ZONE_FIREWALL,
                       check=True, capture_output=True, text=True)

    def in_cp(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.cp_ns, *argv]

    def in_zone(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.zone_ns, *argv]

    def cut(self) -> None:
        """The link goes down, as a cable pulled on the control plane's side."""
        _run("ip", "-n", self.cp_ns, "link", "set", self.cp_link, "down")

    def restore(self) -> None:
        _run("ip", "-n", self.cp_ns, "link", "set", self.cp_link, "up")

    def close(self) -> None:
        for ns in (self.cp_ns, self.zone_ns):  # deleting a namespace deletes its veth end
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
