"""The GPT's sampling decode written for one sequence on CPU, in place of transformers' generate().

generate() spends a third of each decoding step outside the weights' reads: it grows the KV cache by
concatenation (a copy of the whole cache per layer per step), builds masks and position ids, runs four
logits processors over the whole vocabulary and its own bookkeeping in Python. Here, for the case the
engine runs (one sequence, sampling, one beam, no extra processors), a step is the 24 blocks' own
operations over a KV cache allocated once, scaled dot-product attention over its filled part, and a
sampler that reduces to the top-k candidates first.

The arithmetic is generate()'s, in the same order: the same modules (layer norms, the packed or plain
linears, the activation), the same positions (the inference model's own off-by-one included), the
repetition penalty over every id of the sequence, then temperature, top-k and top-p as transformers'
warpers apply them. tests/heavy checks it: with top_k=1 both produce the same codes, and each step's
logits agree with generate()'s; the sampler's distribution equals the warpers'. Anything else (beams,
a batch, a padded prompt, typical sampling) goes to generate() unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

TANH_GELUS = ("gelu_new", "gelu_pytorch_tanh")  # transformers' names for GELU's tanh approximation (2.0, 2.5)


@dataclass
class DecodeStats:
    """What the decodes since the last reset did, for logs and the bench: prompts' forward passes, then steps."""

    prefill_s: float = 0.0
    steps: int = 0
    steps_s: float = 0.0  # every step: the blocks, the head and the sampler
    steps_cpu_s: float = 0.0  # the process's CPU time over the steps (all threads)
    fallback: str = ""  # why generate() last ran instead ("" when this decoder ran every time)


def candidates(logits: Any, seen: Any, *, penalty: float, temperature: float, top_k: int,
               top_p: float) -> tuple[Any, Any]:
    """(ids, probabilities) that transformers' repetition penalty, temperature, top-k and top-p warpers
    (in that order) leave of `logits` (1, vocab), reduced to the top-k candidates first: the only ones
    the warpers can keep. `seen` (1, vocab) marks the ids already in the sequence."""
    import torch

    if penalty != 1.0:
        logits = torch.where(seen, torch.where(logits < 0, logits * penalty, logits / penalty), logits)
    if temperature != 1.0:
        logits = logits / temperature
    values, ids = torch.topk(logits, min(top_k, logits.shape[-1]) if top_k > 0 else logits.shape[-1])
    probs = torch.softmax(values, dim=-1)
    if top_p < 1.0:
        # top-p drops a candidate when the more likely ones before it already reach top_p
        # (transformers: ascending cumulative sum <= 1 - top_p); the most likely one always stays.
        before = torch.cumsum(probs, dim=-1) - probs
        probs = probs.masked_fill(before >= top_p, 0.0)
        probs = probs / probs.sum(dim=-1, keepdim=True)
    return ids, probs


def sample_top(logits: Any, seen: Any, *, penalty: float, temperature: float, top_k: int, top_p: float) -> Any:
    """One id (1, 1) drawn from candidates()."""
    import torch

    ids, probs = candidates(logits, seen, penalty=penalty, temperature=temperature, top_k=top_k, top_p=top_p)
    return ids.gather(-1, torch.multinomial(probs, 1))


class StaticKvDecoder:
    """Decodes GPT2InferenceModel's codes for one sequence; `generate` has generate()'s signature."""

    def __init__(self, inference_model: Any, generate: Callable[..., Any]) -> None:
        self.model = inference_model
        self._generate = generate  # the original, for what this decoder does not cover
        config = inference_model.config
        self.heads = int(config.n_head)
        self.width = int(config.n_embd)
        self.stats = DecodeStats()
        self._cache: tuple[Any, Any] | None = None  # (keys, values): (layers, heads, capacity, head dim)
        self._unsupported = ", ".join(name for name, ok in (
            ("scale_attn_by_inverse_layer_idx", not getattr(config, "scale_attn_by_inverse_layer_idx", False)),
            ("reorder_and_upcast_attn", not getattr(config, "reorder_and_upcast_attn", False)),
            ("scale_attn_weights off", getattr(config, "scale_attn_weights", True)),
            ("add_cross_attention", not getattr(config, "add_cross_attention", False)),
            (f"activation {config.activation_function}", config.activation_function in TANH_GELUS)) if not ok)

    # ---- the route ---------------------------------------------------------------------------------------
    def generate(self, inputs: Any, **kwargs: Any) -> Any:
        why = self._why_not(inputs, kwargs)
        if why:
            self.stats.fallback = why
            return self._generate(inputs, **kwargs)
        return self.decode(inputs, max_length=int(kwargs["max_length"]), eos=int(kwargs["eos_token_id"]),
                           penalty=float(kwargs.get("repetition_penalty") or 1.0),
                           temperature=float(kwargs.get("temperature") or 1.0),
                           top_k=int(kwargs.get("top_k") or 0), top_p=float(kwargs.get("top_p") or 1.0),
                           stopping_criteria=kwargs.get("stopping_criteria"))

    def _why_not(self, inputs: Any, kwargs: dict[str, Any]) -> str:
        known = {"bos_token_id", "pad_token_id", "eos_token_id", "attention_mask", "max_length", "logits_processor",
                 "num_return_sequences", "do_sample", "top_p", "top_k", "temperature", "length_penalty", "num_beams",
                 "repetition_penalty", "stopping_criteria"}
        mask = kwargs.get("attention_mask")
        checks = (
            (self._unsupported, self._unsupported),
            (", ".join(sorted(set(kwargs) - known)), f"arguments {', '.join(sorted(set(kwargs) - known))}"),
            (not kwargs.get("do_sample"), "greedy search"),
            ((kwargs.get("num_beams") or 1) != 1, "beam search"),
            ((kwargs.get("num_return_sequences") or 1) != 1 or inputs.shape[0] != 1, "more than one sequence"),
            (len(kwargs.get("logits_processor") or ()) > 0, "extra logits processors"),
            (mask is not None and not bool(mask.all()), "a padded prompt"),
            (self.model.cached_mel_emb is None or self.model.cached_mel_emb.shape[1] != inputs.shape[1] - 1,
             "a prompt that is not [conditioning][text][start]"),
        )
        return next((why for failed, why in checks if failed), "")

    # ---- the decode --------------------------------------------------------------------------------------
    def decode(self, inputs: Any, *, max_length: int, eos: int, penalty: float, temperature: float, top_k: int,
               top_p: float, stopping_criteria: Any = None) -> Any:
        """inputs (1, prompt) -> (1, prompt + new codes), the last one `eos` unless max_length stopped it."""
        import torch

        model = self.model
        prompt = inputs.shape[1]
        mel_len = prompt - 1  # the conditioning and text embeddings; the start code follows
        new_tokens = max(0, max_length - prompt)
        ids = torch.empty(1, prompt + new_tokens, dtype=torch.long)
        ids[:, :prompt] = inputs
        seen = torch.zeros(1, model.lm_head[-1].out_features, dtype=torch.bool)
        seen[0, inputs[0]] = True
        with torch.no_grad():
            started = time.perf_counter()
            start = model.embeddings(inputs[:, mel_len:])
            emb = torch.cat([model.cached_mel_emb, start + model.text_pos_embedding(start)], dim=1)
            logits = self._forward(emb, 0, capacity=prompt + new_tokens)
            self.stats.prefill_s += time.perf_counter() - started
            length = prompt
            positions = model.text_pos_embedding.emb.weight
            steps_started, steps_cpu = time.perf_counter(), time.process_time()
            while length < prompt + new_tokens:
                token = sample_top(logits, seen, penalty=penalty, temperature=temperature, top_k=top_k, top_p=top_p)
                ids[:, length] = token[:, 0]
                seen[0, token[0, 0]] = True
                length += 1
                if stopping_criteria is not None and _stop(stopping_criteria, ids[:, :length], logits):
                    break
                if int(token) == eos or length == prompt + new_tokens:
                    break
                # generate()'s position for the code at index i is i + 1 - mel_len (the first code gets 2)
                emb = model.embeddings(token) + positions[length - mel_len]
                logits = self._forward(emb, length - 1)
                self.stats.steps += 1
            self.stats.steps_s += time.perf_counter() - steps_started
            self.stats.steps_cpu_s += time.process_time() - steps_cpu
        return ids[:, :length]

    def score(self, inputs: Any, codes: Any) -> Any:
        """Teacher-forced: the logits (n, vocab) that predict each of `codes` (1, n) after `inputs`, through
        the same steps decode() takes (the fidelity bench measures a precision on this path)."""
        import torch

        model = self.model
        mel_len = inputs.shape[1] - 1
        positions = model.text_pos_embedding.emb.weight
        with torch.no_grad():
            start = model.embeddings(inputs[:, mel_len:])
            logits = [self._forward(torch.cat([model.cached_mel_emb, start + model.text_pos_embedding(start)], 1),
                                    0, capacity=inputs.shape[1] + codes.shape[1])]
            for j in range(codes.shape[1] - 1):
                at = inputs.shape[1] + j
                emb = model.embeddings(codes[:, j:j + 1]) + positions[at + 1 - mel_len]
                logits.append(self._forward(emb, at))
        return torch.cat(logits)

    def _forward(self, emb: Any, at: int, capacity: int = 0) -> Any:
        """emb (1, T, width) at positions at..at+T-1 through the blocks; the last position's logits.
        Rows stay 2-D (T, width); packed layers hand their bf16 output straight to the next one."""
        import torch

        blocks = self.model.transformer.h
        heads, width = self.heads, self.width
        head_dim = width // heads
        if capacity:
            shape = (len(blocks), heads, capacity, head_dim)
            self._cache = (torch.empty(shape, dtype=emb.dtype), torch.empty(shape, dtype=emb.dtype))
        assert self._cache is not None
        keys, values = self._cache
        steps = emb.shape[1]
        end = at + steps
        x = emb[0]
        for layer, block in enumerate(blocks):
            attn, mlp = block.attn, block.mlp
            qkv = _linear(attn.c_attn, block.ln_1(x)).to(x.dtype)
            q, k, v = qkv.view(steps, 3, heads, head_dim).permute(1, 2, 0, 3)
            keys[layer, :, at:end] = k
            values[layer, :, at:end] = v
            y = torch.nn.functional.scaled_dot_product_attention(
                q[None], keys[layer:layer + 1, :, :end], values[layer:layer + 1, :, :end], is_causal=steps > 1)
            x = x + _linear(attn.c_proj, y[0].transpose(0, 1).reshape(steps, width))
            x = x + _linear(mlp.c_proj, _linear(mlp.c_fc, block.ln_2(x), gelu=True))
        hidden = self.model.transformer.ln_f(x[-1:])
        return self.model.lm_head(hidden).float()


def _linear(module: Any, x: Any, gelu: bool = False) -> Any:
    """A linear layer over rows x, its output in the layer's compute format; gelu = GELU's tanh
    approximation (TANH_GELUS), fused where the layer is packed."""
    import torch

    project = getattr(module, "project", None)
    if project is not None:
        return project(x, gelu)
    y = module(x)
    return torch.nn.functional.gelu(y, approximate="tanh") if gelu else y


def _stop(criteria: Any, ids: Any, scores: Any) -> bool:
    import torch

    return bool(torch.as_tensor(criteria(ids, scores)).all())


def install(inference_model: Any) -> StaticKvDecoder:
    """inference_model.generate routed through a StaticKvDecoder (this instance only)."""
    decoder = StaticKvDecoder(inference_model, inference_model.generate)
    inference_model.generate = decoder.generate
    return decoder
