"""Text that is safe to show in a terminal: control characters and escape sequences removed.

Article text comes from anywhere. `ESC[2J`, colour codes or an OSC sequence that sets the
window title, inside an article, would act on the terminal of whoever reads the answer.
Ingest removes them from the text it stores (keeping line breaks and tabs), and the CLI passes
everything it prints through `printable` as well, for names and older indexes.
"""

from __future__ import annotations

import re

_SEQUENCES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, ESC[2J (ECMA-48)
    # OSC, DCS, SOS, PM, APC strings, up to their terminator (or the end of the line)
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"  # every other escape sequence (ESC c resets the terminal)
)
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # C0 but tab and line ends, DEL, C1
_LINE_ENDS = re.compile(r"\r\n?|[\x0b\x0c]")
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # anything the above would change


def printable(text: str) -> str:
    """The text without escape sequences and control characters; line breaks (\\r\\n, \\r,
    vertical tab and form feed become \\n) and tabs are kept."""
    if not _UNSAFE.search(text):  # the usual case, decided in one pass
        return text
    return _CONTROLS.sub("", _LINE_ENDS.sub("\n", _SEQUENCES.sub("", text)))
