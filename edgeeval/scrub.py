"""The one scrubber for every string edgeeval stores, prints or reports (store, errors, logs).

Light on purpose (only `re`): the CLI's error path and the agent client use it without
loading the store.
"""

from __future__ import annotations

import re

SCRUBBED = "[scrubbed]"
_SECRET_WORDS = r"password|passwd|passphrase|token|secret|key_material|private_key|api_key|credentials?"
_SECRET_KEY = re.compile(rf"(^|[_\-.\s])({_SECRET_WORDS})($|[_\-.\s])")
# Free text (a command line, an error a board sent): `--password x`, `--db-token=x`, `password=x`,
# `token: x`, `scheme://user:pass@host`. Every quantifier is bounded or over disjoint classes and
# each match starts at a fixed anchor (a hyphen after a non-word character, a word boundary, "://"),
# so a substitution costs O(length of the text), whatever a hostile board sends (a 10 MB message
# is scrubbed in well under a second; tests/test_scrub.py). Flag names beyond 64 characters
# around the secret word are not recognised: no real flag is that long.
_SECRET_FLAG = re.compile(rf"(?i)(?<![\w-])(--?[\w-]{{0,64}}?(?:{_SECRET_WORDS})[\w-]{{0,64}}?(?:=|\s+))(\S+)")
_SECRET_KV = re.compile(rf"(?i)(\b(?:{_SECRET_WORDS})[ \t]{{0,8}}[=:][ \t]{{0,8}})(\S+)")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]{1,256}:)([^@\s/]{1,256})(@)")
# a language model's measurements speak of tokens: these phrases name figures, not credentials
_TOKEN_MEASURES = re.compile(r"(per|first|next)_token|token_(agreement|positions)")


def _is_secret_key(key: str) -> bool:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(key)).lower()
    return bool(_SECRET_KEY.search(_TOKEN_MEASURES.sub("", snake)))


MAX_TEXT = 65_536   # characters of one stored string; a longer one keeps its head and tail
_MAYBE_SECRET = re.compile(rf"(?i){_SECRET_WORDS}|://")


def _cut(text: str) -> str:
    """Head and tail of an overlong string, cut at whitespace so no half token (a key without its
    value, a value without its key) is left at either edge of the cut."""
    head, tail = text[:MAX_TEXT * 3 // 4], text[-MAX_TEXT // 8:]
    h, s = head.rfind(" "), tail.find(" ")
    head = head[:h] if h > 0 else ""
    tail = tail[s + 1:] if s >= 0 else ""
    return f"{head} [... {len(text) - len(head) - len(tail)} characters cut ...] {tail}"


def scrub_text(text: str | None) -> str | None:
    """Mask secret-looking values in free text (flags, key=value, URL passwords); strings over
    MAX_TEXT characters keep their head and tail. Linear time in the length of `text`."""
    if text is None:
        return None
    if len(text) > MAX_TEXT:
        text = _cut(text)
    if not _MAYBE_SECRET.search(text):
        return text
    text = _SECRET_FLAG.sub(lambda m: m.group(1) + SCRUBBED, text)
    text = _SECRET_KV.sub(lambda m: m.group(1) + SCRUBBED, text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + SCRUBBED + m.group(3), text)
