"""The local stack: template.yaml's resources on moto, the real state machine definition run by
moto's ASL interpreter, and each Lambda dispatched in-process to the project's own handler."""

from __future__ import annotations

import contextvars
import importlib.util
import io
import itertools
import json
import logging
import os
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.exceptions import JsonRESTError
from moto.events.models import Rule

from tts_core.engines import Engine
from tts_core.engines.sambert import SambertEngine
from tts_core.models import SynthesisRequest
from tts_core.pipeline import jobs
from tts_core.pipeline.engine_task import engine_handler
from tts_core.pipeline.jobs import Job
from tts_core.pipeline.voice_bootstrap import BootstrapReport, bootstrap
from tts_core.platform import aws, config
from tts_core.voices.prepare import remote_prepare
from tts_local import execution_events, faults, iam, in_process, moto_fixes, s3_conditions
from tts_local.template import ROOT, Resolver, load_template, parameter_defaults, resources_of_type

# moto's ASL interpreter logs every failure it propagates (a Map iteration's Fail state, say) at ERROR with
# the whole state's repr, kilobytes of it. The execution history and the result record say it readably.
_INTERPRETER_LOGGER = logging.getLogger("moto.stepfunctions.parser.asl.component.eval_component")
REGION = "us-east-1"
_MOTO_SEQUENCER = "617f08299329d189"  # moto.s3.notifications puts this one in every event
ACCOUNT = "123456789012"
# What a local run changes from the template's defaults: the offline engine is on, so a machine
# with neither IndexTTS-2 weights nor a DashScope key still speaks.
LOCAL_PARAMETERS = {"LastResortEnabled": "true"}
_FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                     "AWS_SESSION_TOKEN": "local", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}
Handler = Callable[[dict[str, Any], Any], Any]
LOCAL_DASHSCOPE_KEY = "sk-local-bootstrap"  # what the local bootstrap's Sambert sends to the local server
REFERENCE_DIR = ROOT / "functions" / "voice_bootstrap" / "references"  # operator references (VOICE_REFERENCE_DIR)


def run_voice_bootstrap(bucket: str, primary_function: str, *, api_key: str | None = LOCAL_DASHSCOPE_KEY,
                        force: bool = False) -> BootstrapReport:
    """What the deploy's custom resource does, locally: Sambert is the local DashScope protocol server
    (`api_key=None`: no key, as a deploy without DashScopeSecretArn), the primary prepares each voice
    through the Lambda API. Only the bootstrap talks to this server: the fallback function keeps its
    own configuration (none by default)."""
    from tts_local.dashscope_server import DashScopeServer  # aiohttp: not in the IndexTTS-2 test venv

    saved = os.environ.get("NO_PROXY")
    # The SDK's aiohttp session trusts proxy environment variables: never for this local server.
    os.environ["NO_PROXY"] = ",".join(filter(None, [saved, "127.0.0.1", "localhost"]))
    try:
        with DashScopeServer() as server:
            engine = SambertEngine(api_key=lambda refresh=False: api_key, base_url=server.url)
            return bootstrap(bucket, engine, force=force, reference_dir=REFERENCE_DIR, backoff_s=0.2,
                             prepare=lambda voice: remote_prepare(primary_function, voice, wait=True))
    finally:
        if saved is None:
            os.environ.pop("NO_PROXY", None)
        else:
            os.environ["NO_PROXY"] = saved


@dataclass
class LocalContext:
    """The parts of the Lambda context object handlers and powertools use."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._started + self.timeout_s - time.monotonic()) * 1000))


@dataclass
class _Environment:
    handler: Handler
    busy: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class LocalFunction:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler_path: str  # "app.handler"
    timeout_s: float
    memory_mb: int
    environment: dict[str, str]
    engine: Engine | None = None  # a test double standing in for this function's engine
    reserved_concurrency: int | None = None  # ReservedConcurrentExecutions: at most this many at once
    _environments: list[_Environment] = field(default_factory=list)
    _pool_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def short_name(self) -> str:
        return self.short_name_of(self.code_dir)

    @staticmethod
    def short_name_of(code_dir: Path) -> str:
        """The name faults and the CLI use: the function's folder without `synthesize_`."""
        return code_dir.name.removeprefix("synthesize_")

    @contextmanager
    def execution_environment(self, module_prefix: str) -> Iterator[Handler]:
        """A free execution environment for one invocation, as Lambda gives: never two invocations at
        once in one environment; a new one (a cold start: the handler loaded anew) when all are busy,
        unless the function's reserved concurrency is reached: then Lambda refuses the invocation."""
        with self._pool_lock:
            free = next((env for env in self._environments if env.busy.acquire(blocking=False)), None)
            if free is None and self.reserved_concurrency is not None \
                    and len(self._environments) >= self.reserved_concurrency:
                raise JsonRESTError("TooManyRequestsException",
                                    f"Rate exceeded: {self.name} has {self.reserved_concurrency} reserved concurrency")
            if free is None:
                free = _Environment(self._load_handler(f"{module_prefix}_{len(self._environments)}"))
                free.busy.acquire()
                self._environments.append(free)
        try:
            yield free.handler
        finally:
            free.busy.release()

    def _load_handler(self, module_name_prefix: str) -> Handler:
        if self.engine is not None:
            return engine_handler(lambda: self.engine)  # type: ignore[arg-type,return-value]
        module_name, _, attr = self.handler_path.rpartition(".")
        path = self.code_dir / f"{module_name.replace('.', '/')}.py"
        spec = importlib.util.spec_from_file_location(f"{module_name_prefix}_{self.code_dir.name}", path)
        if spec is None or spec.loader is None:
            raise RuntimeError(f"cannot load handler {path}")
        module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, attr)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class EventDelivery:
    function: str  # short name of the target function
    event: dict[str, Any]
    answer: Any
    error: str | None  # "Unhandled" when the function failed


class LocalStack:
    """Create with parameter overrides (as `sam deploy --parameter-overrides` would take), then use
    as a context manager. Only one local stack may run in a process at a time."""

    _running_lock = threading.Lock()

    def __init__(self, parameters: dict[str, str] | None = None, *, stack_name: str = "tts-local",
                 environment: dict[str, str] | None = None, engines: dict[str, Engine] | None = None,
                 secrets: dict[str, str] | None = None, voices: bool = False) -> None:
        """`voices`: run the voice bootstrap when the stack starts, as a deploy does (with the local
        DashScope protocol server); tests that do not need the references leave it off (faster)."""
        self.template = load_template()
        self.bootstrap_voices = voices
        self.voice_bootstrap: BootstrapReport | None = None
        self.stack_name = stack_name
        values = parameter_defaults(self.template) | LOCAL_PARAMETERS | (parameters or {})
        self.resolver = Resolver(self.template, values | {
            "AWS::StackName": stack_name, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"})
        self.extra_environment = environment or {}
        self.engine_doubles = engines or {}  # short function name -> engine
        # Template Parameter -> secret value: the secret is created and its ARN becomes the Parameter.
        self.secrets = secrets or {}
        self.functions: dict[str, LocalFunction] = {}
        self.invocations: list[tuple[str, dict[str, Any]]] = []  # (short name, event), for tests
        self.deliveries: list[EventDelivery] = []  # what the EventBridge rules delivered, for tests
        self.released = threading.Event()  # set on stop: ends hanging "timeout" faults
        self._counter = faults.InvocationCounter()
        self._sequencer = itertools.count(time.time_ns() // 1000)  # S3's are hex and grow per key
        self._mock: Any = None
        self._saved_environ: dict[str, str | None] = {}
        self._saved_invoke: Any = None
        self._saved_send_to_targets: Any = None
        self._saved_log_level = logging.NOTSET
        self._prefix = f"tts_local_fn_{uuid.uuid4().hex[:8]}"
        self._name_physical_ids()
        self.iam = iam.Enforcer(self.resolver)  # each function's S3 grants, enforced (tts_local.iam)

    # ---- names -------------------------------------------------------------------------------
    def _name_physical_ids(self) -> None:
        r = self.resolver
        for logical in resources_of_type(self.template, "AWS::S3::Bucket"):
            r.refs[logical] = f"{self.stack_name}-{logical}".lower()
        for logical, spec in resources_of_type(self.template, "AWS::SSM::Parameter").items():
            r.refs[logical] = r.resolve(spec["Properties"]["Name"])
        for logical, spec in resources_of_type(self.template, "AWS::Serverless::StateMachine").items():
            name = r.resolve(spec["Properties"].get("Name", f"{self.stack_name}-{logical}"))
            arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
            r.refs[logical] = arn
            r.attributes[logical] = {"Arn": arn, "Name": name}
        for logical in resources_of_type(self.template, "AWS::Serverless::Function"):
            name = f"{self.stack_name}-{logical}"
            arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
            r.refs[logical] = name
            r.attributes[logical] = {"Arn": arn}
        for logical in resources_of_type(self.template, "AWS::DynamoDB::Table"):
            r.refs[logical] = f"{self.stack_name}-{logical}"
            r.attributes[logical] = {"Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{r.refs[logical]}"}
        for logical in resources_of_type(self.template, "AWS::Logs::LogGroup"):  # not created locally
            r.attributes[logical] = {"Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{logical}"}
        for kind in ("AWS::Serverless::Api", "AWS::Serverless::LayerVersion"):
            for logical in resources_of_type(self.template, kind):
                r.refs[logical] = f"local-{logical}"

    @property
    def bucket(self) -> str:
        return self._only_ref("AWS::S3::Bucket")

    @property
    def route_parameter(self) -> str:
        return self._only_ref("AWS::SSM::Parameter")

    @property
    def state_machine_arn(self) -> str:
        return self.resolver.refs["SynthesisStateMachine"]

    @property
    def book_state_machine_arn(self) -> str:
        return self.resolver.refs["BookStateMachine"]

    def _only_ref(self, kind: str) -> str:
        (logical,) = resources_of_type(self.template, kind)
        return self.resolver.refs[logical]

    def function(self, short_name: str) -> LocalFunction:
        return next(f for f in self.functions.values() if f.short_name == short_name)

    def functions_by_short_name(self) -> list[tuple[str, str]]:
        """(short name, physical name) of every function, known before the stack starts."""
        return [(LocalFunction.short_name_of(self._code_dir(spec)), self.resolver.refs[logical])
                for logical, spec in resources_of_type(self.template, "AWS::Serverless::Function").items()]

    @staticmethod
    def _code_dir(spec: dict[str, Any]) -> Path:
        props = spec["Properties"]
        if props.get("PackageType") == "Image":
            meta = spec["Metadata"]
            return ROOT / meta.get("DockerContext", ".") / Path(meta["Dockerfile"]).parent
        return ROOT / props["CodeUri"]

    # ---- life cycle --------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if not LocalStack._running_lock.acquire(blocking=False):
            raise RuntimeError("another local stack is running in this process")
        try:
            in_process.install()
            moto_fixes.install()
            self._set_environment(_FAKE_CREDENTIALS)
            self._saved_log_level = _INTERPRETER_LOGGER.level
            _INTERPRETER_LOGGER.setLevel(logging.CRITICAL)
            self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True},
                                          "lambda": {"use_docker": False}})
            self._mock.start()
            aws.reset_clients()
            config.reset()
            self._create_resources()
            self._install_dispatcher()
            self._install_event_delivery()
            execution_events.install(REGION)  # moto sends no "Execution Status Change" events itself
            self._install_service_faults()
            if self.bootstrap_voices:
                self.voice_bootstrap = run_voice_bootstrap(self.bucket, self.function("primary").name)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.released.set()
        _INTERPRETER_LOGGER.setLevel(self._saved_log_level)
        if self._saved_invoke is not None:
            LambdaSimpleBackend.invoke = self._saved_invoke
            self._saved_invoke = None
        execution_events.uninstall()
        if self._saved_send_to_targets is not None:
            Rule.send_to_targets = self._saved_send_to_targets
            self._saved_send_to_targets = None
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        for name, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environ.clear()
        aws.reset_clients()
        config.reset()
        in_process.uninstall()
        moto_fixes.uninstall()
        if LocalStack._running_lock.locked():
            LocalStack._running_lock.release()

    def serve_api_at(self, url: str) -> None:
        """The local front's own URL becomes the API's PublicApiUrl (status_url's base), as a deployment
        knows its stage URL, unless a Parameter set one. The first front on the stack keeps it."""
        if not os.environ.get("PUBLIC_API_URL"):
            self._set_environment({"PUBLIC_API_URL": url})
            config.reset()

    def _set_environment(self, values: dict[str, str]) -> None:
        for name, value in values.items():
            self._saved_environ.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    # ---- resources ---------------------------------------------------------------------------
    def _create_resources(self) -> None:
        r = self.resolver
        for parameter, value in self.secrets.items():
            r.parameters[parameter] = boto3.client("secretsmanager", region_name=REGION).create_secret(
                Name=f"{self.stack_name}/{parameter}", SecretString=value)["ARN"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=self.bucket)
        (bucket_spec,) = resources_of_type(self.template, "AWS::S3::Bucket").values()
        notifications = bucket_spec["Properties"].get("NotificationConfiguration", {})
        if notifications.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            s3.put_bucket_notification_configuration(
                Bucket=self.bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
        versioning = bucket_spec["Properties"].get("VersioningConfiguration")
        if versioning:
            s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": versioning["Status"]})
        for spec in resources_of_type(self.template, "AWS::SSM::Parameter").values():
            props = r.resolve(spec["Properties"])
            boto3.client("ssm", region_name=REGION).put_parameter(
                Name=props["Name"], Value=props["Value"], Type=props.get("Type", "String"))
        for logical, spec in resources_of_type(self.template, "AWS::DynamoDB::Table").items():
            props = r.resolve(spec["Properties"])
            boto3.client("dynamodb", region_name=REGION).create_table(
                TableName=r.refs[logical], AttributeDefinitions=props["AttributeDefinitions"],
                KeySchema=props["KeySchema"], BillingMode=props["BillingMode"])
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="tts-local", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self._create_functions(role)
        self._create_event_rules()
        for logical, spec in resources_of_type(self.template, "AWS::Serverless::StateMachine").items():
            props = spec["Properties"]
            definition = (ROOT / props["DefinitionUri"]).read_text()
            for key, value in r.resolve(props.get("DefinitionSubstitutions", {})).items():
                definition = definition.replace("${" + key + "}", str(value))
            boto3.client("stepfunctions", region_name=REGION).create_state_machine(
                name=r.refs[logical].rsplit(":", 1)[1],
                definition=definition, roleArn=role, type=props.get("Type", "STANDARD"))

    def _create_functions(self, role: str) -> None:
        r = self.resolver
        globals_ = self.template.get("Globals", {}).get("Function", {})
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "# dispatched in-process by tts_local\n")
        environment: dict[str, str] = {}
        lam = boto3.client("lambda", region_name=REGION)
        for logical, spec in resources_of_type(self.template, "AWS::Serverless::Function").items():
            props = spec["Properties"]
            code_dir = self._code_dir(spec)
            handler_path = (props["ImageConfig"]["Command"][0] if props.get("PackageType") == "Image"
                            else props["Handler"])
            env = {k: str(v) for k, v in r.resolve(
                globals_.get("Environment", {}).get("Variables", {})
                | props.get("Environment", {}).get("Variables", {})).items()}
            for name, value in env.items():
                if environment.get(name, value) != value:
                    raise RuntimeError(f"template: functions set {name} differently; in-process dispatch "
                                       "shares one environment, so give them distinct names")
                environment[name] = value
            fn = LocalFunction(
                logical_id=logical, name=r.refs[logical], arn=r.attributes[logical]["Arn"],
                code_dir=code_dir, handler_path=handler_path,
                timeout_s=float(r.resolve(props.get("Timeout", globals_.get("Timeout", 3)))),
                memory_mb=int(r.resolve(props.get("MemorySize", globals_.get("MemorySize", 128)))),
                environment=env)
            if "ReservedConcurrentExecutions" in props:
                fn.reserved_concurrency = int(r.resolve(props["ReservedConcurrentExecutions"]))
            fn.engine = self.engine_doubles.get(fn.short_name)
            self.functions[fn.name] = fn
            lam.create_function(FunctionName=fn.name, Runtime="python3.11", Role=role,
                                Handler="app.handler", Code={"ZipFile": code.getvalue()},
                                Timeout=int(fn.timeout_s), MemorySize=fn.memory_mb)
        self._set_environment(environment | self.extra_environment)

    def _create_event_rules(self) -> None:
        """The functions' EventBridgeRule events (the template's patterns, Lambda targets)."""
        events = boto3.client("events", region_name=REGION)
        for logical, spec in resources_of_type(self.template, "AWS::Serverless::Function").items():
            for event_name, event in spec["Properties"].get("Events", {}).items():
                if event["Type"] != "EventBridgeRule":
                    continue
                rule = f"{self.resolver.refs[logical]}-{event_name}"
                pattern = self.resolver.resolve(event["Properties"]["Pattern"])
                events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
                target = {"Id": logical, "Arn": self.resolver.attributes[logical]["Arn"]}
                events.put_targets(Rule=rule, Targets=[target])

    # ---- dispatch ----------------------------------------------------------------------------
    def _install_dispatcher(self) -> None:
        stack = self
        self._saved_invoke = LambdaSimpleBackend.invoke

        def invoke(_backend: Any, function_name: str, qualifier: str | None, body: Any, headers: Any,
                   response_headers: dict[str, str]) -> bytes:
            return stack.dispatch(function_name, body, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]

    def _install_event_delivery(self) -> None:
        """moto sends S3's events to EventBridge and matches the rules' patterns, but cannot deliver to
        a Lambda target: deliver here, in-process and at once (synchronously, so tests are deterministic)."""
        stack = self
        self._saved_send_to_targets = Rule.send_to_targets

        def send_to_targets(rule: Rule, event: dict[str, Any], transform_input: bool = True) -> None:
            if rule.event_pattern.matches_event(event):
                for target in rule.targets:
                    stack.deliver(target["Arn"], event)

        Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]

    def deliver(self, function_arn: str, event: dict[str, Any]) -> EventDelivery:
        """What EventBridge does for one matched event: an asynchronous invoke of the target (here, at
        once). moto gives every event the same id, a numeric time and one constant S3 sequencer;
        EventBridge gives a fresh id, and S3 a sequencer that grows with each change of a key."""
        event = event | {"id": str(uuid.uuid4()), "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        obj = event.get("detail", {}).get("object")
        if event.get("source") == "aws.s3" and isinstance(obj, dict) and obj.get("sequencer") == _MOTO_SEQUENCER:
            event["detail"] = event["detail"] | {"object": obj | {"sequencer": f"{next(self._sequencer):016X}"}}
        headers: dict[str, str] = {}
        answer = json.loads(self.dispatch(function_arn, json.dumps(event), headers))
        delivery = EventDelivery(function=self.functions[function_arn.rsplit(":", 1)[-1]].short_name, event=event,
                                 answer=answer, error=headers.get("x-amz-function-error"))
        self.deliveries.append(delivery)
        if delivery.error:  # moto swallows whatever a delivery raises: say it where a person looks
            print(f"tts-local: {delivery.function} failed on an event: {answer}", flush=True)
        return delivery

    def _install_service_faults(self) -> None:
        # Every boto3 client made from the default session (handlers' and moto's ASL interpreter's)
        # asks, call by call, whether its service is down.
        boto3.setup_default_session()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.register("before-call", _service_fault)
        boto3.DEFAULT_SESSION.events.register("before-parameter-build.s3", self.iam)
        boto3.DEFAULT_SESSION.events.register("before-parameter-build.s3.CopyObject",
                                              s3_conditions.check_copy_conditions)
        aws.reset_clients()

    def dispatch(self, function_name: str, body: Any, response_headers: dict[str, str]) -> bytes:
        fn = self.functions[function_name.rsplit(":", 1)[-1] if function_name.startswith("arn:")
                            else function_name]
        event = json.loads(body) if body else {}
        self.invocations.append((fn.short_name, event))
        try:
            with fn.execution_environment(self._prefix) as handler:
                # Faults strike invocations that run: one refused for concurrency never reached the code
                # (and botocore retries a refusal by itself, so a fault drawn before it would be redrawn).
                error = self._apply_faults(fn)
                if error is None:
                    context = LocalContext(function_name=fn.name, invoked_function_arn=fn.arn,
                                           memory_limit_in_mb=fn.memory_mb, timeout_s=fn.timeout_s)
                    # A context of its own, as a process of its own in Lambda: the handler's log keys
                    # (tts_local.in_process) never leak into the caller's or a neighbour's.
                    invocation = contextvars.copy_context()
                    invocation.run(iam.CURRENT_FUNCTION.set, fn.logical_id)  # its S3 calls are held to its grants
                    answer = invocation.run(handler, event, context)
                    return json.dumps(answer).encode()
        except JsonRESTError:  # the Lambda service refused the invocation: no function error
            raise
        except Exception as exc:  # what the Lambda runtime reports for an unhandled exception
            error = (type(exc).__name__, str(exc))
        response_headers["x-amz-function-error"] = "Unhandled"
        return json.dumps({"errorType": error[0], "errorMessage": error[1], "stackTrace": []}).encode()

    def _apply_faults(self, fn: LocalFunction) -> tuple[str, str] | None:
        count = self._counter.next(fn.short_name)
        for fault in faults.active(fn.short_name):
            message = f"injected fault {fn.short_name}={fault.kind}"
            match fault.kind:
                case "error":
                    return ("EngineError", message)
                case "crash":
                    return ("Runtime.ExitError", message)
                case "throttle":
                    return ("EngineThrottledError", message)
                case "unavailable":
                    return ("EngineUnavailableError", message)
                case "flaky" if count <= fault.arg:
                    return ("EngineUnavailableError", f"{message} (call {count} of {int(fault.arg)})")
                case "intermittent" if count % 2 == 1:
                    return ("EngineUnavailableError", f"{message} (call {count})")
                case "chaos" if self._counter.draw(fn.short_name) < fault.arg:
                    return ("EngineError", f"{message} (call {count})")
                case "lambda-throttle":
                    raise JsonRESTError("TooManyRequestsException", "Rate exceeded (injected)")
                case "timeout":
                    self.released.wait(fn.timeout_s + 60)
                case "slow":
                    self.released.wait(fault.arg)
        return None

    # ---- use ---------------------------------------------------------------------------------
    def submit(self, request: SynthesisRequest, correlation_id: str | None = None) -> str:
        return jobs.start(self.state_machine_arn, request, correlation_id or str(uuid.uuid4()))

    def wait(self, request_id: str, timeout_s: float = 120.0) -> Job:
        job = jobs.wait(self.state_machine_arn, self.bucket, request_id, timeout_s)
        if job.status == "running":
            raise TimeoutError(f"execution {request_id} still running after {timeout_s} s")
        return job

    def invoke(self, short_name: str, event: dict[str, Any]) -> Any:
        """Invoke a function through the Lambda API, as EventBridge or the console would."""
        fn = self.function(short_name)
        answer = boto3.client("lambda", region_name=REGION).invoke(
            FunctionName=fn.name, Payload=json.dumps(event).encode())
        payload = json.loads(answer["Payload"].read() or b"null")
        if answer.get("FunctionError"):
            raise RuntimeError(f"{short_name} failed: {payload}")
        return payload

    def execution_history(self, request_id: str) -> list[dict[str, Any]]:
        arn = jobs.execution_arn(self.state_machine_arn, request_id)
        return boto3.client("stepfunctions", region_name=REGION).get_execution_history(
            executionArn=arn)["events"]


def _service_fault(model: Any, **_: Any) -> None:
    service = model.service_model.endpoint_prefix
    for fault in faults.active(service if service != "states" else "stepfunctions"):
        if fault.kind == "unavailable":
            raise EndpointConnectionError(endpoint_url=f"https://{service}.{REGION}.amazonaws.com (injected fault)")


@contextmanager
def running(parameters: dict[str, str] | None = None, **kwargs: Any) -> Iterator[LocalStack]:
    with LocalStack(parameters, **kwargs) as stack:
        yield stack
