"""The book's schemas: its chapters, the request that brings it, and what its steps pass on."""

from __future__ import annotations

from pydantic import BaseModel


class Chapter(BaseModel):
    """`text` is what is spoken (its heading first); `title` is what the manifest and file names show."""

    title: str
    text: str
