"""Random-weight IndexTTS-2.5 models for tests and benchmarks: the real architecture, no real weights.

    python -m tts_local.tiny_indextts25 OUT_DIR [--size tiny|full] [--dtype float16|float32]

Every checkpoint is the `state_dict` of the class the inference code (PyPI `indextts25-inference`, its
`indextts25` namespace) builds from the same config, so its strict loaders see exactly the keys they
expect. The layout is the published one (IndexTeam/IndexTTS-2.5), which differs from 2.0's: no hub
cache, the auxiliary models sit under `checkpoints/hf_cache/` as plain directories:

    OUT_DIR/checkpoints/  config.yaml gpt.pth s2mel.pth codec.pth wav2vec2bert_stats.pt feat1.pt feat2.pt
                          multilingual_zh_ja_yue_char_del.tiktoken
                          hf_cache/w2v-bert-2.0/{config.json,preprocessor_config.json,model.safetensors}
                          hf_cache/campplus_cn_common.bin  hf_cache/bigvgan/{config.json,bigvgan_generator.pt}
    OUT_DIR/prompt.wav  OUT_DIR/manifest.json  OUT_DIR/text_cache/ (compiled zh/en text normalisers)

`ensure_model()` builds once into <repo>/.cache/indextts25-<size>/<key> (git-ignored), the key being a hash
of this file and the installed package version, as tiny_indextts.ensure_model does for 2.0.

The config is not shipped by the package: it is reconstructed from the code and the published dimensions
(GPT 24 x 1280 with 20 heads, as 2.0; text vocabulary 58,836 tiktoken ranks + 1,673 specials = 60,509;
the emotion Conformer, codec, s2mel and BigVGAN as 2.0). What differs from 2.0: the speaker conditioning
is CAMPPlus's 192-float style through `spk_emb_proj` (no conformer/perceiver over the prompt), a language
embedding, the semantic codec's decoder only (`codec.pth`, 25 codes/s upsampled to 50 Hz), a tiktoken
vocabulary instead of bpe.model, no Qwen emotion model. gpt.pth carries `text_head` (77 M parameters at
full size) as published; inference ignores it. Published files carry weight norm as `weight_g`/`weight_v`
pairs and optimizer state in codec.pth: these are plain folded weights (the loaders accept both) and no
optimizer state. A random GPT never emits its stop token: always cap `max_mel_tokens`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from tts_local import tiny_indextts
from tts_local.tiny_indextts import (
    _BIGVGAN,
    _BIGVGAN_BASE,
    _W2V,
    COMMON_CONFIG,
    REPO_ROOT,
    Size,
    _cached,
    _cast,
    write_prompt_wav,
)

PACKAGE = "indextts25-inference"
TIKTOKEN_FILE = "multilingual_zh_ja_yue_char_del.tiktoken"
N_SPECIALS = 1673  # indextts25.utils.tokenizer.get_encoding's special tokens (languages, events, timestamps...)
FULL_RANKS = 58836  # the published vocabulary's mergeable ranks

_DIMS: dict[str, dict[str, Any]] = {
    "tiny": dict(gpt_dim=128, gpt_heads=4, gpt_layers=2, emo_out=64, emo_units=64, emo_heads=2, emo_blocks=1,
                 emo_mult=1, vocos_dim=32, vocos_inter=64, vocos_layers=1, lr_channels=64, dit_hidden=64,
                 dit_heads=2, dit_depth=3, wn_hidden=64, wn_layers=2),
    "full": dict(gpt_dim=1280, gpt_heads=20, gpt_layers=24, emo_out=512, emo_units=1024, emo_heads=4, emo_blocks=4,
                 emo_mult=2, vocos_dim=384, vocos_inter=2048, vocos_layers=12, lr_channels=512, dit_hidden=512,
                 dit_heads=8, dit_depth=13, wn_hidden=512, wn_layers=8),
}

_CONFIG = """\
gpt:
    model_dim: {gpt_dim}
    max_mel_tokens: 1815
    max_text_tokens: 600
    heads: {gpt_heads}
    layers: {gpt_layers}
    number_text_tokens: {n_text}
    number_mel_codes: 8194
    start_mel_token: 8192
    stop_mel_token: 8193
    start_text_token: 0
    stop_text_token: 1
    emo_condition_module: {{output_size: {emo_out}, linear_units: {emo_units}, attention_heads: {emo_heads},
                           num_blocks: {emo_blocks}, input_layer: "conv2d2", perceiver_mult: {emo_mult}}}
""" + COMMON_CONFIG + """\
version: 2.5
"""


def cache_key(size: Size = "tiny", dtype: str = "float16") -> str:
    """Changes when this builder (or 2.0's, whose COMMON_CONFIG and weight helpers it uses) or the inference
    package changes: a stale model is never reused."""
    h = hashlib.sha256(Path(__file__).read_bytes() + Path(tiny_indextts.__file__).read_bytes())
    h.update(f"{metadata.version(PACKAGE)}/{size}/{dtype}".encode())
    return h.hexdigest()[:12]


def ensure_model(size: Size = "tiny", dtype: str = "float16", cache_root: Path | None = None) -> Path:
    """The built model directory (OUT_DIR above), built on the first call and reused after."""
    root = cache_root or Path(os.environ.get("TTS_MODEL_CACHE", REPO_ROOT / ".cache"))
    out = root / f"indextts25-{size}" / cache_key(size, dtype)
    return _cached(out, lambda partial: build(partial, size=size, dtype=dtype))


def _ranks(size: Size) -> list[bytes]:
    """A byte-level BPE vocabulary in tiktoken's terms: every byte (so any text encodes), then CJK, kana
    and the English alphabet's pairs with the intermediate pieces a byte-pair merge passes through (a
    3-byte character is reached from its 2-byte prefix). `full` is padded to the published rank count
    with distinct multi-byte pieces of CJK text, so the embedding tables have their real size."""
    ranks: list[bytes] = [bytes([b]) for b in range(256)]
    seen = set(ranks)

    def add(piece: bytes) -> None:
        if piece not in seen:
            seen.add(piece)
            ranks.append(piece)

    chars = [chr(c) for c in range(0x3041, 0x3097)] + [chr(c) for c in range(0x30A1, 0x30FB)]  # kana
    chars += [chr(c) for c in range(0x4E00, 0x4E00 + (20992 if size == "full" else 1500))]  # CJK
    for ch in chars:
        encoded = ch.encode()
        add(encoded[:2])
        add(encoded)
    for a in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ":
        add(b" " + a.encode())
        for b in "abcdefghijklmnopqrstuvwxyz":
            add((a + b).encode())
    if size == "full":
        cjk = [c for c in chars if c >= "\u4e00"]
        i = 0
        while len(ranks) < FULL_RANKS:  # two-character words, as the published vocabulary is full of
            # Round r (= i // len(cjk)) gives each character a partner no earlier round gave it: a fixed
            # partner per character would run out of new pairs (20,992) before the rank count.
            first, round_ = i % len(cjk), i // len(cjk)
            add((cjk[first] + cjk[(first * 7919 + 1 + round_) % len(cjk)]).encode())
            i += 1
    return ranks


def _write_tiktoken(path: Path, size: Size) -> int:
    ranks = _ranks(size)
    path.write_text("".join(f"{base64.b64encode(piece).decode()} {rank}\n" for rank, piece in enumerate(ranks)),
                    encoding="utf-8")
    return len(ranks)


def warm_text_cache(cache: Path) -> None:
    """Compile WeTextProcessing's zh/en grammars where the engine looks for them (XDG_CACHE_HOME, default
    <model_dir>/../text_cache; ~50 s once): the image does it at build, this at model build."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    try:
        from indextts25.utils.front import TextNormalizer

        if not TextNormalizer().load():
            raise RuntimeError("WeTextProcessing (tn) is not installed: zh/en text would not be normalised")
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved


def build(out_dir: Path, *, size: Size = "tiny", dtype: str = "float16", seed: int = 0) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here needs the network
    import torch
    from indextts25.codec.models import EnhancedCodec
    from indextts25.gpt.model_v2 import UnifiedVoice
    from indextts25.s2mel.modules.bigvgan.bigvgan import BigVGAN
    from indextts25.s2mel.modules.bigvgan.env import AttrDict
    from indextts25.s2mel.modules.campplus.DTDNN import CAMPPlus
    from indextts25.s2mel.modules.commons import MyModel
    from omegaconf import OmegaConf
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    started = time.perf_counter()
    torch.manual_seed(seed)
    store = getattr(torch, dtype)
    model_dir = out_dir / "checkpoints"
    aux = model_dir / "hf_cache"
    aux.mkdir(parents=True, exist_ok=True)

    n_text = _write_tiktoken(model_dir / TIKTOKEN_FILE, size) + N_SPECIALS
    cfg_path = model_dir / "config.yaml"
    cfg_path.write_text(_CONFIG.format(n_text=n_text, **_DIMS[size]), encoding="utf-8")
    cfg = OmegaConf.load(cfg_path)

    gpt = UnifiedVoice(**cfg.gpt)
    state = gpt.state_dict()
    # As published: the training text head (inference neither builds nor reads it).
    head = torch.nn.Linear(cfg.gpt.model_dim, cfg.gpt.number_text_tokens + 1)
    state.update({"text_head.weight": head.weight, "text_head.bias": head.bias})
    torch.save(_cast(state, store), model_dir / cfg.gpt_checkpoint)
    del gpt, state, head
    s2mel = MyModel(cfg.s2mel)  # {"net": {module: state_dict}}, loaded strict
    torch.save({"net": {k: _cast(m.state_dict(), store) for k, m in s2mel.models.items()}},
               model_dir / cfg.s2mel_checkpoint)
    del s2mel
    torch.save({"model": _cast(EnhancedCodec(**cfg.semantic_codec).state_dict(), store)}, model_dir / "codec.pth")
    torch.save({"mean": torch.randn(1024) * 0.1, "var": torch.rand(1024) + 0.5}, model_dir / cfg.w2v_stat)
    n_emo = sum(cfg.emo_num)
    torch.save(torch.randn(n_emo, 192), model_dir / cfg.spk_matrix)
    torch.save(torch.randn(n_emo, cfg.gpt.model_dim) * 0.02, model_dir / cfg.emo_matrix)

    w2v_dir = aux / "w2v-bert-2.0"
    w2v = Wav2Vec2BertModel(Wav2Vec2BertConfig(**_W2V[size]))  # full: all 24 layers, as published
    w2v.to(store).save_pretrained(str(w2v_dir), safe_serialization=True)
    SeamlessM4TFeatureExtractor(padding_value=1.0).save_pretrained(str(w2v_dir))
    del w2v
    torch.save(_cast(CAMPPlus(feat_dim=80, embedding_size=192).state_dict(), store), aux / "campplus_cn_common.bin")
    voc_dir = aux / "bigvgan"
    voc_dir.mkdir(exist_ok=True)
    voc_cfg = _BIGVGAN_BASE | _BIGVGAN[size]
    (voc_dir / "config.json").write_text(json.dumps(voc_cfg, indent=1))
    torch.save({"generator": _cast(BigVGAN(AttrDict(voc_cfg)).state_dict(), store)}, voc_dir / "bigvgan_generator.pt")
    write_prompt_wav(out_dir / "prompt.wav")
    warm_text_cache(out_dir / "text_cache")

    files = {str(p.relative_to(out_dir)): p.stat().st_size for p in sorted(out_dir.rglob("*")) if p.is_file()}
    manifest = {"model": "indextts2.5", "size": size, "dtype": dtype, "seed": seed,
                "package": f"{PACKAGE}=={metadata.version(PACKAGE)}", "text_vocabulary": n_text,
                "total_bytes": sum(files.values()), "build_seconds": round(time.perf_counter() - started, 1),
                "model_dir": "checkpoints", "files": files}
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build a random-weight IndexTTS-2.5 model (real architecture).")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--dtype", choices=["float16", "float32", "bfloat16"], default="float16",
                        help="storage dtype (the loaders copy into fp32 modules either way)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    manifest = build(args.out_dir.resolve(), size=args.size, dtype=args.dtype, seed=args.seed)
    print(json.dumps({k: v for k, v in manifest.items() if k != "files"}, indent=1))


if __name__ == "__main__":
    main()
