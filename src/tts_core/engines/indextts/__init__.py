"""The primary engine: IndexTTS-2 on CPU, through its own inference code (`indextts.infer_v2.IndexTTS2`,
PyPI `indextts2-cli==1.0.2`, pinned in requirements-indextts.txt). Importing any module here imports no
torch: the light dev venv and the local stack use them too (there, `synthesize` raises
ModelUnavailableError).

- engine.py        IndexTtsEngine: load once per container, synthesize, prepare a voice; errors
- settings.py      IndexTtsSettings: profiles (`quality` = the official defaults, `fast` = 1 beam and
                   fewer diffusion steps without CFG), precision, what loads lazily
- environment.py   offline hub, /tmp caches, torch threads: set before the inference code is imported
- files.py         the files a load reads (checked, read ahead), the model's fingerprint
- precision.py     bf16 / int8 weight-only / fp32, chosen from the CPU's flags; packed layers
- loaders.py       the inference code's loaders replaced during construction (checked s2mel, w2v-bert
                   in the compute format, w2v-bert and the emotion model deferred to first use)
- hooks.py         the deadline and the profile's s2mel settings inside inference; memoized encoders
- conditioning.py  each voice's speaker conditioning kept in memory and in the VoiceStore
- weights.py       the image's weight packer (published files in, what inference reads out)
"""
