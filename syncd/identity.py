"""Who is who: addresses merged into people.

Addresses are merged by ``[[people]]`` entries of the config, by address-book contacts that list
several addresses (Google, Outlook, CardDAV), and by ``syncd people merge``. The user's own
addresses never join a person.
"""

from __future__ import annotations

from collections.abc import Iterable


class Identities:
    """A union-find over addresses; each group's key is its smallest address."""

    def __init__(self, me: Iterable[str] = ()):
        self._parent: dict[str, str] = {}
        self._me = frozenset(me)

    def find(self, address: str) -> str:
        parent = self._parent
        root = address
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(address, address) != root:  # path compression
            parent[address], address = root, parent[address]
        return root

    def merge(self, addresses: Iterable[str]) -> None:
        addrs = [a.lower() for a in addresses if a and a.lower() not in self._me]
        if len(addrs) < 2:
            return
        roots = sorted({self.find(a) for a in addrs})
        keep = roots[0]
        for r in roots[1:]:
            self._parent[r] = keep
        for a in addrs:
            self._parent.setdefault(a, keep)
            if self.find(a) != keep:
                self._parent[self.find(a)] = keep

    def groups(self) -> dict[str, list[str]]:
        """Key -> sorted addresses, for every address that was merged with another."""
        out: dict[str, list[str]] = {}
        for a in list(self._parent):
            out.setdefault(self.find(a), []).append(a)
        for v in out.values():
            v.sort()
        return out
