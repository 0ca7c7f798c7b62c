"""Book jobs (issue 21): a manuscript in, audio by chapter out, on a Distributed Map.

manuscript (chapters from JSON, EPUB or text) -> plan (segments, the Map's items in S3, passes per engine)
-> the engines (the same engine tasks as a synthesis) -> chapter_audio (each chapter joined and encoded by
streaming) -> manifest (outputs/<name>/manifest.json and the job's record). jobs starts, reads and cancels."""
