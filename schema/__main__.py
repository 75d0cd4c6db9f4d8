"""`python -m schema` writes the committed SDL (schema/schema.graphql) from the code."""

from __future__ import annotations

from schema.root import SDL_PATH, print_sdl

if __name__ == "__main__":
    SDL_PATH.write_text(print_sdl())
    print(f"wrote {SDL_PATH}")
