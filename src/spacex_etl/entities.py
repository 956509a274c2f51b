"""The three entity types the service collects: one name for them everywhere.

Extract, transform, load, the SQL they build, the API and the replay server all speak of an
entity type by this `Entity`; a misspelt name is a type error, not a missing dictionary key.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Entity = Literal["launches", "missions", "rockets"]

# In the order the data mart answers them.
ENTITIES: Final[tuple[Entity, ...]] = get_args(Entity)
