"""The suite's own templates (tests/conftest.py): a copied world is the world built in place, and a
write made before the world fixture hands it out is caught rather than silently stacked on it.

Why: the world is copied from a template built once per process; in place, a fixture that writes
before it (tests/test_as_of_snapshot.py's `kept`) wrote into an empty database. Copied first, the
same fixture writes on top of the world and the test runs over other data than it was written for;
only a check on what the fixture touched would notice. The world fixture now compares the copied
database's rows per table with the template's."""
from __future__ import annotations

import datetime as dt

import pytest

from db import models
from db.engine import make_sessionmaker
from tests.conftest import assert_template_untouched, row_counts


async def test_a_copied_world_is_untouched_and_a_write_is_seen(engine, world):
    counts = await row_counts(engine)
    assert counts["organization"] == len(world.orgs) and counts["member"] >= len(world.members)
    await assert_template_untouched(engine)  # as the world fixture found it

    async with make_sessionmaker(engine)() as session:  # what a fixture writing first would leave
        session.add(models.AuditEntry(at=dt.datetime.now(dt.timezone.utc), action="test", target_type="Test"))
        await session.commit()
    with pytest.raises(AssertionError, match="WORLD_FROM_TEMPLATE = False") as raised:
        await assert_template_untouched(engine)
    assert "'audit_entry': (" in str(raised.value)
