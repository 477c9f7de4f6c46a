"""A fact source and criterion for selection runs in a subprocess (``PERLINSOS_EXTRA_PLUGINS=
scale_criteria``): electricity derived from the NIK (so outcomes are mixed and the same on every
run), and a pause per chunk (``PERLINSOS_SCALE_FACT_DELAY`` seconds) so a test can kill the run
part-way through."""

from __future__ import annotations

import asyncio
import os
from datetime import date

from perlinsos import hookimpl
from perlinsos.contract import Fact

from fixtures.fixture_criteria import Electricity

NAME = "scale_criteria"
AS_OF = date(2025, 8, 1)


def electricity(nik: str) -> int:
    return (450, 900, 1300, 2200)[int(nik[-4:]) % 4]


@hookimpl
async def collect_facts(registrants, pilot):
    delay = float(os.environ.get("PERLINSOS_SCALE_FACT_DELAY") or 0)
    if delay:
        await asyncio.sleep(delay)  # a slow data source: the run spends its time here, between commits
    return [Fact(r.registration_id, "electricity_va", electricity(r.nik), "PLN", AS_OF) for r in registrants]


@hookimpl
def eligibility_criteria(programme, pilot):
    return [Electricity()]
