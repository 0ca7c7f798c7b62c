"""What delivery costs per audio minute, per format: encode time and bytes, and mastering time per
profile, on one minute of real speech (eSpeak NG, the offline engine, joined as a long text is), plus
the cold import of what delivery loads on first use (scipy through pyloudnorm), in fresh interpreters.

    .venv/bin/python bench/delivery_formats.py [--runs 5]

Prints one line per format (median CPU time of the runs: the work is single-threaded, and on a shared
machine wall time measures the neighbours) and one per profile. No target: the figures go in
docs/api.md's delivery section and the record step's memory and timeout in template.yaml.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from functools import partial

import numpy as np

from tts_core.audio import AudioContract, join_pcm
from tts_core.deadline import Deadline
from tts_core.delivery.encode import encode
from tts_core.delivery.formats import FORMATS, resolve
from tts_core.delivery.mastering import PROFILES, master
from tts_core.delivery.render import resample
from tts_core.engines.espeak import EspeakEngine
from tts_core.models import SynthesisRequest

RATE = 22050
SENTENCES = ["It was a bright cold day in April, and the clocks were striking thirteen.",
             "春眠不觉晓，处处闻啼鸟。", "The hallway smelt of boiled cabbage and old rag mats."]


def one_minute_of_speech() -> np.ndarray:
    engine, contract = EspeakEngine(), AudioContract(RATE)
    parts: list[np.ndarray] = []
    while sum(p.size for p in parts) < 60 * RATE:
        for text in SENTENCES:
            audio = engine.synthesize(SynthesisRequest(text=text), Deadline.in_seconds(30))
            parts.append(contract.conform(audio.samples, audio.sample_rate))
    return join_pcm(parts, RATE, 0.25)[: 60 * RATE]


def median_s(runs: int, work) -> float:
    """CPU seconds of the work (it runs on one thread): on a shared machine wall time measures the neighbours."""
    times = []
    for _ in range(runs):
        started = time.process_time()
        work()
        times.append(time.process_time() - started)
    return statistics.median(times)


def cold_import_s(module: str, runs: int) -> float:
    code = f"import numpy, time; s = time.process_time(); import {module}; print(time.process_time() - s)"
    return statistics.median(float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                                  text=True).stdout) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    pcm = one_minute_of_speech()
    minutes = pcm.size / RATE / 60
    print(f"one minute of eSpeak NG speech at {RATE} Hz, median of {args.runs} runs")
    for fmt in FORMATS:
        for mastering in ("default", "acx") if fmt == "mp3" else ("default",):
            options = resolve(fmt, RATE, None, mastering)
            audio = resample(pcm, RATE, options.sample_rate)
            data = encode(audio, options.sample_rate, fmt, options.bitrate_kbps)
            seconds = median_s(args.runs, partial(encode, audio, options.sample_rate, fmt, options.bitrate_kbps))
            kbps = f", {options.bitrate_kbps} kbps" if options.bitrate_kbps else ""
            print(f"  {fmt:<5} {options.sample_rate} Hz{kbps:<10}: encode {seconds / minutes * 1000:6.0f} ms CPU and "
                  f"{len(data) / minutes / 1e6:6.2f} MB per audio minute")
    for name, profile in PROFILES.items():
        rate = resolve(None, RATE, None, name).sample_rate
        audio = resample(pcm, RATE, rate)
        seconds = median_s(args.runs, partial(master, audio, rate, profile))
        print(f"  mastering {name:<9} at {rate} Hz: {seconds / minutes * 1000:6.0f} ms CPU per audio minute")
    loudnorm_s = cold_import_s("pyloudnorm", args.runs)
    print(f"  cold import after numpy, CPU: pyloudnorm (scipy.signal) {loudnorm_s * 1000:.0f} ms, "
          f"scipy.ndimage {cold_import_s('scipy.ndimage', args.runs) * 1000:.0f} ms, "
          f"mutagen.id3 {cold_import_s('mutagen.id3', args.runs) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
