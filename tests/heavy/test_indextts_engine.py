"""The primary engine on the REAL IndexTTS-2 inference code (PyPI indextts2-cli, pinned) with tiny random
weights of the real architecture, loaded exactly as production loads them (IndexTtsEngine), offline.

Run in the IndexTTS venv: `make test-heavy` (see requirements-indextts.txt). The light dev venv does not
collect tests/heavy. The weights are built once per builder/package version into .cache/ (a subprocess:
huggingface_hub and transformers read HF_HUB_CACHE/HF_HUB_OFFLINE at import, and the adapter must be
the first to import them in this process, as in the Lambda).
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tts_core.deadline import Deadline
from tts_core.engines.indextts.engine import IndexTtsEngine
from tts_core.engines.indextts.settings import OFFICIAL, IndexTtsSettings
from tts_core.errors import EngineTimeoutError, InvalidInputError, ModelUnavailableError
from tts_core.models import SynthesisRequest
from tts_core.pipeline.engine_task import run_engine_task
from tts_core.platform import aws, storage
from tts_core.platform.config import EngineSettings
from tts_core.voices.registry import S3VoiceStore

pytestmark = pytest.mark.heavy

BUCKET = "heavy-test-audio"
CONTRACT_RATE = 24000
MAX_MEL_TOKENS = 40  # a random GPT never emits its stop token: 40 codes = 68 mel frames = 0.79 s
SEGMENT_S = MAX_MEL_TOKENS * 1.72 * 256 / 22050  # infer_v2: target_lengths = codes * 1.72; hop 256
TEXT = "你好, hello world"


class _Context:
    """The two things run_engine_task reads from a LambdaContext."""

    function_name = "SynthesizePrimaryFunction"
    aws_request_id = "heavy-test"

    def __init__(self, remaining_ms: int = 600_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    pytest.importorskip("torch")
    # find_spec, not an import: importing infer_v2 here would import huggingface_hub before the adapter
    # sets HF_HUB_OFFLINE/HF_HUB_CACHE, which is exactly what production must not depend on.
    if importlib.util.find_spec("indextts") is None:
        pytest.skip("the IndexTTS-2 inference code (indextts2-cli) is not installed")
    # What the image ships: the published layout (fp32, s2mel optimizer state, unused files) packed
    # by the image's own build step (tts_core.engines.indextts.weights, bf16).
    code = "from tts_local.tiny_indextts import ensure_packed; print(ensure_packed())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One moto S3 for the module, with the two voices registered through the registry."""
    from moto import mock_aws

    from tts_core.voices import registry as voice_registry
    from tts_local.tiny_indextts import write_prompt_wav

    env = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "BUCKET_NAME": BUCKET, "AUDIO_SAMPLE_RATE": str(CONTRACT_RATE),
           "SEGMENT_PAUSE_MS": "250"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    with mock_aws(config={"lambda": {"use_docker": False}}):  # the primary function: dispatched in-process below
        aws.reset_clients()
        aws.client("s3").create_bucket(Bucket=BUCKET)
        prompts = tmp_path_factory.mktemp("prompts")
        for voice, seed in (("zh-female", 0), ("zh-male", 1)):
            wav = prompts / f"{voice}.wav"
            write_prompt_wav(wav, seconds=3.5, seed=seed)
            voice_registry.register_voice(BUCKET, voice, wav.read_bytes(), language="zh-en",
                                          gender=voice.split("-")[1], fallback=voice,  # type: ignore[arg-type]
                                          source="operator")
        yield
        aws.reset_clients()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _engine(model_dir: Path, tmp: Path, **overrides: Any) -> IndexTtsEngine:
    """Composed as the primary function's app.py composes it: the settings and an S3 voice store."""
    return IndexTtsEngine(IndexTtsSettings(model_dir=model_dir, max_mel_tokens=MAX_MEL_TOKENS, **overrides),
                          S3VoiceStore(BUCKET, tmp / "voices"))


@pytest.fixture(scope="module")
def engine(tiny_model: Path, s3: None, tmp_path_factory: pytest.TempPathFactory) -> IndexTtsEngine:
    """One engine for the module, like one warm Lambda container."""
    return _engine(tiny_model / "checkpoints", tmp_path_factory.mktemp("engine"))


@pytest.fixture
def net_attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records (and refuses) every non-loopback connect or DNS lookup, on top of conftest's guard."""
    attempts: list[str] = []
    local = ("127.0.0.1", "localhost", "::1", None)
    real_connect, real_gai = socket.socket.connect, socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if self.family != socket.AF_UNIX and host not in local:
            attempts.append(f"connect {address}")
            raise ConnectionRefusedError(f"network access to {address} attempted")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in local:
            attempts.append(f"dns {host}")
            raise OSError(f"DNS lookup of {host} attempted")
        return real_gai(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return attempts


def _task(request: dict[str, Any], request_id: str = "req-1") -> dict[str, Any]:
    return {"engine": "primary", "request_id": request_id, "correlation_id": "corr-1", "request": request}


def test_synthesizes_through_the_handler_path_into_s3(engine: IndexTtsEngine, net_attempts: list[str]) -> None:
    from tts_core.audio import read_wav, wav_info

    output = run_engine_task(engine, _task({"text": TEXT, "voice": "zh-female"}), _Context(),  # type: ignore[arg-type]
                             EngineSettings())

    assert net_attempts == []
    assert output.engine == "primary" and output.bucket == BUCKET
    wav = storage.get_bytes(BUCKET, output.audio_key)
    info = wav_info(wav)
    assert (info.sample_rate, info.channels, info.subtype) == (CONTRACT_RATE, 1, "PCM_16")
    assert 0.9 * SEGMENT_S <= info.duration_s <= 1.1 * SEGMENT_S  # one segment of MAX_MEL_TOKENS codes
    samples, _ = read_wav(wav)
    assert float(abs(samples).max()) > 0.01  # not silence
    assert engine.last_stats["profile"] == "fast" and engine.load_seconds is not None


@pytest.fixture(scope="module")
def fp32_engine(tiny_model: Path, s3: None, tmp_path_factory: pytest.TempPathFactory) -> IndexTtsEngine:
    return _engine(tiny_model / "checkpoints", tmp_path_factory.mktemp("fp32"), precision="fp32")


def test_loads_every_parameter_from_the_files(fp32_engine: IndexTtsEngine, tiny_model: Path) -> None:
    """infer_v2 loads s2mel with strict=False and w2v-bert through from_pretrained (both can skip keys
    silently); GPT, codec, CAMPPlus and BigVGAN load strictly. Compare the loaded modules with the files
    (fp32 compute keeps the inference code's own modules, so every parameter is comparable)."""
    import safetensors.torch
    import torch

    model = fp32_engine.load()
    problems: list[str] = []
    net = torch.load(tiny_model / "checkpoints" / "s2mel.pth", map_location="cpu")["net"]
    for name, module in model.s2mel.models.items():
        for key, param in module.named_parameters():
            if key not in net[name]:
                problems.append(f"s2mel.{name}: missing {key}")
            elif not torch.equal(param.detach(), net[name][key].to(param.dtype)):
                problems.append(f"s2mel.{name}: differs {key}")
        unexpected = set(net[name]) - set(module.state_dict())
        problems += [f"s2mel.{name}: unexpected {k}" for k in sorted(unexpected)]
    w2v_file = next((tiny_model / "hf_cache").glob("models--facebook--w2v-bert-2.0/snapshots/*/model.safetensors"))
    w2v = safetensors.torch.load_file(str(w2v_file))
    for key, param in model.semantic_model.named_parameters():  # the lazy w2v-bert loads here
        if key not in w2v or not torch.equal(param.detach(), w2v[key].to(param.dtype)):
            problems.append(f"w2v: missing or differs {key}")
    problems += [f"w2v: unexpected {k}" for k in sorted(set(w2v) - set(model.semantic_model.state_dict()))]
    gpt = torch.load(tiny_model / "checkpoints" / "gpt.pth", map_location="cpu")
    for key, param in model.gpt.state_dict().items():
        if key.startswith(("inference_model.", "gpt.wte.")):  # post_init's aliases of loaded weights
            continue
        if key not in gpt or not torch.equal(param, gpt[key].to(param.dtype)):
            problems.append(f"gpt: missing or differs {key}")
    problems += [f"gpt: unexpected {k}" for k in sorted(set(gpt) - set(model.gpt.state_dict()))]
    assert problems == []


def test_packed_weights_keep_only_what_inference_reads(tiny_model: Path) -> None:
    """The packer's output (what the image ships): bf16 weights, s2mel without its optimizer state,
    none of the published files inference never opens."""
    import torch

    from tts_core.engines.indextts.weights import PARTS, read_manifest

    manifest = read_manifest(tiny_model)
    assert manifest["parts"] == sorted(PARTS)
    left_out = {Path(name).name for name in manifest["left_out"]}
    assert {"conformer_shaw.pt", "README.md"} <= left_out
    s2mel = torch.load(tiny_model / "checkpoints" / "s2mel.pth", map_location="cpu")
    assert set(s2mel) == {"net"}
    assert manifest["files"]["checkpoints/s2mel.pth"]["keys_dropped"] >= 4  # optimizer, scheduler, iters, epoch
    stored = {name: info["dtype"] for name, info in manifest["files"].items()}
    assert stored["checkpoints/gpt.pth"] == stored["checkpoints/s2mel.pth"] == "bfloat16"
    assert {dtype for name, dtype in stored.items() if name.endswith(".safetensors") and "MaskGCT" not in name} \
        == {"bfloat16"}
    assert {dtype for name, dtype in stored.items() if "bigvgan_generator" in name} == {"bfloat16"}
    assert {dtype for name, dtype in stored.items() if "MaskGCT" in name or "campplus" in name} == {"float32"}
    gpt = torch.load(tiny_model / "checkpoints" / "gpt.pth", map_location="cpu")
    assert {v.dtype for v in gpt.values() if v.is_floating_point()} == {torch.bfloat16}


# ---- compute precision ----------------------------------------------------------------------------

@pytest.mark.parametrize(("flags", "requested", "expected"), [
    ({"avx512f", "avx512_bf16", "avx512_vnni"}, "auto", "bf16"),
    ({"amx_bf16", "amx_tile"}, "auto", "bf16"),
    ({"avx512f", "avx512_vnni"}, "auto", "fp32"),  # int8 misses the fidelity threshold: on request only
    ({"avx2", "avx_vnni"}, "auto", "fp32"),
    ({"avx2", "fma"}, "auto", "fp32"),
    (set(), "auto", "fp32"),
    ({"avx512_bf16"}, "fp32", "fp32"),  # an override wins over the flags
    ({"avx2"}, "int8", "int8"),
    ({"avx512_vnni"}, "int8-dynamic", "int8-dynamic"),
])
def test_precision_is_chosen_from_the_cpu_flags(flags: set[str], requested: str, expected: str) -> None:
    from tts_core.engines.indextts.precision import choose_precision

    assert choose_precision(flags, requested) == expected


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    from tts_core.engines.indextts.precision import cpu_flags

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 avx512_bf16 avx512_vnni\n\n"
                    "processor\t: 1\nflags\t\t: fpu avx2 avx512_bf16 avx512_vnni\n")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512_bf16", "avx512_vnni"}
    assert cpu_flags(tmp_path / "absent") == frozenset()


def test_precision_override_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDEXTTS_MODEL_DIR", "/opt/indextts/checkpoints")
    monkeypatch.setenv("INDEXTTS_PRECISION", "int8")
    assert IndexTtsSettings.from_env().precision == "int8"
    monkeypatch.delenv("INDEXTTS_PRECISION")
    assert IndexTtsSettings.from_env().precision == "auto"


def test_unknown_precision_is_model_unavailable(s3: None, tiny_model: Path, tmp_path: Path) -> None:
    engine = _engine(tiny_model / "checkpoints", tmp_path, precision="fp8")
    with pytest.raises(ModelUnavailableError, match="fp8"):
        engine.synthesize(SynthesisRequest(text=TEXT), Deadline.in_seconds(300))


def test_loading_does_not_import_scikit_learn(tiny_model: Path) -> None:
    """The inference code's transformers import would pull scikit-learn (0.7 s of each cold start)."""
    code = ("import sys; from pathlib import Path; from tts_core.engines.indextts.engine import IndexTtsEngine; "
            "from tts_core.engines.indextts.settings import IndexTtsSettings; "
            "from tts_core.voices.registry import S3VoiceStore; "
            "IndexTtsEngine(IndexTtsSettings(model_dir=Path(sys.argv[1])), S3VoiceStore('unused')).load(); "
            "print('sklearn' in sys.modules, 'indextts.infer_v2' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(tiny_model / "checkpoints")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["False", "True"]


def test_loading_defers_what_a_cached_voice_never_runs(tiny_model: Path) -> None:
    """The imports environment.defer_unused_imports keeps out of a cold start stay out after the load
    (numba, scipy.signal, audiotools, torch._dynamo not imported; torch.distributed.tensor and
    matplotlib.pylab not executed), and a new voice's conditioning, which needs librosa, still works
    through the deferred functions."""
    code = ("import sys, importlib.util; from pathlib import Path; "
            "from tts_core.engines.indextts.engine import IndexTtsEngine; "
            "from tts_core.engines.indextts.settings import IndexTtsSettings; "
            "from tts_core.voices.registry import S3VoiceStore; "
            "model = IndexTtsEngine(IndexTtsSettings(model_dir=Path(sys.argv[1])), S3VoiceStore('unused')).load(); "
            "names = ('sklearn', 'numba', 'librosa.filters', 'scipy.signal', 'audiotools', 'torch._dynamo', "
            "'torch.distributed.tensor', 'matplotlib.pylab'); "
            "lazy = importlib.util._LazyModule; "
            "loaded = [n for n in names if n in sys.modules and type(sys.modules[n]) is not lazy]; "
            "from indextts.s2mel.modules import audio; import torch; "
            "mel = audio.mel_spectrogram(torch.zeros(1, 22050), 1024, 80, 22050, 256, 1024, 0, None); "
            "print(loaded, tuple(mel.shape), 'numba' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(tiny_model / "checkpoints")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "[] (1, 80, 86) True"


def test_deferred_weight_norm_loads_the_same_module() -> None:
    """Weight norm set up without computing anything (loaders.deferred_weight_norm) gives the same
    parameters, the same outputs once a state is loaded, and the same weight after remove_weight_norm."""
    import torch
    from torch.nn.utils import remove_weight_norm, weight_norm

    from tts_core.engines.indextts.loaders import deferred_weight_norm

    torch.manual_seed(0)
    x = torch.randn(2, 6, 40)
    for dim in (0, 1, None):
        ref = weight_norm(torch.nn.Conv1d(6, 8, 5), dim=dim)  # type: ignore[arg-type]
        with deferred_weight_norm():
            deferred = weight_norm(torch.nn.Conv1d(6, 8, 5), dim=dim)  # type: ignore[arg-type]
        shapes = {k: v.shape for k, v in ref.state_dict().items()}
        assert {k: v.shape for k, v in deferred.state_dict().items()} == shapes
        deferred.load_state_dict(ref.state_dict())
        assert torch.equal(deferred(x), ref(x))
        remove_weight_norm(deferred)
        remove_weight_norm(ref)
        assert torch.equal(deferred.weight, ref.weight)
    from torch.nn.utils.weight_norm import WeightNorm

    with pytest.raises(RuntimeError, match="two weight_norm hooks"), deferred_weight_norm():
        weight_norm(weight_norm(torch.nn.Conv1d(2, 2, 3)))
    assert WeightNorm.__dict__["apply"].__func__.__module__ == "torch.nn.utils.weight_norm"  # restored


def test_normalizer_reads_its_stored_fsts_as_written() -> None:
    """Skipping the second optimize() of the stored FSTs (loaders.stored_fsts_as_written) changes no
    normalised text: compared with the library's own load on mixed zh/en text."""
    pytest.importorskip("tn")
    from indextts.utils.front import TextNormalizer

    from tts_core.engines.indextts.loaders import stored_fsts_as_written

    texts = ["2024年3月15日下午3:30，温度-5.5°C，价格¥1,234.56元。", "我的电话是13800138000，邮箱是test@example.com。",
             "Hello world, it's 3:45 pm on Jan 5th, 2023; call 555-1234.",
             "GPT-5-nano 的价格是 $0.05/1K tokens，约 50% 折扣。",
             "The 1st, 2nd and 23rd of May; 1990s; 4.5kg; 100km/h.",
             "e.g. NASA, U.S.A., Mr. and Mrs. Jones, 7:00AM-8:30PM"]
    real = TextNormalizer(enable_glossary=True)
    real.load()
    fast = TextNormalizer(enable_glossary=True)
    with stored_fsts_as_written():
        fast.load()
    assert fast.zh_normalizer.tagger is not real.zh_normalizer.tagger
    assert [fast.normalize(t) for t in texts] == [real.normalize(t) for t in texts]


def _mapped_ranges(path: Path) -> list[tuple[int, int]]:
    """Address ranges where this process maps `path` (Linux)."""
    ranges = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(str(path.resolve())):
            lo, hi = line.split()[0].split("-")
            ranges.append((int(lo, 16), int(hi, 16)))
    return ranges


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8", "int8-dynamic"])
def test_each_compute_precision_writes_a_valid_wav(precision: str, tiny_model: Path, s3: None, tmp_path: Path,
                                                    fp32_engine: IndexTtsEngine) -> None:
    """The whole handler path per precision; the packed layers reproduce the file's weights within the
    format's rounding (probed with the identity: layer(I) - layer(0) = W^T)."""
    import torch

    from tts_core.audio import read_wav, wav_info
    from tts_core.engines.indextts.precision import packed_conv1d_class, packed_linear_class

    engine = fp32_engine if precision == "fp32" else _engine(tiny_model / "checkpoints", tmp_path,
                                                             precision=precision)
    output = run_engine_task(engine, _task({"text": TEXT, "voice": "zh-female"}, f"req-{precision}"),
                             _Context(), EngineSettings())  # type: ignore[arg-type]
    wav = storage.get_bytes(BUCKET, output.audio_key)
    info = wav_info(wav)
    assert (info.sample_rate, info.channels, info.subtype) == (CONTRACT_RATE, 1, "PCM_16")
    assert 0.9 * SEGMENT_S <= info.duration_s <= 1.1 * SEGMENT_S
    samples, _ = read_wav(wav)
    assert float(abs(samples).max()) > 0.01 and bool(torch.isfinite(torch.as_tensor(samples)).all())

    report = engine.precision_report
    assert report["precision"] == precision
    model = engine.load()
    packed = {n: m for n, m in model.gpt.named_modules() if isinstance(m, packed_linear_class())}
    if precision == "fp32":
        assert packed == {} and report["gpt_packed_layers"] == 0
        return
    assert report["gpt_packed_layers"] == len(packed) > 0
    assert (report["s2mel_packed_layers"] > 0) == (report["secondary_precision"] != "fp32")
    # No packed tensor is a view of the mmap'd checkpoint: one would keep the whole file resident.
    mapped = _mapped_ranges(tiny_model / "checkpoints" / "gpt.pth")
    for name, layer in packed.items():
        for tensor in (layer.weight, layer.bias, layer.scales):  # int8-dynamic's weight: fbgemm's own packing
            if isinstance(tensor, torch.Tensor):
                assert not any(lo <= tensor.data_ptr() < hi for lo, hi in mapped), name
    gpt = torch.load(tiny_model / "checkpoints" / "gpt.pth", map_location="cpu")
    for name in ("gpt.h.0.mlp.c_fc", "mel_head", "emo_layer"):
        # int8 (either) is for the decoder only; beside it the CPU's secondary format (bf16 with bf16 instructions)
        expected = precision if name != "emo_layer" else report["secondary_precision"]
        if expected == "fp32":
            assert name not in packed
            continue
        layer = packed[name]
        assert layer.precision == expected, (name, layer.precision)
        weight = gpt[f"{name}.weight"].float()
        weight = weight if name in ("mel_head", "emo_layer") else weight.t()  # GPT-2 Conv1D is (in, out)
        with torch.no_grad():
            eye = torch.eye(layer.in_features)
            probed = (layer(eye) - layer(torch.zeros(1, layer.in_features))).t()
        err = float((probed - weight).abs().max() / weight.abs().max())
        assert err < (0.02 if layer.precision == "bf16" else 0.03), (name, err)

    # Convolutions (s2mel's DiT and length regulator, BigVGAN's dense ones) in bf16 where the secondary
    # format is bf16: each reproduces the fp32 engine's layer, weight norm folded.
    reference = fp32_engine.load()
    convs = 0
    for part in ("s2mel", "bigvgan"):
        fp32_layers = dict(getattr(reference, part).named_modules())
        for name, conv in getattr(model, part).named_modules():
            if isinstance(conv, packed_conv1d_class()):
                convs += 1
                x = torch.randn(1, conv.in_channels, 40)
                with torch.no_grad():
                    want, got = fp32_layers[name](x), conv(x)
                assert got.dtype == torch.float32 and got.shape == want.shape, name
                assert float((got - want).abs().max() / want.abs().max()) < 0.03, name
    assert convs == report["s2mel_packed_convs"] + report["vocoder_packed_convs"]
    assert (convs > 0) == (report["secondary_precision"] == "bf16")


def test_reduced_precision_checkpoint_missing_a_key_is_model_unavailable(s3: None, tiny_model: Path,
                                                                        tmp_path: Path) -> None:
    """The GPT loader builds packed layers from the file: a missing decoder or other key is an error,
    not a random layer."""
    import torch

    state = torch.load(tiny_model / "checkpoints" / "gpt.pth", map_location="cpu")
    for missing in ("gpt.h.0.attn.c_attn.weight", "final_norm.weight"):
        (tmp_path / missing).mkdir()
        model_dir = _copy_model(tiny_model, tmp_path / missing)
        (model_dir / "gpt.pth").unlink()
        torch.save({k: v for k, v in state.items() if k != missing}, model_dir / "gpt.pth")
        engine = _engine(model_dir, tmp_path / missing, precision="bf16", hf_hub_cache=tiny_model / "hf_cache")
        with pytest.raises(ModelUnavailableError, match=missing.replace(".", r"\.")):
            engine.synthesize(SynthesisRequest(text=TEXT), Deadline.in_seconds(300))


def test_fidelity_script_reports_each_precision_against_fp32(tiny_model: Path, tmp_path: Path) -> None:
    """bench/primary_fidelity.py, the script users run on the real weights, on the tiny model."""
    from tts_local.tiny_indextts import write_prompt_wav

    write_prompt_wav(tmp_path / "prompt.wav", seconds=3.5)
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        from primary_fidelity import fidelity
    finally:
        sys.path.pop(0)
    rows = {r["variant"]: r for r in fidelity(tiny_model / "checkpoints", tiny_model / "hf_cache",
                                              prompt=tmp_path / "prompt.wav", tokens=12, threads=1,
                                              keep_bf16=(r"\.c_fc$",))}
    assert set(rows) == {"fp32", "fp32-stored-bf16", "bf16", "int8", "int8-dynamic",
                         r"int8, bf16 \.c_fc$", r"int8-dynamic, bf16 \.c_fc$"}
    for variant in ("fp32-stored-bf16", "bf16", "int8"):
        row = rows[variant]
        assert row["logit_cos_mean"] > 0.999 and row["top1"] >= 0.9, row
        assert row["mel_snr_db"] > 30 and row["wav_snr_db"] > 30, row
    # --keep-bf16: the matching decoder layers (one of the four per block) left out of int8's bytes
    kept = rows[r"int8-dynamic, bf16 \.c_fc$"]["precision"]["gpt_decoder_bytes"]
    assert 0 < kept < rows["int8-dynamic"]["precision"]["gpt_decoder_bytes"]


def test_fast_profile_runs_one_beam_and_fewer_diffusion_steps(engine: IndexTtsEngine,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Asserted on the calls the inference code really makes (below our hook), per profile."""
    model = engine.load()
    beams: list[int] = []
    steps: list[tuple[int, float]] = []
    real_speech, cfm = model.gpt.inference_speech, model.s2mel.models["cfm"]
    real_euler = cfm.solve_euler

    def inference_speech(*args: Any, **kwargs: Any) -> Any:
        beams.append(kwargs["num_beams"])
        return real_speech(*args, **kwargs)

    def solve_euler(x: Any, x_lens: Any, prompt: Any, mu: Any, style: Any, f0: Any, t_span: Any,
                    inference_cfg_rate: float = 0.5) -> Any:
        steps.append((len(t_span) - 1, inference_cfg_rate))
        return real_euler(x, x_lens, prompt, mu, style, f0, t_span, inference_cfg_rate)

    monkeypatch.setattr(model.gpt, "inference_speech", inference_speech)
    monkeypatch.setattr(cfm, "solve_euler", solve_euler)
    for profile in ("fast", "quality"):
        engine.synthesize(SynthesisRequest(text=TEXT, profile=profile), Deadline.in_seconds(300))

    fast = engine.settings
    assert beams == [fast.fast_num_beams, OFFICIAL["num_beams"]] == [1, 3]
    assert steps == [(fast.fast_diffusion_steps, fast.fast_cfg_rate), (25, 0.7)]
    assert fast.fast_diffusion_steps < 25


def test_profile_falls_back_to_configuration(engine: IndexTtsEngine) -> None:
    engine.synthesize(SynthesisRequest(text=TEXT), Deadline.in_seconds(300))
    assert engine.last_stats["profile"] == engine.settings.profile == "fast"


@pytest.mark.parametrize("emotion", [
    {"vector": [0.8, 0, 0, 0, 0, 0, 0, 0], "alpha": 0.6},
    {"reference_voice": "zh-male", "alpha": 0.5},
    {"text": "今天真开心"},
], ids=["vector", "reference-voice", "text"])
def test_emotion_controls_are_accepted(engine: IndexTtsEngine, emotion: dict[str, Any],
                                       net_attempts: list[str]) -> None:
    audio = engine.synthesize(SynthesisRequest(text=TEXT, emotion=emotion), Deadline.in_seconds(300))
    assert audio.sample_rate == 22050 and audio.samples.dtype.name == "int16"
    assert abs(audio.samples.size / 22050 - SEGMENT_S) < 0.05
    assert net_attempts == []


def test_speaker_conditioning_is_stored_and_reused(engine: IndexTtsEngine, tiny_model: Path,
                                                   tmp_path: Path) -> None:
    """A second voice evicts the first from the model's own one-entry cache; coming back to the first
    restores its conditioning instead of recomputing it. A fresh container reads it from S3."""
    for voice in ("zh-male", "zh-female"):
        engine.synthesize(SynthesisRequest(text=TEXT, voice=voice), Deadline.in_seconds(300))
    assert engine.last_stats["conditioning_reused"] is True
    keys = [o["Key"] for o in aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="voices/")["Contents"]]
    assert {k.split(".cond/")[0] for k in keys if ".cond/" in k} == {"voices/zh-female", "voices/zh-male"}

    fresh = _engine(tiny_model / "checkpoints", tmp_path)
    # Same weights, empty memory:
    fresh._model, fresh.conditioning.fingerprint = engine.load(), engine.conditioning.fingerprint
    engine.load().cache_spk_audio_prompt = None  # forget the model's own cache
    fresh.synthesize(SynthesisRequest(text=TEXT, voice="zh-male"), Deadline.in_seconds(300))
    assert fresh.last_stats["conditioning_reused"] is True


def test_conditioning_encoders_run_once_per_voice(engine: IndexTtsEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The conformer encoders turn the voice's cached w2v features into GPT conditioning: memoized,
    they do not run again for the next request with the same voice."""
    model = engine.load()
    calls: list[int] = []
    for encoder in (model.gpt.conditioning_encoder, model.gpt.emo_conditioning_encoder):
        real = encoder.forward
        monkeypatch.setattr(encoder, "forward", lambda *a, _real=real, **kw: calls.append(1) or _real(*a, **kw))
    engine.synthesize(SynthesisRequest(text=TEXT, voice="zh-male"), Deadline.in_seconds(300))
    first = len(calls)
    engine.synthesize(SynthesisRequest(text=TEXT, voice="zh-male"), Deadline.in_seconds(300))
    assert len(calls) == first


def test_text_empty_after_normalisation_is_invalid_input(engine: IndexTtsEngine) -> None:
    with pytest.raises(InvalidInputError) as caught:
        run_engine_task(engine, _task({"text": "\u200b"}), _Context(), EngineSettings())  # type: ignore[arg-type]
    assert caught.value.code == "INVALID_INPUT" and not caught.value.retryable


def test_expired_deadline_is_engine_timeout(engine: IndexTtsEngine) -> None:
    with pytest.raises(EngineTimeoutError):
        engine.synthesize(SynthesisRequest(text=TEXT), Deadline.in_seconds(0.001))


def test_deadline_stops_generation_midway(engine: IndexTtsEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline passes during GPT decoding: the stopping criterion ends the call there."""
    model = engine.load()
    real = model.gpt.inference_speech
    deadline = Deadline.in_seconds(300)

    def expire_then_decode(*args: Any, **kwargs: Any) -> Any:
        object.__setattr__(deadline, "at", 0.0)  # the deadline passes as decoding starts
        return real(*args, **kwargs)

    monkeypatch.setattr(model.gpt, "inference_speech", expire_then_decode)
    with pytest.raises(EngineTimeoutError):
        engine.synthesize(SynthesisRequest(text=TEXT), deadline)
    monkeypatch.undo()
    assert engine.synthesize(SynthesisRequest(text=TEXT), Deadline.in_seconds(300)).samples.size > 0


def test_missing_weights_are_model_unavailable(s3: None, tmp_path: Path) -> None:
    engine = _engine(tmp_path / "nowhere", tmp_path)
    with pytest.raises(ModelUnavailableError) as caught:
        run_engine_task(engine, _task({"text": TEXT}), _Context(), EngineSettings())  # type: ignore[arg-type]
    assert caught.value.code == "MODEL_UNAVAILABLE" and not caught.value.retryable


def _copy_model(tiny_model: Path, tmp_path: Path) -> Path:
    """A private model directory (symlinks) next to the real hub cache, with files we may break."""
    model_dir = tmp_path / "checkpoints"
    model_dir.mkdir()
    for item in (tiny_model / "checkpoints").iterdir():
        (model_dir / item.name).symlink_to(item)
    return model_dir


def test_corrupt_gpt_checkpoint_is_model_unavailable(s3: None, tiny_model: Path, tmp_path: Path,
                                                     net_attempts: list[str]) -> None:
    model_dir = _copy_model(tiny_model, tmp_path)
    (model_dir / "gpt.pth").unlink()
    (model_dir / "gpt.pth").write_bytes(b"PK\x03\x04 not a checkpoint" * 100)
    engine = _engine(model_dir, tmp_path, hf_hub_cache=tiny_model / "hf_cache")
    for _ in range(2):  # the second request fails fast with the same non-retryable error
        with pytest.raises(ModelUnavailableError) as caught:
            run_engine_task(engine, _task({"text": TEXT}), _Context(), EngineSettings())  # type: ignore[arg-type]
        assert caught.value.code == "MODEL_UNAVAILABLE" and not caught.value.retryable
    assert net_attempts == []


def test_truncated_s2mel_checkpoint_is_model_unavailable(s3: None, tiny_model: Path, tmp_path: Path) -> None:
    """The upstream loader would skip the missing keys silently (strict=False) and produce noise."""
    import torch

    model_dir = _copy_model(tiny_model, tmp_path)
    state = torch.load(tiny_model / "checkpoints" / "s2mel.pth", map_location="cpu")
    state["net"]["cfm"] = dict(list(state["net"]["cfm"].items())[:-3])
    (model_dir / "s2mel.pth").unlink()
    buf = io.BytesIO()
    torch.save(state, buf)
    (model_dir / "s2mel.pth").write_bytes(buf.getvalue())
    engine = _engine(model_dir, tmp_path, hf_hub_cache=tiny_model / "hf_cache")
    with pytest.raises(ModelUnavailableError, match="s2mel checkpoint"):
        engine.synthesize(SynthesisRequest(text=TEXT), Deadline.in_seconds(300))


def test_missing_hub_file_is_model_unavailable_without_network(s3: None, tiny_model: Path, tmp_path: Path,
                                                               net_attempts: list[str]) -> None:
    hub = tmp_path / "hf_cache"
    shutil.copytree(tiny_model / "hf_cache", hub, symlinks=True)
    shutil.rmtree(hub / "models--funasr--campplus")
    engine = _engine(_copy_model(tiny_model, tmp_path), tmp_path, hf_hub_cache=hub)
    # HF_HUB_CACHE is read by huggingface_hub at import; point its constant at this copy for the test.
    import huggingface_hub.constants as hub_constants

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hub_constants, "HF_HUB_CACHE", str(hub))
        with pytest.raises(ModelUnavailableError, match=r"funasr/campplus/campplus_cn_common\.bin"):
            engine.synthesize(SynthesisRequest(text=TEXT), Deadline.in_seconds(300))
    assert net_attempts == []


def test_the_weights_prefetched_are_the_files_a_load_reads(engine: IndexTtsEngine, tiny_model: Path) -> None:
    """What the engine asks the kernel to read ahead: the largest native libraries, then every weight file
    but w2v-bert's while it is lazy."""
    from tts_core.engines.indextts.files import SEMANTIC_WEIGHTS, native_libraries, weight_files

    engine.load()  # the hub cache's location is set up by a load
    checkpoints = tiny_model / "checkpoints"
    lazy = weight_files(checkpoints, checkpoints / "config.yaml", True)
    eager = weight_files(checkpoints, checkpoints / "config.yaml", False)
    assert {"gpt.pth", "s2mel.pth", "bpe.model", "bigvgan_generator.pt", "campplus_cn_common.bin"} <= {
        p.name for p in lazy}
    semantic = [p for p in eager if "w2v-bert" in str(p) and p.name == SEMANTIC_WEIGHTS[1]]
    assert len(semantic) == 1 and semantic[0] not in lazy and set(lazy) < set(eager)
    assert all(p.is_file() for p in eager)
    libraries = native_libraries()  # read ahead before the weights, as the imports map them first
    assert libraries[0].name == "libtorch_cpu.so" and all(p.is_file() for p in libraries)


def test_unregistered_voice_is_model_unavailable(engine: IndexTtsEngine) -> None:
    with pytest.raises(ModelUnavailableError, match="en-male"):
        engine.synthesize(SynthesisRequest(text=TEXT, voice="en-male"), Deadline.in_seconds(300))


# ---- the voice registry's validation (no torch needed; heavy only because it lives beside its user) ----

def _wav(seconds: float, *, channels: int = 1, amplitude: float = 0.3, rate: int = 16000) -> bytes:
    import numpy as np
    import soundfile as sf

    t = np.arange(int(rate * seconds)) / rate
    tone = amplitude * np.sin(2 * np.pi * 180 * t)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    buf = io.BytesIO()
    sf.write(buf, data, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.mark.parametrize(("data", "reason"), [
    (b"RIFF nonsense", "not a WAV, FLAC, OGG or MP3 recording"),
    (_wav(2.0), "must last at least 3 s"),
    (_wav(31.0), "must last at most 30 s"),
    (_wav(4.0, amplitude=0.0), "silent"),
], ids=["unreadable", "too-short", "too-long", "silent"])
def test_registration_rejects_unusable_prompts(s3: None, data: bytes, reason: str) -> None:
    from tts_core.voices import registry as voice_registry

    with pytest.raises(InvalidInputError, match=reason):
        voice_registry.register_voice(BUCKET, "bad-voice", data, language="en", gender="male", fallback="en-male",
                                      source="operator")
    assert not storage.exists(BUCKET, "voices/bad-voice.json")


def test_registration_downmixes_stereo(s3: None) -> None:
    from tts_core.audio import wav_info
    from tts_core.voices import registry as voice_registry

    record = voice_registry.register_voice(BUCKET, "stereo-voice", _wav(4.0, channels=2), language="en",
                                           gender="female", fallback="en-female", source="operator")
    info = wav_info(storage.get_bytes(BUCKET, "voices/stereo-voice.wav"))
    assert (info.channels, info.subtype, record.duration_s) == (1, "PCM_16", 4.0)


# ---- a voice cloned through the API, prepared and spoken by the real inference code -----------------

class _LambdaContext(_Context):
    """What powertools' inject_lambda_context reads, too."""

    function_name = "SynthesizePrimaryFunction"
    memory_limit_in_mb = 10240
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:SynthesizePrimaryFunction"


def _api_event(method: str, path: str, body: dict[str, Any] | None, key_id: str) -> dict[str, Any]:
    import json

    event = json.loads((Path(__file__).parents[2] / "events" / "api_voices.json").read_text())
    event.update(httpMethod=method, path=path, resource=path, isBase64Encoded=False,
                 body=None if body is None else json.dumps(body))
    event["requestContext"]["identity"]["apiKeyId"] = key_id
    return event


def test_a_voice_cloned_through_the_api_is_prepared_at_creation_and_spoken_by_the_real_code(
        engine: IndexTtsEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, net_attempts: list[str]) -> None:
    import base64
    import json

    from moto.awslambda_simple.models import LambdaSimpleBackend

    from tts_core.api import handler
    from tts_core.pipeline.engine_task import engine_handler
    from tts_core.platform import config
    from tts_core.voices import registry as voice_registry
    from tts_local.tiny_indextts import write_prompt_wav

    primary = engine_handler(lambda: engine)  # the primary function's handler, on this warm engine
    prepared: list[dict[str, Any]] = []

    def invoke(_backend: Any, function_name: str, qualifier: Any, body: Any, headers: Any,
               response_headers: Any) -> bytes:
        prepared.append(json.loads(body))
        return json.dumps(primary(json.loads(body), _LambdaContext())).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    role = aws.client("iam").create_role(RoleName="primary", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    aws.client("lambda").create_function(FunctionName="primary", Runtime="python3.11", Role=role, Handler="app.handler",
                                         Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18})
    for name, value in {"STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:unused",
                        "ROUTE_PARAMETER_NAME": "/unused/route", "MAX_TEXT_CHARS": "5000", "SYNC_WAIT_SECONDS": "0",
                        "CORS_ALLOW_ORIGIN": "*", "PRIMARY_FUNCTION_NAME": "primary",
                        "VOICE_BOOTSTRAP_FUNCTION_NAME": "unused",
                        "BOOK_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:unused-book",
                        "TENANT_USAGE_TABLE": "unused", "KEY_DAILY_CHARACTERS": "50000", "KEY_MAX_JOBS_IN_FLIGHT": "3",
                        "KEY_MAX_VOICES": "20"}.items():
        monkeypatch.setenv(name, value)
    config.reset()
    recording = tmp_path / "me.wav"
    write_prompt_wav(recording, seconds=4.0, seed=7)
    body = {"name": "Me", "language": "zh-en", "gender": "female",
            "audio_base64": base64.b64encode(recording.read_bytes()).decode()}

    answer = handler.handle(_api_event("POST", "/api/voices", body, "key-heavy"), _LambdaContext())
    config.reset()

    voice = json.loads(answer["body"])
    assert answer["statusCode"] == 201, voice
    assert prepared == [{"prepare_voice": voice["id"]}]  # the API asked the primary to prepare it
    assert voice["primary_ready"] is True and voice["fallback_voice"] == "zh-female"
    record = voice_registry.get_record(BUCKET, voice["id"])
    assert record.owner == "key-heavy" and record.preparation.state == "ready"
    assert voice_registry.get_conditioning(BUCKET, voice["id"], engine.conditioning.fingerprint) is not None

    # The first synthesis in that voice reuses the conditioning computed at creation.
    engine.load().cache_spk_audio_prompt = None
    engine.conditioning.clear()
    output = run_engine_task(engine, _task({"text": TEXT, "voice": voice["id"]}, "req-clone"), _Context(),
                             EngineSettings())  # type: ignore[arg-type]
    assert engine.last_stats["conditioning_reused"] is True
    assert output.duration_s > 0.5 and storage.exists(BUCKET, output.audio_key)
    assert net_attempts == []


@pytest.fixture(scope="module")
def primary_pcm(engine: IndexTtsEngine) -> Any:
    """What the real inference code speaks (tiny random weights: noise-like, but real audio), in the contract."""
    from tts_core.audio import AudioContract
    from tts_core.deadline import Deadline
    from tts_core.models import SynthesisRequest

    audio = engine.synthesize(SynthesisRequest(text=TEXT, voice="zh-female"), Deadline.in_seconds(900))
    return AudioContract(CONTRACT_RATE).conform(audio.samples, audio.sample_rate)


@pytest.mark.parametrize(("profile", "fmt"), [("default", "wav"), ("acx", None), ("podcast", "mp3"),
                                              ("broadcast", "opus")])
def test_the_primarys_output_meets_each_mastering_profile(primary_pcm: Any, profile: str, fmt: str | None) -> None:
    import io

    from tts_core.delivery.formats import resolve
    from tts_core.delivery.loudness import measure_file
    from tts_core.delivery.render import render

    done = render(primary_pcm, CONTRACT_RATE, resolve(fmt, CONTRACT_RATE, None, profile))
    assert done.misses == [], done.loudness
    assert measure_file(io.BytesIO(done.audio)) == done.loudness


# ---- the GPT's decode (decode.py) -------------------------------------------------------------------------
def _prompt(model: Any, seed: int = 0, mel_len: int = 40) -> tuple[Any, dict[str, Any]]:
    """A [conditioning][text][start] prompt stored as infer_v2 stores it, and generate()'s kwargs as
    inference_speech passes them for the fast profile."""
    import torch

    gpt = model.gpt
    torch.manual_seed(seed)
    gpt.inference_model.store_mel_emb(torch.randn(1, mel_len, gpt.model_dim) * 0.5)
    inputs = torch.ones(1, mel_len + 1, dtype=torch.long)
    inputs[:, -1] = gpt.start_mel_token
    return inputs, {"bos_token_id": gpt.start_mel_token, "pad_token_id": gpt.stop_mel_token,
                    "eos_token_id": gpt.stop_mel_token, "attention_mask": torch.ones_like(inputs),
                    "max_length": mel_len + 1 + 30, "logits_processor": [], "num_return_sequences": 1,
                    "do_sample": True, "top_p": 0.8, "top_k": 30, "temperature": 0.8, "length_penalty": 0.0,
                    "num_beams": 1, "repetition_penalty": 10.0}


def test_static_decode_picks_the_codes_generate_picks(fp32_engine: IndexTtsEngine) -> None:
    """top_k=1 makes sampling deterministic: over 30 steps (positions, the KV cache, the repetition penalty
    over the prompt's and the new ids) the static decoder and transformers' generate() pick the same codes.
    In fp32: in bf16 the two paths round differently, and a random model's near-ties then part them."""
    import torch

    model = fp32_engine.load()
    decoder = fp32_engine.decoder
    assert decoder is not None and model.gpt.inference_model.generate == decoder.generate
    inputs, kwargs = _prompt(model)
    kwargs["top_k"] = 1
    reference = decoder._generate(inputs, **kwargs)
    got = decoder.generate(inputs, **kwargs)
    assert decoder.stats.fallback == ""
    assert got.shape == reference.shape == (1, inputs.shape[1] + 30)
    assert torch.equal(got, reference)


@pytest.mark.parametrize("which", ["fp32", "auto"])
def test_static_decode_logits_follow_the_model(which: str, engine: IndexTtsEngine,
                                               fp32_engine: IndexTtsEngine) -> None:
    """Each step's logits equal the inference model's own incremental forward passes, as generate()
    makes them (its KV cache, its positions), over the same codes: in fp32 to rounding, in bf16 within
    what the format's rounding moves them."""
    import torch

    chosen = fp32_engine if which == "fp32" else engine
    model, decoder = chosen.load(), chosen.decoder
    assert decoder is not None
    inputs, kwargs = _prompt(model, seed=1)
    codes = decoder.generate(inputs, **kwargs)
    im, prompt = model.gpt.inference_model, inputs.shape[1]
    ours = decoder.score(inputs, codes[:, prompt:])
    out = im(input_ids=codes[:, :prompt], attention_mask=torch.ones(1, prompt, dtype=torch.long), use_cache=True,
             return_dict=True)
    theirs = [out.logits[:, -1]]
    for i in range(prompt, codes.shape[1] - 1):
        out = im(input_ids=codes[:, i:i + 1], past_key_values=out.past_key_values, use_cache=True,
                 attention_mask=torch.ones(1, i + 1, dtype=torch.long), return_dict=True)
        theirs.append(out.logits[:, -1])
    assert ours.shape == (codes.shape[1] - prompt, im.lm_head[-1].out_features)
    for got, expected in zip(ours.split(1), theirs, strict=True):
        if which == "fp32":
            torch.testing.assert_close(got, expected.float(), rtol=1e-4, atol=1e-4)
        else:
            assert float(torch.nn.functional.cosine_similarity(got, expected.float())) > 0.999


def test_sampler_keeps_the_distribution_of_transformers_warpers() -> None:
    import torch
    from transformers import (
        LogitsProcessorList,
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    from tts_core.engines.indextts.decode import candidates

    torch.manual_seed(0)
    warpers = LogitsProcessorList([RepetitionPenaltyLogitsProcessor(10.0), TemperatureLogitsWarper(0.8),
                                   TopKLogitsWarper(30), TopPLogitsWarper(0.8)])
    for trial in range(20):
        logits = torch.randn(1, 8194) * (1 + trial)  # flat to peaked: top-p keeps 30 candidates down to 1
        history = torch.randint(0, 8194, (1, 50))
        seen = torch.zeros(1, 8194, dtype=torch.bool)
        seen[0, history[0]] = True
        expected = torch.softmax(warpers(history, logits.clone()), dim=-1)
        ids, probs = candidates(logits, seen, penalty=10.0, temperature=0.8, top_k=30, top_p=0.8)
        got = torch.zeros_like(expected).scatter_(1, ids, probs)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_decoding_routes_by_what_the_decoder_covers(engine: IndexTtsEngine) -> None:
    """fast (one beam, sampling) decodes statically; quality's three beams go to generate()."""
    engine.synthesize(SynthesisRequest(text=TEXT, profile="fast"), Deadline.in_seconds(300))
    assert engine.last_stats["decode_fallback"] is None
    assert engine.last_stats["decode_steps"] == MAX_MEL_TOKENS - 1  # the last code needs no forward pass
    engine.synthesize(SynthesisRequest(text=TEXT, profile="quality"), Deadline.in_seconds(300))
    assert engine.last_stats["decode_fallback"] == "beam search" and engine.last_stats["decode_steps"] == 0


def test_generate_decode_setting_keeps_transformers_path(s3: None, tiny_model: Path, tmp_path: Path) -> None:
    engine = _engine(tiny_model / "checkpoints", tmp_path, decode="generate")
    engine.synthesize(SynthesisRequest(text=TEXT), Deadline.in_seconds(300))
    assert engine.decoder is None and "decode_steps" not in engine.last_stats
    assert engine.precision_report["decode"] == "generate"


def test_unknown_decode_is_model_unavailable(s3: None, tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="decode must be one of static, generate"):
        _engine(tiny_model / "checkpoints", tmp_path, decode="compiled").load()
