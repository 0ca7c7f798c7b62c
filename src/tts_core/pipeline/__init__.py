"""One synthesis from entry to result: starting and reading executions (`jobs`), S3 uploads as an entry
point, the cache, long-text planning and joining, the engine-task runner every engine Lambda wraps,
and the result record built from the execution history."""
