"""`tts-local`: the SAM app on this machine, without AWS or Docker.

`serve` keeps one local stack alive (API on --port, the AWS endpoint on --aws-port); the other
commands talk to a running `serve` when there is one (TTS_LOCAL_ENDPOINT or --endpoint, else the
default address if something answers there), and otherwise run on a fresh in-process stack."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tts_core.books import jobs as book_jobs
from tts_core.books import manuscript
from tts_core.books.models import BookRequest
from tts_core.delivery import formats
from tts_core.errors import InvalidInputError, NotFoundError, TtsError
from tts_core.models import Attempt, CaptionKeys, parse_request
from tts_core.pipeline import front, jobs, uploads
from tts_core.pipeline.jobs import Job
from tts_core.platform import aws, storage
from tts_core.platform.config import BookPlanSettings
from tts_core.platform.observability import logger
from tts_core.voices import directory
from tts_local import faults, serve_log, serve_state
from tts_local.http_api import ApiServer, api_key_id
from tts_local.stack import LOCAL_DASHSCOPE_KEY, REGION, LocalStack, run_voice_bootstrap
from tts_local.template import ROOT, function_environment, load_template, parameter_defaults

SCHEDULED_EVENT = json.loads((ROOT / "events" / "schedule.json").read_text())
DEFAULT_AWS_PORT = 4566
DEFAULT_API_PORT = 3000
ENDPOINT_ENV = "TTS_LOCAL_ENDPOINT"
API_KEY_ENV = "TTS_LOCAL_API_KEY"
API_KEYS_ENV = "TTS_LOCAL_API_KEYS"  # several keys, comma-separated: a usage plan with several keys
ADMIN_KEY_ENV = "TTS_LOCAL_ADMIN_KEY"


def _parameters(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"tts-local: --parameter wants Key=Value, not '{pair}'")
        out[key] = value
    return out


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=0.3):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def target(args: argparse.Namespace) -> Iterator[LocalStack]:
    """A stack to work on: the running `serve` (names only; calls go to its endpoint) or a fresh one.
    The serve is the one named by --endpoint (or TTS_LOCAL_ENDPOINT), else the one serve_state records,
    else whatever answers on the default port."""
    endpoint = _served_endpoint(args)
    if endpoint is not None:
        names = LocalStack(stack_name=args.stack_name)  # never started: it only knows the names
        os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "local",
                           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION})
        aws.reset_clients()
        _say(args, f"using the local stack served at {endpoint}")
        yield names
        return
    _say(args, "no `tts-local serve` running: starting an in-process local stack")
    with LocalStack(_parameters(args.parameter), stack_name=args.stack_name, voices=True) as stack:
        _say(args, f"voice bootstrap: {_voice_summary(stack)}")
        yield stack


def _served_endpoint(args: argparse.Namespace) -> str | None:
    """The AWS endpoint of the running serve; None when none runs; SystemExit when the one named or
    recorded does not answer (a stack of our own would be one the server never sees)."""
    explicit = args.endpoint or os.environ.get(ENDPOINT_ENV)
    if explicit:
        if not _answers(explicit):
            raise SystemExit(f"tts-local: nothing answers at {explicit} (is `tts-local serve` running?)")
        return str(explicit)
    state = serve_state.read(args.stack_name)
    if state is not None:
        if not _answers(state.aws_endpoint):
            raise SystemExit(f"tts-local: `tts-local serve` (pid {state.pid}) runs but nothing answers at "
                             f"{state.aws_endpoint} (recorded in {serve_state.state_path(args.stack_name)}); "
                             f"is it still starting? Or name an endpoint with --endpoint or {ENDPOINT_ENV}")
        return state.aws_endpoint
    default = f"http://127.0.0.1:{DEFAULT_AWS_PORT}"
    return default if _answers(default) else None


def _say(args: argparse.Namespace, message: str) -> None:
    if not getattr(args, "json", False):
        print(message, file=sys.stderr)


# ---- synthesize ---------------------------------------------------------------------------------
def cmd_synthesize(args: argparse.Namespace) -> int:
    raw: dict[str, Any] = {"text": args.text, "voice": args.voice, "speed": args.speed, "pitch": args.pitch,
                           "volume": args.volume, "style": args.style}
    if args.sample_rate:
        raw["sample_rate"] = args.sample_rate
    if args.profile:
        raw["profile"] = args.profile
    raw |= {"format": args.format, "bitrate_kbps": args.bitrate, "mastering": args.mastering,
            "captions": args.captions or None}
    try:
        request = parse_request({k: v for k, v in raw.items() if v is not None}, max_text_chars=args.max_chars)
        rates = parameter_defaults(load_template()) | _parameters(args.parameter)
        formats.for_request(request, int(rates["AudioSampleRate"]))
    except TtsError as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    with target(args) as stack:
        try:  # the text front end, as every entry point runs it (an operator's voices and lexicons)
            request = front.prepare(request, bucket=stack.bucket, owner=directory.ANY_OWNER, lexicon_owner=None)
        except TtsError as exc:
            print(f"error {exc.code}: {exc.message}", file=sys.stderr)
            return 2
        request_id = jobs.start(stack.state_machine_arn, request, correlation_id=f"cli-{os.getpid()}")
        _say(args, f"request {request_id} started")
        job = _wait_with_progress(args, stack, request_id)
        if args.json:
            print(json.dumps(job.model_dump(mode="json"), ensure_ascii=False, indent=1))
        else:
            _print_job(job)
        if job.result and job.result.status == "succeeded" and args.out:
            _copy_out(args, job.result.bucket, job.result.audio_key or "", job.result.captions)
        return 0 if job.status == "succeeded" else 1


def _copy_out(args: argparse.Namespace, bucket: str, audio_key: str, captions: CaptionKeys | None) -> None:
    """The audio to --out, and its captions beside it (x.mp3 -> x.srt, x.vtt, x.marks.json)."""
    out = Path(args.out)
    out.write_bytes(storage.get_bytes(bucket, audio_key))
    _say(args, f"wrote {out}")
    for kind, key in (captions.model_dump() if captions else {}).items():
        path = out.with_name(f"{out.stem}.{storage.CAPTION_KINDS[kind][0]}")
        path.write_bytes(storage.get_bytes(bucket, key))
        _say(args, f"wrote {path}")


def _wait_with_progress(args: argparse.Namespace, stack: LocalStack, request_id: str) -> Job:
    started = time.monotonic()
    next_note = 5.0
    while True:
        job = jobs.wait(stack.state_machine_arn, stack.bucket, request_id, timeout_s=1.0)
        elapsed = time.monotonic() - started
        if job.status != "running":
            return job
        if elapsed > args.timeout:
            raise SystemExit(f"tts-local: request {request_id} still running after {args.timeout:.0f} s")
        if elapsed >= next_note:
            done = (f", segments {job.progress.segments_done}/{job.progress.segments_total} done"
                    if job.progress else "")
            _say(args, f"  ... still running after {elapsed:.0f} s{done}")
            next_note += 5.0


def _print_job(job: Job) -> None:
    result = job.result
    if result is None:
        print(f"request {job.request_id}: {job.execution_status}, no result record")
        return
    print(f"request {result.request_id}: {result.status} in {result.total_ms / 1000:.2f} s")
    failed_before = sum(1 for a in result.attempts if a.outcome != "succeeded")
    if result.status == "succeeded":
        note = f" (after {failed_before} failed attempt{'s' * (failed_before != 1)})" if failed_before else ""
        print(f"engine used: {result.engine_used}{note}")
    else:
        print(f"error {result.error_code}: {result.error_message}")
    _print_attempts(result.attempts, cache_hit=result.cache_hit)
    if result.segments:
        engines = Counter(p.engine for p in result.segments)
        print(f"segments: {len(result.segments)} ({', '.join(f'{e} {n}' for e, n in engines.items())})")
    if result.audio_key:
        print(f"audio: s3://{result.bucket}/{result.audio_key} ({result.format}, {result.duration_s:.2f} s "
              f"at {result.sample_rate} Hz)")
    if result.loudness:
        loud = result.loudness
        verdict = "meets it" if loud.meets_profile else f"misses it: {'; '.join(loud.misses)}"
        print(f"mastering {loud.profile}: {loud.integrated_lufs} LUFS, RMS {loud.rms_dbfs} dBFS, peak "
              f"{loud.peak_dbfs} dBFS, true peak {loud.true_peak_dbtp} dBTP, head {loud.head_silence_s} s, "
              f"tail {loud.tail_silence_s} s: {verdict}")
    if result.captions:
        print(f"captions: {', '.join(result.captions.model_dump().values())}")


def _print_attempts(attempts: list[Attempt], *, cache_hit: bool | None) -> None:
    if cache_hit:
        print("served from the cache: an identical request was synthesized before; no engine ran")
        return
    print("attempts:")
    for n, a in enumerate(attempts, 1):
        why = f"{a.code:<22} {a.message or ''}" if a.code else ""
        where = a.engine if a.segment is None else f"{a.engine} #{a.segment}"
        print(f"  {n}. {where:<14} {a.outcome:<10} {a.duration_ms:>7} ms  {why}".rstrip())


# ---- upload and download ------------------------------------------------------------------------
def cmd_upload(args: argparse.Namespace) -> int:
    path = Path(args.file)
    key = args.key or f"{storage.INBOX_PREFIX}{path.name}"
    with target(args) as stack:
        put = aws.client("s3").put_object(Bucket=stack.bucket, Key=key, Body=path.read_bytes())
        etag, version = put["ETag"].strip('"'), put.get("VersionId")
        _say(args, f"uploaded s3://{stack.bucket}/{key}")
        if not key.startswith(storage.INBOX_PREFIX):
            _say(args, f"(only objects under {storage.INBOX_PREFIX} start a synthesis)")
            return 0
        if args.no_wait:
            return 0
        record = _wait_for_upload(stack.bucket, key, etag, version, args.timeout)
        _print_upload(record)
        if record.audio_key and args.out:
            _copy_out(args, stack.bucket, record.audio_key, record.captions)
        return 0 if record.status == "succeeded" else 1


def _wait_for_upload(bucket: str, key: str, etag: str, version: str | None,
                     timeout_s: float) -> uploads.UploadRecord:
    """The outcome of this version of the object: outputs/<name>.json, failed/<name>.json or
    superseded/<name>/<version>.json naming it."""
    name = uploads.output_name(key)
    candidates = (storage.output_keys(name)[1], storage.failed_key(name), storage.superseded_key(name, version or etag))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for record_key in candidates:
            try:
                record = uploads.UploadRecord.model_validate(storage.get_json(bucket, record_key))
            except NotFoundError:
                continue
            if (record.source.version_id or record.source.etag) == (version or etag) and record.source.bucket == bucket:
                return record
        time.sleep(0.2)
    raise SystemExit(f"tts-local: no outcome for s3://{bucket}/{key} after {timeout_s:.0f} s")


def _print_upload(record: uploads.UploadRecord) -> None:
    if record.status == "succeeded":
        print(f"{record.source.key}: succeeded -> {record.audio_key} ({record.duration_s:.2f} s, "
              f"engine {record.engine_used})")
    elif record.status == "superseded":
        print(f"{record.source.key}: superseded by version {record.superseded_by}: {record.message}")
    else:
        print(f"{record.source.key}: failed -> {storage.failed_key(record.name)}")
        print(f"error {record.code}: {record.message}")
    if record.attempts or record.cache_hit:
        _print_attempts(record.attempts, cache_hit=record.cache_hit)


def cmd_download(args: argparse.Namespace) -> int:
    with target(args) as stack:
        try:
            data = storage.get_bytes(stack.bucket, args.key)
        except NotFoundError:
            print(f"tts-local: no s3://{stack.bucket}/{args.key}", file=sys.stderr)
            return 1
    Path(args.out).write_bytes(data)
    _say(args, f"wrote {args.out} ({len(data)} bytes)")
    return 0


# ---- book ---------------------------------------------------------------------------------------
def book_request(path: Path, args: argparse.Namespace) -> BookRequest:
    """The file as POST /api/books would take it: a .json body as it is; any other manuscript's chapters
    read here (as the plan step reads an upload) with the command line's options."""
    kind = manuscript.kind_of(path.name)
    if kind is None:
        raise InvalidInputError(f"a book is a .txt, .md, .json or .epub file, not '{path.name}'")
    options = {k: v for k, v in {"voice": args.voice, "format": args.format, "mastering": args.mastering}.items()
               if v is not None}
    if kind == "json":
        return book_jobs.parse_book(json.loads(path.read_text(encoding="utf-8")) | options)
    chapters = manuscript.parse(kind, path.read_bytes(), title=args.title or path.stem)
    return book_jobs.parse_book({"title": args.title or path.stem,
                                 "chapters": [c.model_dump() for c in chapters]} | options)


def cmd_book(args: argparse.Namespace) -> int:
    path, out = Path(args.file), Path(args.out)
    try:
        request = book_request(path, args)
    except TtsError as exc:
        print(f"error {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    with target(args) as stack:
        settings = BookPlanSettings(**{k.lower(): v for k, v in function_environment(
            "BookPlanFunction", refs=dict(stack.resolver.refs), parameters=stack.resolver.parameters).items()})
        try:
            request_id = book_jobs.submit(stack.book_state_machine_arn, request, settings, f"cli-{os.getpid()}")
        except TtsError as exc:
            print(f"error {exc.code}: {exc.message}", file=sys.stderr)
            return 2
        _say(args, f"book {request_id} started")
        status = _book_progress(stack, request_id, args)
        if status.result is None or status.result.manifest_key is None:
            print(f"book {request_id}: {status.status}, no manifest")
            return 1
        manifest = storage.get_json(stack.bucket, status.result.manifest_key)
        out.mkdir(parents=True, exist_ok=True)
        for chapter in manifest["chapters"]:
            for key in chapter["files"].values():
                (out / key.rsplit("/", 1)[-1]).write_bytes(storage.get_bytes(stack.bucket, key))
        (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        totals = manifest["totals"]
        print(f"book {request_id}: {status.status}; {totals['chapters']} of {totals['chapters_planned']} chapters, "
              f"{totals['duration_s']:.1f} s of audio, written to {out}/")
        for chapter in manifest["chapters"]:
            print(f"  {chapter['index'] + 1:>3}. {chapter['title'][:50]:<50} {chapter['duration_s']:>8.1f} s  "
                  f"{', '.join(chapter['engines'])}")
        if status.result.error_code:
            print(f"error {status.result.error_code}: {status.result.error_message}")
        return 0 if status.status == "succeeded" else 1


def _book_progress(stack: LocalStack, request_id: str, args: argparse.Namespace) -> book_jobs.BookStatus:
    """Poll the job, drawing its segments and chapters as a progress bar (on stderr)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    deadline = time.monotonic() + args.timeout
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True, disable=args.json) as bar:
        segments = bar.add_task("segments", total=None)
        chapters = bar.add_task("chapters", total=None)
        while True:
            status = book_jobs.status(stack.book_state_machine_arn, stack.bucket, request_id)
            if status.progress is not None:
                p = status.progress
                bar.update(segments, completed=p.segments_done, total=p.segments_total)
                bar.update(chapters, completed=p.chapters_done, total=p.chapters_total)
            if status.status != "running":
                return status
            if time.monotonic() > deadline:
                raise SystemExit(f"tts-local: book {request_id} still running after {args.timeout:.0f} s")
            time.sleep(0.5)


# ---- serve --------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from moto.server import ThreadedMotoServer

    from tts_local.http_api import api_key_id

    api_keys = _api_keys(args)  # a bad key file stops serve before any work
    admin_key = _secret(args.admin_key, args.admin_key_file, ADMIN_KEY_ENV)
    serve_log.configure_access_log(args.aws_log)
    os.environ["MOTO_PORT"] = str(args.aws_port)  # moto's own calls back to itself use this port
    with LocalStack(_parameters(args.parameter), stack_name=args.stack_name, voices=True) as stack:
        aws_server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.aws_port, verbose=False)
        aws_server.start()
        # Presigned audio URLs must point at this machine's S3, where a browser can fetch them.
        os.environ["AWS_ENDPOINT_URL_S3"] = f"http://127.0.0.1:{args.aws_port}"
        aws.reset_clients()
        api = ApiServer(stack, args.port, api_key=api_keys, admin_key=admin_key, throttled=True)
        api.start()
        state = serve_state.write(args.stack_name, serve_state.ServeState(
            pid=os.getpid(), aws_endpoint=f"http://127.0.0.1:{args.aws_port}", api_url=api.url,
            api_key_required=bool(api_keys)))
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print(f"API        {api.url}  (routes: {', '.join(f'{r.method} {r.resource}' for r in api.routes)})")
        print(f"AWS        http://127.0.0.1:{args.aws_port}  (export {ENDPOINT_ENV}=http://127.0.0.1:{args.aws_port})")
        print(f"page       {api.url}/" + ("  (API key required: x-api-key)" if api_keys else ""))
        if api_keys:  # each key's id, as API Gateway shows it (never the key itself)
            print(f"keys       {len(api_keys)}: {', '.join(api_key_id(k) for k in api_keys)}")
        print("admin      PUT /api/route " + ("needs x-admin-key" if admin_key else
                                              f"refused (no admin key: --admin-key-file or {ADMIN_KEY_ENV})"))
        print(f"bucket     {stack.bucket}  (upload to inbox/: tts-local upload FILE)")
        print(f"faults     {os.environ.get(faults.ENV_VAR) or 'none'}")
        print(f"voices     {_voice_summary(stack)}  (tts-local voices list)")
        print(f"state      {state}  (how the other tts-local commands find this server)")
        if args.probe_interval:
            threading.Thread(target=_probe_loop, args=(stack, args.probe_interval, stop), daemon=True).start()
            print(f"probe      every {args.probe_interval:g} s (as the EventBridge schedule would)")
        print("ready", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            serve_state.remove(args.stack_name)
            api.stop()
            aws_server.stop()
    return 0


def _api_keys(args: argparse.Namespace) -> list[str]:
    """Every key of the local usage plan, each with its own id: --api-key-file (repeatable) and --api-key,
    else TTS_LOCAL_API_KEYS (comma-separated), else TTS_LOCAL_API_KEY."""
    keys = [_secret(None, path, API_KEY_ENV) or "" for path in args.api_key_file or []]
    if args.api_key:
        keys.append(args.api_key)
    if not keys:
        keys = [k.strip() for k in os.environ.get(API_KEYS_ENV, "").split(",") if k.strip()]
    if not keys and os.environ.get(API_KEY_ENV):
        keys = [os.environ[API_KEY_ENV]]
    if len(set(keys)) != len(keys):
        raise SystemExit("tts-local: the same API key is given twice")
    return keys


def _secret(value: str | None, path: str | None, env: str) -> str | None:
    """A key from its file, else the command line, else the environment: a file or the environment keep
    it out of `ps`. In a file, blank lines and lines starting with `#` are comments; the one other line is
    the key. A file with no key, two keys, or a key with spaces in it is refused, saying which line."""
    if not path:
        return value or os.environ.get(env) or None
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise SystemExit(f"tts-local: cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    keys = [(n, line.strip()) for n, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise SystemExit(f"tts-local: {path} holds no key (only blank or # comment lines)")
    if len(keys) > 1:
        raise SystemExit(f"tts-local: {path} holds a second key on line {keys[1][0]}; one key per file "
                         "(comments start with #)")
    number, key = keys[0]
    if any(ch.isspace() or not ch.isprintable() for ch in key):
        raise SystemExit(f"tts-local: the key on line {number} of {path} holds a space or an invisible character")
    return key


def _probe_loop(stack: LocalStack, interval_s: float, stop: threading.Event) -> None:
    probe = stack.function("health_probe")
    while not stop.wait(interval_s):
        headers: dict[str, str] = {}
        answer = json.loads(stack.dispatch(probe.name, json.dumps(SCHEDULED_EVENT), headers))
        if headers.get("x-amz-function-error"):
            print(f"probe failed: {answer.get('errorType')}: {answer.get('errorMessage')}", flush=True)
        else:
            print(f"probe: route {answer['route']} ({answer['state']}): {answer['reason']}", flush=True)


# ---- probe and route ----------------------------------------------------------------------------
def cmd_probe(args: argparse.Namespace) -> int:
    with target(args) as stack:
        answer = _invoke(stack, "health_probe", SCHEDULED_EVENT)
        print(json.dumps(answer, ensure_ascii=False, indent=1))
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    with target(args) as stack:
        event: dict[str, Any] = {"action": "show"}
        if args.route:
            event = {"action": "override", "override": None if args.route == "auto" else args.route,
                     "by": f"operator:tts-local:{os.environ.get('USER', 'unknown')}"}
        print(json.dumps(_invoke(stack, "health_probe", event), ensure_ascii=False, indent=1))
    return 0


def _invoke(stack: LocalStack, short_name: str, event: dict[str, Any]) -> Any:
    fn = next(f for f in stack.functions_by_short_name() if f[0] == short_name)
    answer = aws.client("lambda").invoke(FunctionName=fn[1], Payload=json.dumps(event).encode())
    payload = json.loads(answer["Payload"].read() or b"null")
    if answer.get("FunctionError"):
        raise SystemExit(f"tts-local: {short_name} failed: {payload.get('errorType')}: {payload.get('errorMessage')}")
    return payload


# ---- voices -------------------------------------------------------------------------------------
def _voice_summary(stack: LocalStack) -> str:
    """What the bootstrap at start did, in one line."""
    report = stack.voice_bootstrap
    if report is None:
        return "no bootstrap ran"
    done = [v.voice for v in report.voices if v.status != "failed"]
    failed = [f"{v.voice} ({v.code})" for v in report.voices if v.status == "failed"]
    return f"references for {', '.join(done) or 'none'}" + (f"; none for {', '.join(failed)}" if failed else "")


def cmd_voices(args: argparse.Namespace) -> int:
    with target(args) as stack:
        if args.action == "bootstrap":
            primary = next(name for short, name in stack.functions_by_short_name() if short == "primary")
            report = run_voice_bootstrap(stack.bucket, primary, force=args.force,
                                         api_key=None if args.no_key else LOCAL_DASHSCOPE_KEY)
            for outcome in report.voices:
                why = f"  {outcome.code}: {outcome.message}" if outcome.code else ""
                print(f"{outcome.voice:<10} {outcome.status:<10} {outcome.source or '-':<9}{why}")
        key = _secret(None, args.api_key_file, API_KEY_ENV)
        for entry in directory.list_for(stack.bucket, api_key_id(key) if key else None):
            state = "ready" if entry.primary_ready else f"not ready: {entry.primary_reason}"
            name = f"  name {entry.name!r}" if entry.custom else ""
            print(f"{entry.id:<15} reference {entry.reference or '-':<9} primary {state}{name}")
        served = serve_state.read(args.stack_name)
        if key is None and served is not None and served.api_key_required:
            print(f"(the server checks API keys: custom voices belong to a key; give it with --api-key-file or "
                  f"{API_KEY_ENV} to list its own)")
    return 0


# ---- entry --------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tts-local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", help=f"AWS endpoint of a running `tts-local serve` (env {ENDPOINT_ENV})")
    parser.add_argument("--stack-name", default="tts-local")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the Lambda handlers' logs and metrics")
    stack_options = argparse.ArgumentParser(add_help=False)
    stack_options.add_argument("-p", "--parameter", action="append", default=[], metavar="KEY=VALUE",
                               help="template Parameter override for a stack this command starts (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True)

    syn = sub.add_parser("synthesize", parents=[stack_options], help="one request through the whole pipeline")
    syn.add_argument("text")
    syn.add_argument("--voice")
    syn.add_argument("--speed", type=float)
    syn.add_argument("--pitch", type=float)
    syn.add_argument("--volume", type=int)
    syn.add_argument("--style", choices=["default", "emotional", "narration"])
    syn.add_argument("--profile", choices=["quality", "fast"])
    syn.add_argument("--sample-rate", type=int)
    syn.add_argument("--format", choices=["wav", "flac", "mp3", "opus"], help="what to deliver (default wav)")
    syn.add_argument("--bitrate", type=int, metavar="KBPS", help="mp3/opus bitrate (default: the profile's)")
    syn.add_argument("--mastering", choices=["default", "acx", "podcast", "broadcast"])
    syn.add_argument("--captions", action="store_true", help="also write .srt, .vtt and .marks.json")
    syn.add_argument("--out", help="copy the audio (and its captions, beside it) out of the local bucket")
    syn.add_argument("--timeout", type=float, default=900.0, help="give up waiting after this many seconds")
    syn.add_argument("--max-chars", type=int, default=5000)
    syn.add_argument("--json", action="store_true", help="print the job as JSON")
    syn.set_defaults(func=cmd_synthesize)

    srv = sub.add_parser("serve", parents=[stack_options], help="keep a local stack alive with its HTTP API")
    srv.add_argument("--port", type=int, default=DEFAULT_API_PORT)
    srv.add_argument("--aws-port", type=int, default=DEFAULT_AWS_PORT)
    srv.add_argument("--probe-interval", type=float, metavar="SECONDS",
                     help="run the health probe on this schedule inside the local stack")
    srv.add_argument("--api-key", help="require this x-api-key where API Gateway would (default: no key "
                                       f"checked); visible in `ps`: prefer --api-key-file or {API_KEYS_ENV}")
    srv.add_argument("--api-key-file", metavar="PATH", action="append",
                     help="read an API key from this file (the one line that is not blank or a # comment); repeat "
                          "it for several keys, each with its own id and budget (or TTS_LOCAL_API_KEYS=k1,k2)")
    admin = srv.add_mutually_exclusive_group()
    admin.add_argument("--admin-key", help="the x-admin-key IAM-authorised routes (PUT /api/route) need locally "
                                           f"(default: refused); prefer --admin-key-file or {ADMIN_KEY_ENV}")
    admin.add_argument("--admin-key-file", metavar="PATH", help="read the admin key from this file")
    srv.add_argument("--aws-log", action="store_true", help="also print moto's HTTP access log (a line per AWS call)")
    srv.set_defaults(func=cmd_serve)

    upl = sub.add_parser("upload", parents=[stack_options],
                         help="put a file under inbox/ (the synthesis follows, as EventBridge starts it)")
    upl.add_argument("file", help=".txt (UTF-8 text, default voice) or .json (a request body)")
    upl.add_argument("--key", help=f"object key (default: {storage.INBOX_PREFIX}<file name>)")
    upl.add_argument("--no-wait", action="store_true", help="do not wait for the outcome")
    upl.add_argument("--out", help="copy the audio (and its captions, beside it) out of the local bucket")
    upl.add_argument("--timeout", type=float, default=900.0, help="give up waiting after this many seconds")
    upl.set_defaults(func=cmd_upload)

    book = sub.add_parser("book", parents=[stack_options], help="a manuscript (.txt, .md, .json, .epub) "
                          "through the book state machine, chapter files and manifest written to --out")
    book.add_argument("file")
    book.add_argument("--out", required=True, help="directory for the chapters, captions and manifest.json")
    book.add_argument("--title", help="the book's title (default: the file's name)")
    book.add_argument("--voice")
    book.add_argument("--format", choices=["wav", "flac", "mp3", "opus"])
    book.add_argument("--mastering", choices=["default", "acx", "podcast", "broadcast"])
    book.add_argument("--timeout", type=float, default=3600.0, help="give up waiting after this many seconds")
    book.add_argument("--json", action="store_true", help="no progress bar")
    book.set_defaults(func=cmd_book)

    dl = sub.add_parser("download", parents=[stack_options], help="copy an object out of the local bucket")
    dl.add_argument("key", help="e.g. outputs/NAME.wav")
    dl.add_argument("--out", required=True)
    dl.set_defaults(func=cmd_download)

    probe = sub.add_parser("probe", parents=[stack_options], help="run the health probe once")
    probe.set_defaults(func=cmd_probe)

    route = sub.add_parser("route", parents=[stack_options],
                           help="show the route, or force it (primary|fallback) until `auto`")
    route.add_argument("route", nargs="?", choices=["primary", "fallback", "auto"])
    route.set_defaults(func=cmd_route)

    voices = sub.add_parser("voices", parents=[stack_options],
                            help="`voices bootstrap`: give catalogue voices references recorded by the fallback "
                                 "(the deploy's custom resource); `voices list`: each voice's readiness")
    voices.add_argument("action", choices=["bootstrap", "list"])
    voices.add_argument("--force", action="store_true", help="record every reference again")
    voices.add_argument("--no-key", action="store_true", help="run as a deploy without a DashScope key would")
    voices.add_argument("--api-key-file", metavar="PATH",
                        help=f"list the custom voices of this API key (also {API_KEY_ENV}); without one, those "
                             "made without a key")
    voices.set_defaults(func=cmd_voices)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose and args.command != "serve":
        # A person reads the summary; the handlers' JSON logs and EMF metrics are for --verbose.
        logger.setLevel("CRITICAL")
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    try:
        faults.parse(os.environ.get(faults.ENV_VAR, ""))
    except faults.FaultSpecError as exc:
        print(f"tts-local: {exc}", file=sys.stderr)
        return 2
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
