"""Another program editing a sidecar: for each round it is told about, it waits for
xmpvision's temp file to appear and then at once replaces the sidecar the way editors do (read,
change, write a file of its own, rename over), putting the keyword `edit-<round>` in
dc:subject in place of the previous round's. It answers "hit" when it saw the temp file, "miss"
when it never did.

Run as `python race_editor.py SIDECAR TEMP`; reads round numbers from stdin, one a line.
"""

from __future__ import annotations

import os
import re
import sys
import time


def edit(sidecar: str, word: str) -> None:
    with open(sidecar, encoding="utf-8") as handle:
        text = handle.read()
    text = re.sub(r"<rdf:li>edit-\d+</rdf:li>", "", text)
    at = text.index("<rdf:Bag>", text.index("<dc:subject")) + len("<rdf:Bag>")
    changed = text[:at] + f"<rdf:li>{word}</rdf:li>" + text[at:]
    mine = sidecar + ".editor"
    with open(mine, "w", encoding="utf-8") as handle:
        handle.write(changed)
    os.replace(mine, sidecar)


def main() -> None:
    sidecar, temp = sys.argv[1], sys.argv[2]
    for line in sys.stdin:
        round_no = line.strip()
        print("armed", flush=True)
        deadline = time.monotonic() + 2.0
        seen = False
        while time.monotonic() < deadline:
            if os.path.lexists(temp):
                seen = True
                break
        edit(sidecar, f"edit-{round_no}")
        print("hit" if seen else "miss", flush=True)


if __name__ == "__main__":
    main()
