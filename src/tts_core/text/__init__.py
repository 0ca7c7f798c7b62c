"""The text front end (layer 0b: pure, no AWS; imports only the contract modules).

Every entry point (API, uploads, books) runs it before segmentation, so every engine is handed the same
words: an input kind (plain, SSML subset, Markdown) becomes a list of utterances (text, prosody, the pause
after, marks, source offsets), with lexicons and normalisation applied once, and languages no voice of the
request speaks refused."""
