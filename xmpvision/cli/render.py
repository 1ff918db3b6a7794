"""Rendering rows as a table, JSON, Markdown, CSV or TSV. Only the CLI prints."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from xmpvision.text.untrusted import printable

if TYPE_CHECKING:
    from xmpvision.report import PhotoReport


class TableFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    MD = "md"
    CSV = "csv"
    TSV = "tsv"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, dict):
        return printable(", ".join(f"{k}={v}" for k, v in value.items()))
    return printable(str(value))


def render(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: TableFormat) -> str:
    if fmt is TableFormat.JSON:
        return json.dumps(list(rows), indent=2, ensure_ascii=False)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    header = [c.capitalize() for c in columns]
    if fmt in (TableFormat.CSV, TableFormat.TSV):
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="," if fmt is TableFormat.CSV else "\t",
                            lineterminator="\n")
        writer.writerow(header)
        writer.writerows(cells)
        return buffer.getvalue().rstrip("\n")
    if fmt is TableFormat.MD:
        def line(values: Sequence[str]) -> str:
            return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"
        return "\n".join([line(header), line(["---"] * len(header)), *map(line, cells)])
    return _plain_table(header, cells)


def _plain_table(header: list[str], cells: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
              for r in cells]
    return "\n".join(lines)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: TableFormat) -> None:
    if fmt is TableFormat.TABLE and sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        table = Table(*[c.capitalize() for c in columns])
        for row in rows:
            # Text, not str: a cell is never read as rich markup ("[/" in a model name).
            table.add_row(*[Text(_cell(row.get(c))) for c in columns])
        Console().print(table)
        return
    print(render(rows, columns, fmt))


def print_photo(report: PhotoReport) -> None:
    """A human-readable account of one photo's result."""
    record = report.to_dict()
    lines = [f"{record['path']}: {record['status']}"]
    if record["sidecar"]:
        lines.append(f"  sidecar: {record['sidecar']}")
    lines += [f"  {model_type} from {model}" for model_type, model in record["models"].items()]
    if record["title"] is not None:
        lines.append(f"  title: {record['title']}")
    if record["caption"] is not None:
        language = f" [{record['caption_language']}]" if record["caption_language"] else ""
        lines.append(f"  caption{language}: {record['caption']}")
    if record["labels"]:
        labels = ", ".join(f"{x['name']} ({x['confidence']:.0%})" for x in record["labels"])
        lines.append(f"  labels: {labels}")
    if record["error"]:
        lines.append(f"  error: {record['error']}")
    print("\n".join(printable(line) for line in lines))
