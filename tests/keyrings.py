"""Keyring backends for tests, swapped in for one test and the original put back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import keyring
from keyring.backend import KeyringBackend
from keyring.backends import fail


class MemoryKeyring(KeyringBackend):
    """A keyring in a dict; ``broken=True`` makes every read fail like a locked keyring."""

    priority = 1

    def __init__(self, broken: bool = False) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}
        self.broken = broken

    def get_password(self, service, username):
        if self.broken:
            raise RuntimeError("keyring is locked")
        return self.passwords.get((service, username))

    def set_password(self, service, username, password):
        self.passwords[(service, username)] = password

    def delete_password(self, service, username):
        self.passwords.pop((service, username), None)


@contextmanager
def swapped_keyring() -> Iterator[Callable[[KeyringBackend], KeyringBackend]]:
    """Start with no usable keyring (as on a headless machine); the yielded function
    installs another backend. The original backend is restored at the end."""
    original = keyring.get_keyring()

    def use(backend: KeyringBackend) -> KeyringBackend:
        keyring.set_keyring(backend)
        return backend

    use(fail.Keyring())
    try:
        yield use
    finally:
        keyring.set_keyring(original)
