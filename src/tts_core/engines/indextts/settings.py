"""What the primary engine runs with: model location, profiles, precision, what loads lazily."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tts_core.catalogue import PRIMARY_MODELS, primary_model

Profile = Literal["quality", "fast"]
SAMPLE_RATE = 22050  # BigVGAN's rate; infer returns int16 at this rate
OFFICIAL = {"num_beams": 3, "diffusion_steps": 25, "cfg_rate": 0.7}  # infer_v2 defaults (hard-coded s2mel ones)
# PrimaryModel: which inference code and weights model_dir holds (indextts2.5: v2_5.py). Checked at load.
MODELS = PRIMARY_MODELS


@dataclass(frozen=True)
class IndexTtsSettings:
    model_dir: Path
    profile: Profile = "fast"  # used when a request names no profile
    max_mel_tokens: int = 1500  # per segment; the official default (~17 s of audio). Tests cap it.
    fast_num_beams: int = 1
    fast_diffusion_steps: int = 10
    fast_cfg_rate: float = 0.0  # 0 skips the classifier-free-guidance pass: half the DiT batch
    max_text_tokens_per_segment: int = 120
    threads: int | None = None  # None: every vCPU this process may run on
    precision: str = "auto"  # auto (from the CPU's flags), fp32, bf16, int8: see precision.py
    decode: str = "static"  # static (decode.py: one sequence, a KV cache allocated once) or generate (transformers')
    lazy_semantic_model: bool = True  # load w2v-bert on the first voice whose conditioning is not stored
    hf_hub_cache: Path | None = None  # None: <model_dir>/../hf_cache (where the image bakes it)
    lazy_emotion_model: bool = True  # load the Qwen emotion-from-text model (~1.2 GB) on first use only
    store_conditioning: bool = True  # persist each voice's speaker conditioning for later containers
    extra_generation_kwargs: dict[str, Any] = field(default_factory=dict)
    model: str = "indextts2"  # one of MODELS; anything else fails the load (ModelUnavailableError)

    @classmethod
    def from_env(cls) -> IndexTtsSettings:
        """INDEXTTS_MODEL_DIR (required), INDEXTTS_MODEL, INDEXTTS_PROFILE, INDEXTTS_MAX_MEL_TOKENS,
        INDEXTTS_FAST_STEPS, INDEXTTS_PRECISION, INDEXTTS_DECODE."""
        env = os.environ
        return cls(model_dir=Path(env["INDEXTTS_MODEL_DIR"]), model=primary_model(),
                   profile=env.get("INDEXTTS_PROFILE", "fast"),  # type: ignore[arg-type]
                   max_mel_tokens=int(env.get("INDEXTTS_MAX_MEL_TOKENS", "1500")),
                   fast_diffusion_steps=int(env.get("INDEXTTS_FAST_STEPS", "10")),
                   precision=env.get("INDEXTTS_PRECISION", "auto"),
                   decode=env.get("INDEXTTS_DECODE", "static"))

    @property
    def hub_cache(self) -> Path:
        return self.hf_hub_cache or self.model_dir.parent / "hf_cache"

    def generation(self, profile: Profile) -> dict[str, Any]:
        """What one request runs with: infer() kwargs plus the s2mel settings the hook applies."""
        if profile == "quality":
            beams, steps, cfg = OFFICIAL["num_beams"], OFFICIAL["diffusion_steps"], OFFICIAL["cfg_rate"]
        else:
            beams, steps, cfg = self.fast_num_beams, self.fast_diffusion_steps, self.fast_cfg_rate
        return {"num_beams": int(beams), "diffusion_steps": int(steps), "cfg_rate": float(cfg),
                "max_mel_tokens": self.max_mel_tokens}
