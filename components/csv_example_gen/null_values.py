"""The `null_values` setting: which whole-cell tokens mean "no value".

One home for the format, shared by the component (which stores it as an exec
property), the executor (which reads it back) and `tfx-prod init` (which
takes it from `--null-values`). Accepted forms:

  * a list of strings: `["NA", "null"]`, each kept verbatim;
  * a JSON list in a string: `'["NA", "N/A"]'` (the exec property's form; use
    it for a token that contains a comma or surrounding spaces);
  * a comma-separated string: `"NA,null, N/A"`, each entry stripped of
    surrounding spaces.

Empty tokens are dropped: an empty cell is already "no value". Order is kept
and duplicates removed, so equal settings serialize equally (one cache key).
"""
import json
from typing import Iterable, Optional, Union

NullValues = Union[None, str, Iterable[str]]


def parse(value: NullValues) -> tuple[str, ...]:
    """Any accepted form -> the tokens, in order, without duplicates."""
    if value is None:
        return ()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                decoded = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"null_values {value!r} starts with '[' but is not a JSON "
                    f"list ({error}); write it as [\"NA\", \"null\"] or as "
                    f"NA,null") from None
            if not isinstance(decoded, list) or not all(
                    isinstance(token, str) for token in decoded):
                raise ValueError(f"null_values {value!r}: a JSON list of "
                                 f"strings is expected, e.g. [\"NA\", \"null\"]")
            tokens: Iterable[str] = decoded
        else:
            tokens = (token.strip() for token in text.split(","))
    else:
        tokens = list(value)
        bad = [token for token in tokens if not isinstance(token, str)]
        if bad:
            raise ValueError(f"null_values must be strings; got {bad!r} (quote "
                             f"them in YAML: a bare null or NA may not be read "
                             f"as text)")
    return tuple(dict.fromkeys(token for token in tokens if token))


def encode(value: NullValues) -> Optional[str]:
    """The exec property: a JSON list, or None when there are no tokens (so a
    CsvExampleGen without null values has exactly TFX's exec properties)."""
    tokens = parse(value)
    return json.dumps(list(tokens)) if tokens else None
