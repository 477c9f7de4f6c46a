"""``perlinsos demo --training``: a facilitator class (Bimtek TOT) on a training pilot.

Beside the demo's pilot, a training pilot (:data:`CODE`, :mod:`perlinsos.pilots.training`) on the
same simulators; each participant is a facilitator of one synthetic household's village, paired
with that household's head: the card says what to type on the IKD simulator's sign-in (the
facilitator's staff id; the citizen's NIK), so the class practises assisted registration, informing
and appeals end to end on made-up people. Reset between classes: ``perlinsos pilot reset-training``.
"""

from __future__ import annotations

import copy
import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

CODE = "LATIHAN-DEMO"


@dataclass(frozen=True)
class Card:
    seat: int
    facilitator: str  # staff id typed on the simulator's sign-in page
    citizen_nik: str  # the synthetic citizen's NIK (typed on the same page, as the citizen)
    citizen_name: str
    village_code: str
    village: str


def training_pilot_data(data: dict[str, Any]) -> dict[str, Any]:
    """The demo pilot's data (on the demo's simulator ports) as a training pilot."""
    training = copy.deepcopy(data)
    training |= {"code": CODE, "name": f"LATIHAN — {data['name']}", "training": True}
    return training


def class_people(ikd_url: str, size: int, region: str) -> list[dict[str, Any]]:
    """``size`` household heads of the synthetic population in ``region`` (the simulator's /sim/people)."""
    response = httpx.get(f"{ikd_url}/sim/people", params={"limit": size, "role": "HEAD", "region": region},
                         timeout=10)
    response.raise_for_status()
    return response.json()["people"]


async def seat_class(settings, plugins, *, ikd_url: str, issuer: str, size: int, region: str) -> list[Card]:
    """Assign one facilitator per seat (their household's village, in the training pilot) and
    return the cards. Idempotent: an assignment already there is kept."""
    from perlinsos.db.engine import Database
    from perlinsos.identity import staff

    people = class_people(ikd_url, size, region)
    cards = [Card(seat=i, facilitator=f"latihan-{i:02d}", citizen_nik=p["nik"], citizen_name=p["name"],
                  village_code=p["region_code"], village=p.get("village") or p["region_code"])
             for i, p in enumerate(people, 1)]
    db = Database(settings.database_url)
    try:
        async with db.write() as session:
            for card in cards:  # assigning twice changes nothing (a second demo run on the same database)
                await staff.assign(session, None, subject=card.facilitator, role="FACILITATOR",
                                   region_code=card.village_code, issuer=issuer, plugins=plugins,
                                   pilot_code=CODE, name=f"Peserta latihan {card.seat}")
    finally:
        await db.dispose()
    return cards


def write_cards(cards: list[Card], path: Path, *, sign_in_url: str) -> Path:
    """The sign-in cards as CSV (one row a seat), or as a PDF of cards when ``path`` ends in .pdf."""
    if path.suffix.lower() == ".pdf":
        path.write_bytes(_pdf(cards, sign_in_url))
        return path
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["seat", "pilot", "facilitator_staff_id", "citizen_nik", "citizen_name", "village_code",
                    "village", "sign_in"])
        for c in cards:
            w.writerow([c.seat, CODE, c.facilitator, c.citizen_nik, c.citizen_name, c.village_code, c.village,
                        sign_in_url])
    return path


def _pdf(cards: list[Card], sign_in_url: str) -> bytes:
    from fpdf import FPDF

    def latin1(text: str) -> str:
        return text.encode("latin-1", "replace").decode("latin-1")

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    for i, c in enumerate(cards):
        if i % 4 == 0:
            pdf.add_page()
        y = 12 + (i % 4) * 70
        pdf.rect(10, y, 190, 64)
        pdf.set_xy(14, y + 4)
        pdf.set_font("Helvetica", "B", 13)
        pdf.cell(0, 7, latin1(f"LATIHAN - kartu masuk no. {c.seat} ({CODE})"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 11)
        for line in (f"Masuk di simulator IKD: {sign_in_url}",
                     f"Sebagai pendamping, ketik staff_id: {c.facilitator}",
                     f"Sebagai warga latihan, ketik NIK: {c.citizen_nik} ({c.citizen_name})",
                     f"Desa: {c.village} ({c.village_code})",
                     "Semua data sintetis; tidak ada orang sungguhan."):
            pdf.set_x(14)
            pdf.cell(0, 8, latin1(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
