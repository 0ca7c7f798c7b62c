import os
from pathlib import Path

from tts_core.platform import page_cache


def test_advises_each_file_that_opens_and_skips_the_rest(tmp_path: Path) -> None:
    contents = {tmp_path / "a.bin": os.urandom(1 << 16), tmp_path / "b.bin": os.urandom(1 << 16)}
    for path, data in contents.items():
        path.write_bytes(data)
    a, b = contents
    assert page_cache.advise([a, tmp_path / "missing.bin", b], os.POSIX_FADV_WILLNEED) == 2
    assert page_cache.advise(iter(contents), os.POSIX_FADV_DONTNEED) == 2  # any iterable
    assert all(path.read_bytes() == data for path, data in contents.items())  # advice never changes a file
