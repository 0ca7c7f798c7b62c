"""What the engine changes on a loaded model, per instance (the class and other instances untouched):
the deadline checked inside inference, the profile's s2mel settings, the conditioning encoders memoized.

infer_v2 hard-codes `diffusion_steps = 25` and `inference_cfg_rate = 0.7` inside `infer_generator`; the
narrowest hook is the one call that receives them, `s2mel.models['cfm'].inference`. The deadline is
checked at every GPT decoding step (a stopping criterion that raises; the longest stage) and before each
s2mel call, so also between text segments."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tts_core.deadline import Deadline
from tts_core.engines.indextts.decode import StaticKvDecoder
from tts_core.engines.indextts.decode import install as install_decoder
from tts_core.errors import ModelUnavailableError


class DeadlineExceededError(Exception):
    """Raised inside the inference code by our hooks; the engine turns it into EngineTimeoutError."""


class RequestControls:
    """The deadline and s2mel settings (steps, CFG rate) of the request in progress, read by the hooks."""

    def __init__(self) -> None:
        self.deadline: Deadline | None = None
        self.s2mel: tuple[int, float] | None = None  # None: the code's own values (the official profile)

    @contextmanager
    def request(self, deadline: Deadline, s2mel: tuple[int, float] | None = None) -> Iterator[None]:
        self.deadline, self.s2mel = deadline, s2mel
        try:
            yield
        finally:
            self.deadline, self.s2mel = None, None

    def check_deadline(self) -> None:
        if self.deadline is not None and self.deadline.expired():
            raise DeadlineExceededError

    def stopping_criteria(self) -> Any:
        """For generate(): checks the deadline at every decoding step."""
        from transformers import StoppingCriteria, StoppingCriteriaList

        controls = self

        class _Deadline(StoppingCriteria):  # type: ignore[misc]
            def __call__(self, input_ids: Any, scores: Any, **_kw: Any) -> bool:
                controls.check_deadline()
                return False

        return StoppingCriteriaList([_Deadline()])


DECODES = ("static", "generate")


def install_hooks(model: Any, controls: RequestControls, decode: str) -> StaticKvDecoder | None:
    """The hooks below on `model`; with decode="static", the GPT's sampling decode routed through
    decode.StaticKvDecoder (returned, for its stats)."""
    if decode not in DECODES:
        raise ModelUnavailableError(f"IndexTTS misconfigured: decode must be one of {', '.join(DECODES)}, "
                                    f"not {decode!r}")
    cfm = model.s2mel.models["cfm"]
    original = cfm.inference

    def inference(mu: Any, x_lens: Any, prompt: Any, style: Any, f0: Any, n_timesteps: int,
                  temperature: float = 1.0, inference_cfg_rate: float = 0.5) -> Any:
        controls.check_deadline()
        if controls.s2mel is not None:
            n_timesteps, inference_cfg_rate = controls.s2mel
        return original(mu, x_lens, prompt, style, f0, n_timesteps, temperature,
                        inference_cfg_rate=inference_cfg_rate)

    cfm.inference = inference  # instance attribute: the class and other instances are untouched
    # The conformer encoders (~0.4 G parameters) turn a voice's w2v features into its GPT conditioning
    # and emotion vector at every segment; the inputs are the model's cached tensors for the voice.
    for name in ("get_conditioning", "get_emovec"):
        setattr(model.gpt, name, memoized(getattr(model.gpt, name)))
    return install_decoder(model.gpt.inference_model) if decode == "static" else None


def memoized(fn: Callable[..., Any], size: int = 8) -> Callable[..., Any]:
    """fn(tensors...) memoized on each tensor's storage, layout, version (and values when small, e.g.
    lengths). The entry holds the inputs, so their storage (the key) cannot be freed and reused."""
    cache: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()

    def key_of(x: Any) -> Any:
        if not hasattr(x, "untyped_storage"):
            return repr(x)
        if x.numel() <= 16:
            return ("values", tuple(x.flatten().tolist()), x.dtype)
        return (x.untyped_storage().data_ptr(), x.storage_offset(), tuple(x.shape), x.stride(), x.dtype, x._version)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = (tuple(key_of(a) for a in args), tuple((k, key_of(v)) for k, v in sorted(kwargs.items())))
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit[1]
        result = fn(*args, **kwargs)
        cache[key] = ((args, kwargs), result)
        while len(cache) > size:
            cache.popitem(last=False)
        return result

    return wrapper
