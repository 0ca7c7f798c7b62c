"""Random-weight IndexTTS-2 models for tests and benchmarks: the real architecture, no real weights.

    python -m tts_local.tiny_indextts OUT_DIR [--size tiny|full] [--dtype float16|float32] [--published]

Every checkpoint is the `state_dict` of the class the inference code (PyPI `indextts2-cli`) builds
from the same config, so its loaders see exactly the keys they expect. The output directory holds
`checkpoints/` (the `model_dir`: config.yaml, gpt.pth, s2mel.pth, bpe.model, stats, feat1/2, a tiny
Qwen3 emotion model), `hf_cache/` (a pre-filled hub cache for the four repositories the code fetches
at init: use it as HF_HUB_CACHE with HF_HUB_OFFLINE=1), `prompt.wav` and `manifest.json`.

`ensure_model()` builds once into <repo>/.cache/indextts-<size>/<key> (git-ignored), the key being
a hash of this file and the installed package version, so CI can cache the directory.

Limits hard-coded in the inference code, not the config: GPT model_dim 1280; w2v-bert hidden 1024
with >= 17 layers (infer uses hidden_states[17]); codec hidden 1024 and codebook 8192; CAMPPlus(80,
192); BigVGAN with 80 mels at 22,050 Hz and x256 upsampling; wavenet.hidden_dim == DiT.hidden_dim.
A random GPT never emits its stop token: always cap `max_mel_tokens`.

`--published` writes the files as the hub publishes them, the input of the image's weight packer
(tts_core.engines.indextts.weights): fp32 weights, s2mel.pth with its Adam optimizer state beside
`net`, the Qwen emotion model in bf16 (`--size full`: Qwen3-0.6B's real dimensions, 1.19 GB), and
files inference never reads (w2v-bert's conformer_shaw.pt as a small stand-in, READMEs). With
`--size full` every file the image keeps has the published file's size to within a few percent
(gpt.pth 3.47 GB, s2mel.pth 1.25 GB, w2v-bert 2.32 GB, BigVGAN 0.45 GB: `make image-size`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
import wave
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

Size = Literal["tiny", "full"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "indextts2-cli"

# Dimensions that differ between the tiny test model and the official (full) architecture.
_DIMS: dict[str, dict[str, Any]] = {
    "tiny": dict(gpt_heads=4, gpt_layers=1, cond_out=64, cond_units=64, cond_heads=2, cond_blocks=1, cond_mult=1,
                 emo_out=64, emo_units=64, emo_heads=2, emo_blocks=1, emo_mult=1, vocos_dim=32, vocos_inter=64,
                 vocos_layers=1, lr_channels=64, dit_hidden=64, dit_heads=2, dit_depth=3, wn_hidden=64, wn_layers=2),
    "full": dict(gpt_heads=20, gpt_layers=24, cond_out=512, cond_units=2048, cond_heads=8, cond_blocks=6, cond_mult=2,
                 emo_out=512, emo_units=1024, emo_heads=4, emo_blocks=4, emo_mult=2, vocos_dim=384, vocos_inter=2048,
                 vocos_layers=12, lr_channels=512, dit_hidden=512, dit_heads=8, dit_depth=13, wn_hidden=512,
                 wn_layers=8),
}

# What 2.0 and 2.5 configure alike (2.5 has the same codec, s2mel and file names): tiny_indextts25 uses it.
COMMON_CONFIG = """\
semantic_codec: {{codebook_size: 8192, hidden_size: 1024, codebook_dim: 8, vocos_dim: {vocos_dim},
                 vocos_intermediate_dim: {vocos_inter}, vocos_num_layers: {vocos_layers}}}
s2mel:
    preprocess_params:
        sr: 22050
        spect_params: {{n_fft: 1024, win_length: 1024, hop_length: 256, n_mels: 80, fmin: 0, fmax: "None"}}
    dit_type: "DiT"
    reg_loss_type: "l1"
    style_encoder: {{dim: 192}}
    length_regulator: {{channels: {lr_channels}, is_discrete: false, in_channels: 1024, content_codebook_size: 2048,
                       sampling_ratios: [1, 1, 1, 1], vector_quantize: false, n_codebooks: 1,
                       quantizer_dropout: 0.0, f0_condition: false, n_f0_bins: 512}}
    DiT: {{hidden_dim: {dit_hidden}, num_heads: {dit_heads}, depth: {dit_depth}, class_dropout_prob: 0.1,
          block_size: 8192, in_channels: 80, style_condition: true, final_layer_type: 'wavenet', target: 'mel',
          content_dim: {lr_channels}, content_codebook_size: 1024, content_type: 'discrete', f0_condition: false,
          n_f0_bins: 512, content_codebooks: 1, is_causal: false, long_skip_connection: true,
          zero_prompt_speech_token: false, time_as_token: false, style_as_token: false,
          uvit_skip_connection: true, add_resblock_in_transformer: false}}
    wavenet: {{hidden_dim: {wn_hidden}, num_layers: {wn_layers}, kernel_size: 5, dilation_rate: 1, p_dropout: 0.2,
              style_condition: true}}
gpt_checkpoint: gpt.pth
w2v_stat: wav2vec2bert_stats.pt
s2mel_checkpoint: s2mel.pth
emo_matrix: feat2.pt
spk_matrix: feat1.pt
emo_num: [3, 17, 2, 8, 4, 5, 10, 24]
"""
_CONFIG = """\
dataset:
    bpe_model: bpe.model
    sample_rate: 24000
    squeeze: false
    mel: {{sample_rate: 24000, n_fft: 1024, hop_length: 256, win_length: 1024, n_mels: 100, mel_fmin: 0,
          normalize: false}}
gpt:
    model_dim: 1280
    max_mel_tokens: 1815
    max_text_tokens: 600
    heads: {gpt_heads}
    use_mel_codes_as_input: true
    mel_length_compression: 1024
    layers: {gpt_layers}
    number_text_tokens: {n_text}
    number_mel_codes: 8194
    start_mel_token: 8192
    stop_mel_token: 8193
    start_text_token: 0
    stop_text_token: 1
    train_solo_embeddings: false
    condition_type: "conformer_perceiver"
    condition_module: {{output_size: {cond_out}, linear_units: {cond_units}, attention_heads: {cond_heads},
                       num_blocks: {cond_blocks}, input_layer: "conv2d2", perceiver_mult: {cond_mult}}}
    emo_condition_module: {{output_size: {emo_out}, linear_units: {emo_units}, attention_heads: {emo_heads},
                           num_blocks: {emo_blocks}, input_layer: "conv2d2", perceiver_mult: {emo_mult}}}
""" + COMMON_CONFIG + """\
qwen_emo_path: qwen0.6bemo4-merge/
vocoder: {{type: "bigvgan", name: "nvidia/bigvgan_v2_22khz_80band_256x"}}
version: 2.0
"""

# facebook/w2v-bert-2.0 is Wav2Vec2BertConfig's defaults (24 layers); the tiny model keeps 17 narrow ones.
_W2V = {"tiny": {"num_hidden_layers": 17, "intermediate_size": 64}, "full": {}}
_BIGVGAN_BASE: dict[str, Any] = {
    "resblock": "1", "upsample_rates": [4, 4, 2, 2, 2, 2], "upsample_kernel_sizes": [8, 8, 4, 4, 4, 4],
    "use_tanh_at_final": False, "use_bias_at_final": False, "activation": "snakebeta", "snake_logscale": True,
    "num_mels": 80, "num_freq": 1025, "n_fft": 1024, "hop_size": 256, "win_size": 1024, "sampling_rate": 22050,
    "fmin": 0, "fmax": None, "fmax_for_loss": None, "normalize_volume": True,
}
_BIGVGAN = {
    "tiny": {"upsample_initial_channel": 128, "resblock_kernel_sizes": [3], "resblock_dilation_sizes": [[1, 3, 5]]},
    "full": {"upsample_initial_channel": 1536, "resblock_kernel_sizes": [3, 7, 11],
             "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]]},
}
HUB_REPOS = ("facebook/w2v-bert-2.0", "amphion/MaskGCT", "funasr/campplus", "nvidia/bigvgan_v2_22khz_80band_256x")


def cache_key(size: Size = "tiny", dtype: str = "float16", published: bool = False) -> str:
    """Changes when this builder or the inference package changes: a stale model is never reused."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(f"{metadata.version(PACKAGE)}/{size}/{dtype}/{published}".encode())
    return h.hexdigest()[:12]


def ensure_model(size: Size = "tiny", dtype: str = "float16", cache_root: Path | None = None,
                 published: bool = False) -> Path:
    """The built model directory, built on the first call and reused after."""
    root = cache_root or Path(os.environ.get("TTS_MODEL_CACHE", REPO_ROOT / ".cache"))
    out = root / f"indextts-{size}{'-published' if published else ''}" / cache_key(size, dtype, published)
    return _cached(out, lambda partial: build(partial, size=size, dtype=dtype, published=published))


def ensure_packed(size: Size = "tiny", dtype: str = "bfloat16", cache_root: Path | None = None) -> Path:
    """The published-layout model packed as the image's build packs it: what the image ships."""
    from tts_core.engines.indextts import weights as indextts_weights

    root = cache_root or Path(os.environ.get("TTS_MODEL_CACHE", REPO_ROOT / ".cache"))
    h = hashlib.sha256(Path(indextts_weights.__file__).read_bytes())
    h.update(f"{cache_key(size, published=True)}/{dtype}".encode())
    out = root / f"indextts-{size}-packed-{dtype}" / h.hexdigest()[:12]
    # The published files are needed only to pack (full size: ~9 GB; they may be deleted after).
    return _cached(out, lambda partial: indextts_weights.pack(
        ensure_model(size, cache_root=cache_root, published=True), partial, dtype))


def _cached(out: Path, make: Callable[[Path], Any]) -> Path:
    """Build into a private directory, then rename it into place (another process may race us)."""
    if out.is_dir():
        return out
    partial = out.with_name(out.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    make(partial)
    try:
        partial.rename(out)
    except OSError:  # another process won the race: use its copy
        shutil.rmtree(partial, ignore_errors=True)
    return out


def _cast(state: dict[str, Any], dtype: Any) -> dict[str, Any]:
    # fp16 files halve the size; the loaders copy them into fp32 modules.
    return {k: (v.detach().clone().to(dtype) if v.is_floating_point() else v.detach().clone())
            for k, v in state.items()}


def _snapshot_dir(hf_cache: Path, repo_id: str) -> Path:
    from tts_core.engines.indextts.weights import snapshot_dir

    return snapshot_dir(hf_cache, repo_id, hashlib.sha1(f"random:{repo_id}".encode()).hexdigest())


def _train_bpe(prefix: Path) -> int:
    """A small sentencepiece BPE with the official ids (<s>=0, </s>=1, <unk>=2): CJK characters from
    jieba's dictionary plus upper-case English (the tokenizer upper-cases English before encoding)."""
    import jieba
    import sentencepiece as spm

    freq: dict[str, int] = {}
    for line in (Path(jieba.__file__).parent / "dict.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            for ch in parts[0]:
                if "\u4e00" <= ch <= "\u9fff":
                    freq[ch] = freq.get(ch, 0) + int(parts[1])
    chars = [c for c, _ in sorted(freq.items(), key=lambda kv: -kv[1])[:2500]]
    english = ("HELLO WORLD THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG THIS IS A TEST OF TEXT TO SPEECH "
               "GOOD MORNING HOW ARE YOU TODAY ONE TWO THREE FOUR FIVE SIX SEVEN EIGHT NINE TEN "
               "A B C D E F G H I J K L M N O P Q R S T U V W X Y Z")
    lines = [" ".join(chars[i:i + 20]) for i in range(0, len(chars), 20)] + [english] * 50
    lines += [", . ! ? ' - … " * 3] * 10
    corpus = prefix.with_suffix(".corpus.txt")
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), model_type="bpe", vocab_size=3000, character_coverage=1.0,
        hard_vocab_limit=False, bos_id=0, eos_id=1, unk_id=2, pad_id=-1, num_threads=2, minloglevel=2,
        split_digits=True)
    corpus.unlink()
    prefix.with_suffix(".vocab").unlink()
    return int(spm.SentencePieceProcessor(model_file=str(prefix.with_suffix(".model"))).GetPieceSize())


# Qwen3-0.6B, the published emotion model's base (qwen0.6bemo4-merge): 596 M parameters.
_QWEN_FULL: dict[str, Any] = dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                                  num_attention_heads=16, num_key_value_heads=8, head_dim=128,
                                  max_position_embeddings=40960, vocab_size=151936)


def _build_qwen(path: Path, dtype: Any, size: Size = "tiny") -> None:
    """A Qwen3 (tiny, or Qwen3-0.6B's dimensions for `full`) + byte-level tokenizer with a Qwen-style
    chat template. Its final norm is zero, so every logit is 0 and greedy decoding emits id 0
    (<|im_end|>, eos) at once: `use_emo_text` stays fast and deterministic (QwenEmotion then falls back
    to calm=1.0)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    specials = ["<|im_end|>", "<|endoftext|>", "<|im_start|>", "<think>", "</think>"]
    vocab = {t: i for i, t in enumerate(specials)}
    for ch in pre_tokenizers.ByteLevel.alphabet():
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    template = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
                "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
                "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}"
                "{% endif %}")
    # No token_type_ids (like Qwen2TokenizerFast): Qwen's generate() rejects them.
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                            chat_template=template, model_input_names=["input_ids", "attention_mask"],
                            ).save_pretrained(str(path))
    dims = _QWEN_FULL if size == "full" else dict(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, head_dim=16, max_position_embeddings=4096)
    model = Qwen3ForCausalLM(Qwen3Config(**dims, eos_token_id=0, pad_token_id=1, bos_token_id=None,
                                         tie_word_embeddings=True))
    with torch.no_grad():
        model.model.norm.weight.zero_()
    model.generation_config.do_sample = False
    model.generation_config.eos_token_id = 0
    model.generation_config.pad_token_id = 1
    model.to(dtype).save_pretrained(str(path), safe_serialization=True)


def write_prompt_wav(path: Path, *, rate: int = 24000, seconds: float = 1.0, seed: int = 0) -> None:
    """A voiced-sounding synthetic prompt (gliding harmonics + noise), 16-bit mono; 24 kHz exercises
    the code's resampling to 16 and 22.05 kHz."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    phase = 2 * np.pi * np.cumsum(140 + 30 * np.sin(2 * np.pi * 0.7 * t)) / rate
    x = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.15 * (1 + np.sin(2 * np.pi * 3 * t))
    x = x + 0.01 * rng.standard_normal(len(t))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def _with_adam_state(net: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """s2mel.pth as published: `net` plus the training state inference never reads (Adam's two
    moments per parameter, the scheduler, counters)."""
    import torch

    params = [v for state in net.values() for v in state.values() if v.is_floating_point()]
    moments = {i: {"step": torch.tensor(1000.0), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)}
               for i, p in enumerate(params)}
    return {"net": net, "optimizer": {"state": moments, "param_groups": [{"lr": 1e-4, "params": list(moments)}]},
            "scheduler": {"last_epoch": 1000}, "iters": 1000, "epoch": 10}


def build(out_dir: Path, *, size: Size = "tiny", dtype: str = "float16", seed: int = 0,
          published: bool = False) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the network
    import indextts
    import safetensors.torch
    import torch
    from indextts.gpt.model_v2 import UnifiedVoice
    from indextts.s2mel.modules.bigvgan import bigvgan
    from indextts.s2mel.modules.bigvgan.env import AttrDict
    from indextts.s2mel.modules.campplus.DTDNN import CAMPPlus
    from indextts.s2mel.modules.commons import MyModel
    from indextts.utils.maskgct_utils import build_semantic_codec
    from omegaconf import OmegaConf
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    started = time.perf_counter()
    torch.manual_seed(seed)
    if published:
        dtype = "float32"
    store = getattr(torch, dtype)
    model_dir, hf_cache = out_dir / "checkpoints", out_dir / "hf_cache"
    model_dir.mkdir(parents=True, exist_ok=True)
    hf_cache.mkdir(parents=True, exist_ok=True)

    n_bpe = _train_bpe(model_dir / "bpe")
    # The full model keeps the official text vocabulary width (12000) so its parameter count is real.
    n_text = n_bpe if size == "tiny" else 12000
    cfg_path = model_dir / "config.yaml"
    cfg_path.write_text(_CONFIG.format(n_text=n_text, **_DIMS[size]), encoding="utf-8")
    cfg = OmegaConf.load(cfg_path)

    gpt = UnifiedVoice(**cfg.gpt)  # loaded with strict=True
    torch.save(_cast(gpt.state_dict(), store), model_dir / cfg.gpt_checkpoint)
    del gpt
    s2mel = MyModel(cfg.s2mel, use_gpt_latent=True)  # {"net": {module: state_dict}}, loaded strict=False
    net = {k: _cast(m.state_dict(), store) for k, m in s2mel.models.items()}
    torch.save(_with_adam_state(net) if published else {"net": net}, model_dir / cfg.s2mel_checkpoint)
    del net
    del s2mel
    stats = Path(indextts.__file__).parent / "utils/maskgct/models/tts/maskgct/ckpt/wav2vec2bert_stats.pt"
    if stats.is_file():  # the real statistics ship inside the package
        shutil.copy(stats, model_dir / cfg.w2v_stat)
    else:
        torch.save({"mean": torch.zeros(1024), "var": torch.ones(1024)}, model_dir / cfg.w2v_stat)
    n_emo = sum(cfg.emo_num)
    torch.save(torch.randn(n_emo, 192), model_dir / cfg.spk_matrix)
    torch.save(torch.randn(n_emo, cfg.gpt.model_dim) * 0.02, model_dir / cfg.emo_matrix)
    _build_qwen(model_dir / cfg.qwen_emo_path, torch.bfloat16 if published else store, size)

    snap = _snapshot_dir(hf_cache, HUB_REPOS[0])
    w2v = Wav2Vec2BertModel(Wav2Vec2BertConfig(**_W2V[size]))
    w2v.to(store).save_pretrained(str(snap), safe_serialization=True)
    SeamlessM4TFeatureExtractor(padding_value=1.0).save_pretrained(str(snap))
    del w2v
    if published:  # published beside the model, never read by inference (the real one is 2.3 GB)
        torch.save({"stand_in": torch.zeros(1024)}, snap / "conformer_shaw.pt")
        for readme in (snap / "README.md", model_dir / cfg.qwen_emo_path / "README.md"):
            readme.write_text("random weights of the real architecture\n")
    snap = _snapshot_dir(hf_cache, HUB_REPOS[1])
    (snap / "semantic_codec").mkdir(exist_ok=True)
    safetensors.torch.save_model(build_semantic_codec(cfg.semantic_codec).to(store),
                                 str(snap / "semantic_codec" / "model.safetensors"))
    snap = _snapshot_dir(hf_cache, HUB_REPOS[2])
    torch.save(_cast(CAMPPlus(feat_dim=80, embedding_size=192).state_dict(), store), snap / "campplus_cn_common.bin")
    snap = _snapshot_dir(hf_cache, HUB_REPOS[3])
    voc_cfg = _BIGVGAN_BASE | _BIGVGAN[size]
    (snap / "config.json").write_text(json.dumps(voc_cfg, indent=1))
    voc = bigvgan.BigVGAN(AttrDict(voc_cfg), use_cuda_kernel=False)
    torch.save({"generator": _cast(voc.state_dict(), store)}, snap / "bigvgan_generator.pt")
    del voc
    write_prompt_wav(out_dir / "prompt.wav")

    files = {str(p.relative_to(out_dir)): p.stat().st_size for p in sorted(out_dir.rglob("*")) if p.is_file()}
    manifest = {"size": size, "dtype": dtype, "published": published, "seed": seed,
                "package": f"{PACKAGE}=={metadata.version(PACKAGE)}",
                "total_bytes": sum(files.values()), "build_seconds": round(time.perf_counter() - started, 1),
                "model_dir": "checkpoints", "hf_hub_cache": "hf_cache", "files": files}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a random-weight IndexTTS-2 model (real architecture).")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16",
                        help="storage dtype (the loaders copy into fp32 modules either way)")
    parser.add_argument("--published", action="store_true",
                        help="the files as published (fp32, s2mel optimizer state, unused files; see above)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    manifest = build(args.out_dir.resolve(), size=args.size, dtype=args.dtype, seed=args.seed,
                     published=args.published)
    print(json.dumps({k: v for k, v in manifest.items() if k != "files"}, indent=1))


if __name__ == "__main__":
    main()
