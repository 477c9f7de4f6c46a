"""The capacity model of docs/capacity.md: processes and PostgreSQL cores for a regency of 2 million
people, the 40 largest regencies, and the whole country, from the per-process rates the
benchmarks measured. Run it after re-measuring; paste its output into docs/capacity.md.

    .venv/bin/python tools/capacity/model.py            # the tables (Markdown)
    .venv/bin/python tools/capacity/model.py --json     # the same numbers as JSON

Every measured input names the benchmark command that gives it (MEASURED); every assumption about
demand says where it comes from (DEMAND). Population per regency: the platform's copy of the
Kemendagri data (platform/perlinsos/data, MIT).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "platform" / "perlinsos" / "data" / "population_indonesia.csv"


@dataclass(frozen=True)
class Measured:
    value: float
    unit: str
    command: str


REGISTER_CPU = 12.6  # bench/register.py on PostgreSQL, quiet machine (SQLite: 17.6)

#: Per-process figures on this machine kind (2 cores; bench/README.md gives the load during each
#: run). Application CPU is the benchmark's "cpu ms/…" of the platform process; database CPU the
#: PostgreSQL backends' (bench/selection.py and bench/notify.py read it from /proc).
MEASURED: dict[str, Measured] = {
    "register_cpu_ms": Measured(
        REGISTER_CPU, "ms app CPU per registerHousehold (PostgreSQL, quiet machine)",
        ".venv/bin/python bench/register.py --database-url postgresql://postgres@127.0.0.1:5432/postgres"),
    "register_db_ms": Measured(
        2.05, "ms PostgreSQL backend CPU per registration (/proc during the platform's rounds; the baseline's: 1.57)",
        ".venv/bin/python bench/register.py --seconds 4 --max-registrations 400 --database-url "
        "postgresql://postgres@127.0.0.1:5432/postgres"),
    "select_app_ms_per_1k": Measured(
        345.0, "ms app CPU per 1,000 registrations selected (PostgreSQL, quiet machine)",
        ".venv/bin/python bench/selection.py --sizes 20000,100000 --rounds 3 --database-url "
        "postgresql://postgres@127.0.0.1:5432/postgres"),
    "select_db_ms_per_1k": Measured(
        206.0, "ms PostgreSQL backend CPU per 1,000 registrations selected (same run, /proc)",
        ".venv/bin/python bench/selection.py --sizes 20000,100000 --rounds 3 --database-url "
        "postgresql://postgres@127.0.0.1:5432/postgres"),
    "notify_app_ms": Measured(
        1.8, "ms app CPU per SMS sent (PostgreSQL, quiet machine; 1.71-1.83 in three runs)",
        ".venv/bin/python bench/notify.py --n 4000 --database-url postgresql://postgres@127.0.0.1:5432/postgres"),
    "notify_db_ms": Measured(
        0.13, "ms PostgreSQL backend CPU per SMS (claims and grouped result writes; /proc during the platform's rounds)",
        ".venv/bin/python bench/notify.py --n 1000 --database-url postgresql://postgres@127.0.0.1:5432/postgres"),
    "me_app_ms": Measured(
        3.6, "ms app CPU per citizen `me` with decision and reasons, token verified (PostgreSQL, quiet machine)",
        ".venv/bin/python bench/load.py --only me --seconds 12 --rounds 4 --readers 60 --database-url "
        "postgresql://postgres@127.0.0.1:5432/postgres"),
    "me_db_ms": Measured(
        0.44, "ms PostgreSQL backend CPU per `me` (/proc during the platform's rounds; the baseline's: 0.11-0.15)",
        ".venv/bin/python bench/load.py --only me --seconds 4 --rounds 2 --readers 20 --database-url "
        "postgresql://postgres@127.0.0.1:5432/postgres"),
}

#: Demand: what the rollout asks of the system, with the source of each figure.
DEMAND = {
    "persons_per_family": (285.57 / 93.03, "DTSEN: 285.57M individuals, 93.03M families (DOMAIN.md)"),
    "registered_share": (350_000 / (1_791_789 / (285.57 / 93.03)),
                         "Banyuwangi: >350,000 families registered of 1,791,789 people (DOMAIN.md, data/)"),
    "surge_per_day": (16_000, "Banyuwangi peak: about 16,000 registrations a day (DOMAIN.md)"),
    "surge_peak_hour_share": (0.20, "assumed: a fifth of a day's registrations in its busiest hour "
                                    "(facilitators work ~8 hours, bunched mornings)"),
    "selection_hours": (1.0, "issue 17: a selection run per regency within an hour"),
    "notify_hours": (24.0, "issue 17: everyone notified within a day"),
    "gateway_msg_s": (500.0, "assumed SMS gateway (aggregator) rate per account; the dispatcher is "
                             "never the limit below it (bench/notify.py)"),
    "announce_share": (0.5, "assumed: half of the registrants open the portal on announcement day"),
    "announce_requests": (3.0, "assumed: `me` with decision and reasons, `me.notifications`, one more"),
    "announce_peak_hours": (2.0, "assumed: the first 2 hours carry 40% of the day's visits"),
    "announce_peak_share": (0.40, "assumed, with announce_peak_hours"),
    "cpu_target": (0.6, "plan processes at 60% CPU: headroom for bursts and a failed machine"),
    "cores_per_process": (1.0, "one Python process uses one core (GIL)"),
}


@dataclass(frozen=True)
class Scope:
    name: str
    people: int
    regions: int  # regencies/cities that run at the same time


def scopes() -> list[Scope]:
    rows = [r for r in csv.DictReader(DATA.open(encoding="utf-8")) if r["code"].count(".") == 1]
    people = sorted((int(r["total"]) for r in rows), reverse=True)
    return [Scope("one regency of 2 million", 2_000_000, 1),
            Scope(f"the 40 largest regencies/cities ({sum(people[:40]) / 1e6:.1f}M people)", sum(people[:40]), 40),
            Scope(f"the country ({len(people)} regencies/cities, {sum(people) / 1e6:.1f}M people)", sum(people),
                  len(people))]


def model() -> list[dict]:
    m = {k: v.value for k, v in MEASURED.items()}
    d = {k: v for k, (v, _) in DEMAND.items()}
    out = []
    for s in scopes():
        families = s.people / d["persons_per_family"]
        registrations = families * d["registered_share"]
        usable = d["cpu_target"]
        # registration surge: every region of the scope at its peak day at once (worst case)
        reg_per_s = s.regions * d["surge_per_day"] * d["surge_peak_hour_share"] / 3600
        reg_api = reg_per_s * m["register_cpu_ms"] / 1000 / usable
        reg_db = reg_per_s * m["register_db_ms"] / 1000 / usable
        # selection: every registration of the scope decided within the hour
        sel_per_s = registrations / (d["selection_hours"] * 3600)
        sel_workers = sel_per_s * m["select_app_ms_per_1k"] / 1e6 / usable
        sel_db = sel_per_s * m["select_db_ms_per_1k"] / 1e6 / usable
        # notification: one SMS per registration within a day, capped by the gateway
        msg_per_s = registrations / (d["notify_hours"] * 3600)
        gateways = msg_per_s / d["gateway_msg_s"]
        dispatchers = msg_per_s * m["notify_app_ms"] / 1000 / usable
        notify_db = msg_per_s * m["notify_db_ms"] / 1000 / usable
        # announcement day: the peak hours' share of the visits
        visits = registrations * d["announce_share"] * d["announce_requests"]
        read_per_s = visits * d["announce_peak_share"] / (d["announce_peak_hours"] * 3600)
        read_api = read_per_s * m["me_app_ms"] / 1000 / usable
        read_db = read_per_s * m["me_db_ms"] / 1000 / usable
        out.append({
            "scope": s.name, "families": families, "registrations": registrations,
            "registration": {"per_s": reg_per_s, "api_processes": reg_api, "db_cores": reg_db},
            "selection": {"per_s": sel_per_s, "workers": sel_workers, "db_cores": sel_db},
            "notification": {"per_s": msg_per_s, "gateway_accounts": gateways, "dispatchers": dispatchers,
                             "db_cores": notify_db},
            "announcement": {"per_s": read_per_s, "api_processes": read_api, "db_cores": read_db},
        })
    return out


def _n(x: float) -> str:
    return f"{math.ceil(x):,}" if x >= 1 else f"1 ({x:.2f})"


def markdown(rows: list[dict]) -> str:
    lines = ["| load | scope | demand | processes (at 60% CPU) | PostgreSQL cores |", "|---|---|---|---|---|"]
    for r in rows:
        fam = f"{r['registrations'] / 1e6:.2f}M registrations ({r['families'] / 1e6:.2f}M families)"
        lines.append(f"| — | {r['scope']} | {fam} | | |")
        g = r["registration"]
        lines.append(f"| registration surge | | {g['per_s']:,.1f}/s | {_n(g['api_processes'])} API | "
                     f"{g['db_cores']:.2f} |")
        g = r["selection"]
        lines.append(f"| selection in 1 h | | {g['per_s']:,.0f} reg/s | {_n(g['workers'])} selection workers | "
                     f"{g['db_cores']:.2f} |")
        g = r["notification"]
        lines.append(f"| SMS to all in 24 h | | {g['per_s']:,.0f} msg/s | {_n(g['dispatchers'])} dispatchers, "
                     f"{_n(g['gateway_accounts'])} gateway accounts at {DEMAND['gateway_msg_s'][0]:.0f}/s | "
                     f"{g['db_cores']:.2f} |")
        g = r["announcement"]
        lines.append(f"| announcement-day peak | | {g['per_s']:,.0f} req/s | {_n(g['api_processes'])} API | "
                     f"{g['db_cores']:.2f} |")
    inputs = ["", "Measured inputs:", ""] + [f"- `{k}` = {v.value:g} {v.unit} — `{v.command}`"
                                            for k, v in MEASURED.items()]
    demand = ["", "Demand:", ""] + [f"- `{k}` = {v:.4g} — {why}" for k, (v, why) in DEMAND.items()]
    return "\n".join(lines + inputs + demand)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    rows = model()
    print(json.dumps(rows, indent=2) if parser.parse_args().json else markdown(rows))


if __name__ == "__main__":
    main()
