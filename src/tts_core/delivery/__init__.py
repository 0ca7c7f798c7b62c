"""Audio delivery, after synthesis: pure processing, no AWS (layer 0b).

`formats` names what can be delivered, `encode` writes it (whole buffers, or chunk by chunk for audio
of unbounded length), `mastering` brings it to a loudness profile and `loudness` measures it
(ITU-R BS.1770), `captions` times the text's sentences on the audio, `chapters` tags an MP3."""
