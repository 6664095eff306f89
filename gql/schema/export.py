"""Write the served SDL to gql/schema/schema.graphql: python -m gql.schema.export"""
from __future__ import annotations

from pathlib import Path

from gql.schema import schema

SDL_FILE = Path(__file__).resolve().parent / "schema.graphql"


def sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":
    SDL_FILE.write_text(sdl(), encoding="utf-8")
    print(f"wrote {SDL_FILE}")
