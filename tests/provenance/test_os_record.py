"""Manifests and doctor traces record the OS and C library: the seed's fifth environment layer."""

from __future__ import annotations

import platform

from seedbench.provenance.environment import environment_record, os_record


def test_os_record_names_the_c_library_and_the_distribution() -> None:
    record = os_record()
    assert record["system"] == platform.system() and record["kernel"] == platform.release()
    assert record["libc"] == list(platform.libc_ver())
    release = platform.freedesktop_os_release()
    assert record["os_release"] == {k: release[k] for k in ("ID", "VERSION_ID", "PRETTY_NAME") if k in release}


def test_every_manifest_environment_carries_the_os_record() -> None:
    assert environment_record({})["os"] == os_record()
