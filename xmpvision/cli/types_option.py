"""The `-m labels,caption` option shared by the vision commands."""

from __future__ import annotations

from typing import Annotated

import typer

from xmpvision.config.models import SUPPORTED_TYPES


def parse_types(value: str) -> list[str]:
    types = [t.strip().lower() for t in value.split(",") if t.strip()]
    unknown = [t for t in types if t not in SUPPORTED_TYPES]
    if unknown or not types:
        raise typer.BadParameter(
            f"unknown model type {', '.join(unknown) or value!r}; allowed: "
            f"{', '.join(SUPPORTED_TYPES)}"
        )
    return list(dict.fromkeys(types))


TypesOption = Annotated[
    str,
    typer.Option("-m", "--models",
                 help=f"Model types, comma-separated: {', '.join(SUPPORTED_TYPES)}."),
]
