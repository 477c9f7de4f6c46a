"""The scripted demo: Portal Perlinsos's four stages, driven only through public HTTP interfaces —
the platform's ``/graphql`` and ``POST /evidence``, the IKD simulator (sign-in, its synthetic
population) and the SMS gateway simulator (what reached the phones). Each stage is one function,
so this file doubles as a walk-through of the API a portal, a facilitator's app or the national
office's console would use.

Console lines are a developer's summary, in English. What citizens receive (notifications and
their reasons) is shown as they get it, in Bahasa Indonesia, the platform's default language.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from perlinsos.registration.consent import SCOPES
from perlinsos.demo import ADMIN_SUBJECT
from perlinsos.idnumbers import mask_nik

PROGRAMME = "PKH"
POLICY_VERSION = "2025-08"
CITIZENS = 24  # heads of households 1..24 (household 0's head is left for the README's by-hand walk)
FACILITATOR, REVIEWER = "pendamping-demo", "verifikator-demo"
#: the smallest valid PDF: a scan of the PLN bill in a real appeal
BILL = b"%PDF-1.4\n% Tagihan listrik PLN: daya terpasang 900 VA\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


class DemoFailure(RuntimeError):
    """A step of the script did not get the answer it needed; the message says which."""

    def __init__(self, message: str, codes: tuple[str, ...] = ()):
        super().__init__(message)
        self.codes = codes


@dataclass(frozen=True)
class Regional:
    """Another regency's demo pilot (``perlinsos demo --pilot-region``)."""

    pilot: str  # e.g. JBR-DEMO
    region: str  # e.g. 35.09
    name: str  # e.g. Kabupaten Jember


@dataclass(frozen=True)
class Endpoints:
    api: str  # e.g. http://127.0.0.1:8600
    ikd: str
    sms: str
    pilot: str = "BWI-2025"
    region: str | None = None  # the pilot's regency: its citizens are taken from there
    regional: tuple[Regional, ...] = ()  # further pilots: one citizen of each registers and is selected


@dataclass
class Citizen:
    name: str
    nik: str
    region_code: str
    phone: str | None
    person: dict[str, Any]  # as the IKD simulator lists them (with what it knows of their data)
    token: str = ""
    channel: str = ""


@dataclass
class Summary:
    registered: Counter = field(default_factory=Counter)  # channel → registrations created now
    already: int = 0  # registered in an earlier demo run (same database)
    run: dict[str, Any] = field(default_factory=dict)
    inboxes: int = 0
    sms: list[dict[str, Any]] = field(default_factory=list)
    example: dict[str, Any] = field(default_factory=dict)
    appeal: dict[str, Any] = field(default_factory=dict)
    appellant: Citizen | None = None
    tokens: dict[str, str] = field(default_factory=dict)
    regional: list[dict[str, Any]] = field(default_factory=list)  # per further pilot: its citizen and run


class Client:
    """GraphQL and the simulators over HTTP; every refusal becomes a :class:`DemoFailure`."""

    def __init__(self, endpoints: Endpoints, timeout: float = 30):
        self.e = endpoints
        self.http = httpx.Client(timeout=timeout)

    def gql(self, query: str, variables: dict | None = None, *, token: str | None = None) -> dict[str, Any]:
        headers = {"X-Perlinsos-Pilot": self.e.pilot, "Accept-Language": "id"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.http.post(f"{self.e.api}/graphql", json={"query": query, "variables": variables or {}},
                                  headers=headers)
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
        if response.status_code != 200 or body.get("errors"):
            raise DemoFailure(f"GraphQL {response.status_code}: {body.get('errors') or response.text[:300]}")
        return body["data"]

    def mutate(self, query: str, variables: dict | None = None, *, token: str) -> dict[str, Any]:
        """A mutation whose payload reports refusals in ``errors`` (as every mutation here does)."""
        (payload,) = self.gql(query, variables, token=token).values()
        if payload["errors"]:
            raise DemoFailure("; ".join(f"{e['code']}: {e['message']}" for e in payload["errors"]),
                              tuple(e["code"] for e in payload["errors"]))
        return payload

    def sign_in(self, **who: Any) -> str:
        """IKD sign-in: ``nik=...`` for a citizen, ``staff_id=..., name=...`` for staff."""
        response = self.http.post(f"{self.e.ikd}/sim/sign-in", json=who)
        if response.status_code != 200:
            raise DemoFailure(f"IKD sign-in refused: {response.text[:200]}")
        return response.json()["access_token"]

    def people(self, **filters: Any) -> list[dict[str, Any]]:
        """The simulator's people (of the pilot's regency, when the endpoints name one)."""
        if self.e.region:
            filters.setdefault("region", self.e.region)
        return self.http.get(f"{self.e.ikd}/sim/people", params=filters).raise_for_status().json()["people"]

    def sms_received(self) -> list[dict[str, Any]]:
        return self.http.get(f"{self.e.sms}/sim/messages").raise_for_status().json()["messages"]


def wait_for(what: str, check, timeout: float = 60, every: float = 0.25):
    """Poll ``check`` until it returns something truthy (work the server does in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise DemoFailure(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# --- the cast ------------------------------------------------------------------------------------

ASSIGN = """mutation($s: String!, $r: StaffRole!, $region: String!, $p: String, $n: String) {
  assignStaff(input: {subject: $s, role: $r, regionCode: $region, pilot: $p, name: $n}) {
    assignment { id } errors { code message } } }"""


def choose_citizens(api: Client) -> tuple[list[Citizen], Citizen, Citizen]:
    """Household heads (the first ones are the simulator's showcase of each reason). One of them
    has electricity misrecorded at the source (a data error the IKD simulator plants: 2,200 VA on
    record, 900 VA really) and will appeal; another registers on a facilitator's phone."""
    heads = api.people(role="HEAD", offset=1, limit=CITIZENS)
    misrecorded = [p for p in api.people(role="HEAD", error="ELECTRICITY_MISRECORDED", limit=20)
                   if p["pkh_reasons"] == ["ELECTRICITY_ABOVE_LIMIT"] and not p["pkh_reasons_corrected"]]
    if not misrecorded:
        raise DemoFailure("the population has no household whose only problem is misrecorded electricity "
                          "(use --people 100 or more)")
    if misrecorded[0]["nik"] not in {p["nik"] for p in heads}:
        heads = [*heads[:-1], misrecorded[0]]
    citizens = [Citizen(p["name"], p["nik"], p["region_code"], p["phone"], p) for p in heads]
    appellant = next(c for c in citizens if c.nik == misrecorded[0]["nik"])
    assisted = next(c for c in reversed(citizens) if c is not appellant)
    return citizens, appellant, assisted


def set_up_staff(api: Client, admin: str, assisted: Citizen, appellant: Citizen) -> dict[str, str]:
    """The national office gives a facilitator the assisted citizen's village and a reviewer the
    appellant's district (assigning twice changes nothing, so re-runs are fine)."""
    api.mutate(ASSIGN, {"s": FACILITATOR, "r": "FACILITATOR", "region": assisted.region_code, "p": api.e.pilot,
                        "n": "Pendamping PKH (demo)"}, token=admin)
    api.mutate(ASSIGN, {"s": REVIEWER, "r": "REVIEWER", "region": appellant.region_code[:8], "p": api.e.pilot,
                        "n": "Verifikator sanggah (demo)"}, token=admin)
    return {"facilitator": api.sign_in(staff_id=FACILITATOR, name="Pendamping PKH (demo)"),
            "reviewer": api.sign_in(staff_id=REVIEWER, name="Verifikator sanggah (demo)")}


# --- stage 1: registration -------------------------------------------------------------------------

CONSENT = """mutation($s: [String!]!, $v: String!, $t: String) {
  giveConsent(input: {scopes: $s, policyVersion: $v, citizenToken: $t}) { consent { id } errors { code message } } }"""
REGISTER = """mutation($p: String!, $t: String) {
  registerHousehold(input: {programme: $p, citizenToken: $t}) {
    created registration { id channel assistedBy } errors { code message } } }"""


def register(api: Client, citizen: Citizen, summary: Summary, facilitator: str | None = None) -> None:
    """Consent to the data the selection needs, then register the household. On a facilitator's
    phone the facilitator signs the request and passes the citizen's own IKD token along."""
    citizen.token = api.sign_in(nik=citizen.nik)
    actor, on_behalf = (facilitator, citizen.token) if facilitator else (citizen.token, None)
    api.mutate(CONSENT, {"s": list(SCOPES), "v": POLICY_VERSION, "t": on_behalf}, token=actor)
    try:
        payload = api.mutate(REGISTER, {"p": PROGRAMME, "t": on_behalf}, token=actor)
    except DemoFailure as exc:
        if "CONSENT_INVALID" not in exc.codes:
            raise
        # A database from an earlier demo run: its consents name grants the simulator (restarted
        # since) no longer has. The platform has now ended that consent; giving it again gets a new grant.
        api.mutate(CONSENT, {"s": list(SCOPES), "v": POLICY_VERSION, "t": on_behalf}, token=actor)
        payload = api.mutate(REGISTER, {"p": PROGRAMME, "t": on_behalf}, token=actor)
    citizen.channel = payload["registration"]["channel"]
    if payload["created"]:
        summary.registered[citizen.channel] += 1
    else:
        summary.already += 1


# --- stage 2: selection ----------------------------------------------------------------------------

RUN = """mutation($p: String!) { runSelection(pilot: $p) { run { id status } errors { code message } } }"""
RUN_STATUS = """query($id: ID!) { selectionRun(id: $id) { id status processed decided unchanged
  outcomes { outcome count } failedReasons { code count } } }"""


def select(api: Client, admin: str, summary: Summary) -> None:
    """The national office starts selection; it runs in the server's background, so poll it."""
    run_id = api.mutate(RUN, {"p": api.e.pilot}, token=admin)["run"]["id"]

    def finished():
        run = api.gql(RUN_STATUS, {"id": run_id}, token=admin)["selectionRun"]
        if run["status"] == "FAILED":
            raise DemoFailure(f"selection run {run_id} failed")
        return run if run["status"] == "FINISHED" else None

    summary.run = wait_for(f"selection run {run_id}", finished)


# --- stage 3: notification -------------------------------------------------------------------------

OUTBOX = """query($s: NotificationStatus!, $p: String!) { outbox(status: $s, pilot: $p, first: 1) { nodes { id } } }"""
MINE = """{ me { registrations { decision { id version outcome cause reasons { code verdict message } } }
  appeals { id status resolutionNote } notifications(first: 20) { nodes { template title body } } } }"""


def me(api: Client, citizen: Citizen) -> dict[str, Any]:
    return api.gql(MINE, token=citizen.token)["me"]


def wait_for_outbox(api: Client, admin: str) -> None:
    """The national office's view of the outbox: nothing waiting or being sent."""
    def drained():
        return all(not api.gql(OUTBOX, {"s": s, "p": api.e.pilot}, token=admin)["outbox"]["nodes"]
                   for s in ("PENDING", "SENDING"))

    wait_for("the outbox to be delivered", drained)


def notify(api: Client, admin: str, citizens: list[Citizen], summary: Summary) -> None:
    """The API's own dispatcher delivers the outbox: wait until nothing is due, then read what
    each citizen's portal inbox says and what reached the SMS gateway."""
    wait_for_outbox(api, admin)
    for citizen in citizens:
        inbox = me(api, citizen)["notifications"]["nodes"]
        if any(n["template"].startswith("DECISION_") for n in inbox):
            summary.inboxes += 1
    phones = {c.phone for c in citizens if c.phone}
    summary.sms = [m for m in api.sms_received() if m["to"] in phones]
    example = next((n for n in me(api, summary.appellant)["notifications"]["nodes"]
                    if n["template"] == "DECISION_NOT_ELIGIBLE"), None)
    if example is None:
        raise DemoFailure("the appellant's inbox has no DECISION_NOT_ELIGIBLE notification")
    sms = next((m["text"] for m in summary.sms if m["to"] == summary.appellant.phone), None)
    summary.example = {**example, "sms": sms}


# --- stage 4: appeal (sanggah) -----------------------------------------------------------------------

FILE = """mutation($i: FileAppealInput!) { fileAppeal(input: $i) { appeal { id status } errors { code message } } }"""
QUEUE = """query($p: String!) { appeals(pilot: $p, status: SUBMITTED) { nodes { id ground disputedReasons
  statement comparisonData evidence { id kind contentType } } } }"""
CLAIM = """mutation($id: ID!) { claimAppeal(id: $id) { appeal { status } errors { code message } } }"""
RESOLVE = """mutation($i: ResolveAppealInput!) {
  resolveAppeal(input: $i) { appeal { status } errors { code message } } }"""


def upload_evidence(api: Client, citizen: Citizen) -> str:
    """Evidence goes up first, as the raw body (not multipart), and comes back as an id."""
    response = api.http.post(f"{api.e.api}/evidence", content=BILL, headers={
        "Authorization": f"Bearer {citizen.token}", "X-Perlinsos-Pilot": api.e.pilot,
        "Content-Type": "application/pdf", "X-Filename": "tagihan-pln.pdf", "X-Evidence-Kind": "SUPPORTING_DOCUMENT"})
    if response.status_code not in (200, 201):
        raise DemoFailure(f"evidence upload refused ({response.status_code}): {response.text[:200]}")
    return response.json()["id"]


def appeal(api: Client, citizen: Citizen, reviewer: str, admin: str, summary: Summary) -> None:
    """The citizen disputes ELECTRICITY_ABOVE_LIMIT with the bill; the district's reviewer reads
    the comparison data and the file, upholds it with the corrected fact, and the platform
    re-decides; the citizen sees the outcome and the new decision."""
    mine = me(api, citizen)
    decision = mine["registrations"][0]["decision"]
    summary.appeal["before"] = decision
    if mine["appeals"]:  # this database already went through the demo once
        summary.appeal.update(earlier_run=True, status=mine["appeals"][0]["status"], after=decision)
        return
    evidence = upload_evidence(api, citizen)
    filed = api.mutate(FILE, {"i": {
        "decision": decision["id"], "ground": "DATA_INCORRECT", "disputedReasons": ["ELECTRICITY_ABOVE_LIMIT"],
        "statement": "Daya listrik rumah kami 900 VA, bukan 2.200 VA; tagihan PLN terlampir.",
        "comparisonData": {"meter_id": "5123-0099-77", "electricity_va": 900}, "evidence": [evidence]}},
        token=citizen.token)["appeal"]
    queue = api.gql(QUEUE, {"p": api.e.pilot}, token=reviewer)["appeals"]["nodes"]
    item = next((a for a in queue if a["id"] == filed["id"]), None)
    if item is None:
        raise DemoFailure("the reviewer's queue does not show the appeal")
    (file_,) = item["evidence"]
    download = api.http.get(f"{api.e.api}/evidence/{file_['id']}",
                            headers={"Authorization": f"Bearer {reviewer}", "X-Perlinsos-Pilot": api.e.pilot})
    if download.status_code != 200 or download.content != BILL:
        raise DemoFailure(f"the reviewer could not read the evidence ({download.status_code})")
    api.mutate(CLAIM, {"id": item["id"]}, token=reviewer)
    api.mutate(RESOLVE, {"i": {"appeal": item["id"], "upheld": True,
                               "note": "Tagihan PLN menunjukkan daya 900 VA; data PLN dikoreksi.",
                               "correctedFacts": {"electricity_va": item["comparisonData"]["electricity_va"]}}},
               token=reviewer)

    def told():
        now = me(api, citizen)
        templates = {n["template"] for n in now["notifications"]["nodes"]}
        return now if "APPEAL_UPHELD" in templates and now["appeals"][0]["status"] == "UPHELD" else None

    after = wait_for("the citizen to be told the appeal was upheld", told)
    wait_for_outbox(api, admin)  # the SMS about it too
    summary.appeal.update(earlier_run=False, status=after["appeals"][0]["status"],
                          note=after["appeals"][0]["resolutionNote"], after=after["registrations"][0]["decision"],
                          evidence=file_, told=[n["title"] for n in after["notifications"]["nodes"]][:3])


# --- another regency's pilot ------------------------------------------------------------------------


def regional_walk(endpoints: Endpoints, regional: Regional, admin: str, summary: Summary) -> None:
    """The same platform for another regency: one of its citizens signs in with IKD, consents and
    registers in that pilot (the X-Perlinsos-Pilot header names it), and the national office runs
    that pilot's selection."""
    api = Client(replace(endpoints, pilot=regional.pilot, region=regional.region, regional=()))
    try:
        heads = api.people(role="HEAD", offset=1, limit=1)
        if not heads:
            raise DemoFailure(f"the IKD simulator has nobody in {regional.name} (start it with --region "
                              f"{regional.region})")
        p = heads[0]
        citizen, done = Citizen(p["name"], p["nik"], p["region_code"], p["phone"], p), Summary()
        register(api, citizen, done)
        select(api, admin, done)
        wait_for_outbox(api, admin)
        decision = me(api, citizen)["registrations"][0]["decision"]
    finally:
        api.http.close()
    summary.regional.append({"pilot": regional, "citizen": citizen, "created": bool(done.registered),
                             "run": done.run, "decision": decision})


# --- the whole walk ---------------------------------------------------------------------------------


def run_script(endpoints: Endpoints, echo=print) -> Summary:
    api, summary = Client(endpoints), Summary()
    try:
        admin = api.sign_in(staff_id=ADMIN_SUBJECT, name="Kantor pusat (demo)")  # seeded by perlinsos.demo
        citizens, appellant, assisted = choose_citizens(api)
        summary.appellant = appellant
        staff = set_up_staff(api, admin, assisted, appellant)
        echo(f"stage 1: {len(citizens)} citizens sign in with IKD, consent and register ({PROGRAMME}) ...")
        for citizen in citizens:
            register(api, citizen, summary, staff["facilitator"] if citizen is assisted else None)
        echo("stage 2: the national office runs selection ...")
        select(api, admin, summary)
        echo("stage 3: waiting for the notifications to be delivered ...")
        notify(api, admin, citizens, summary)
        echo("stage 4: a citizen appeals misrecorded data; a reviewer decides ...")
        appeal(api, appellant, staff["reviewer"], admin, summary)
        for regional in endpoints.regional:
            echo(f"pilot {regional.pilot}: a citizen of {regional.name} registers; the national office runs "
                 "its selection ...")
            regional_walk(endpoints, regional, admin, summary)
    except httpx.HTTPError as exc:
        raise DemoFailure(f"HTTP: {exc}") from exc
    finally:
        api.http.close()
    summary.tokens = {"citizen": appellant.token, "admin": admin, "reviewer": staff["reviewer"],
                      **{r["pilot"].pilot: r["citizen"].token for r in summary.regional}}  # another pilot's citizen
    return summary


def _counts(items: list[dict[str, Any]], key: str) -> str:
    return ", ".join(f"{i[key]} {i['count']}" for i in items) or "none"


def format_summary(s: Summary) -> str:
    run, a, who = s.run, s.appeal, s.appellant
    before, after = a["before"], a["after"]
    failing = [r["code"] for r in before["reasons"] if r["verdict"] == "FAIL"]
    lines = [
        "", "== Demo summary (developer console, English; citizens' texts below are as they receive them, "
        "in Bahasa Indonesia)",
        f"stage 1 registration: {s.registered['SELF']} self-registered, {s.registered['ASSISTED']} assisted by "
        f"{FACILITATOR}" + (f" ({s.already} already registered in an earlier run)" if s.already else ""),
        f"stage 2 selection:    run {run['id']} {run['status']}: {run['processed']} processed, {run['decided']} new "
        f"decisions, {run['unchanged']} unchanged; outcomes: {_counts(run['outcomes'], 'outcome')}; "
        f"failed reasons: {_counts(run['failedReasons'], 'code')}",
        f"stage 3 notification: {s.inboxes} decisions in the citizens' portal inboxes; {len(s.sms)} SMS "
        "accepted by the gateway simulator this session",
        f"stage 4 appeal:       {who.name} ({mask_nik(who.nik)}) " + (
            f"appealed in an earlier run: appeal {a['status']}; current decision v{after['version']} "
            f"{after['outcome']} (cause {after['cause']})" if a["earlier_run"] else
            f"disputed {', '.join(failing)}: appeal {a['status']} by {REVIEWER}; decision v{before['version']} "
            f"{before['outcome']} -> v{after['version']} {after['outcome']} (cause {after['cause']})"),
        "", f"Example notification ({who.name}'s portal inbox):",
        f"  {s.example['title']}", *(f"  {line}" for line in s.example["body"].splitlines()),
    ]
    if s.example.get("sms"):
        lines += ["", f"The same decision by SMS: {s.example['sms']}"]
    if not a["earlier_run"]:
        lines += ["", f"Reviewer's note: {a['note']}", "Latest in the citizen's inbox: " + " | ".join(a["told"])]
    for r in s.regional:
        pilot, run, decision, citizen = r["pilot"], r["run"], r["decision"], r["citizen"]
        failing = [reason["code"] for reason in decision["reasons"] if reason["verdict"] == "FAIL"]
        lines += ["", f"pilot {pilot.pilot} ({pilot.name}, {pilot.region}): {citizen.name} ({mask_nik(citizen.nik)}, "
                  f"village {citizen.region_code}) " + ("registered" if r["created"] else "was registered earlier")
                  + f"; run {run['id']} {run['status']}: {run['processed']} processed, {run['decided']} new "
                  f"decisions, {run['unchanged']} unchanged; decision v{decision['version']} {decision['outcome']}"
                  + (f" ({', '.join(failing)})" if failing else "")]
    return "\n".join(lines)


def how_to_explore(endpoints: Endpoints, s: Summary) -> str:
    return "\n".join([
        "", f"The API keeps running: open {endpoints.api}/graphql (GraphiQL) and paste into its Headers tab:",
        f'  {{"Authorization": "Bearer {s.tokens["citizen"]}"}}',
        "  then run: { me { registrations { decisionHistory { version outcome cause reasons { code message } } }"
        " appeals { status resolutionNote } } }",
        f"Tokens (valid for an hour; new ones from POST {endpoints.ikd}/sim/sign-in, see the README):",
        *(f"  {role:<9} {token}" for role, token in s.tokens.items()),
        "Or from a shell, with TOKEN set to one of them:",
        f"  curl -s {endpoints.api}/graphql -H \"authorization: Bearer $TOKEN\" -H 'content-type: application/json' "
        """-d '{"query": "{ me { appeals { status resolutionNote } } }"}'""",
        f"  curl -s {endpoints.sms}/sim/messages   # the SMS the gateway simulator accepted",
        *(f"Pilot {r.pilot} ({r.name}, {r.region}): send the header X-Perlinsos-Pilot: {r.pilot} (GraphiQL "
          f"defaults to {endpoints.pilot}); its citizens: curl -s '{endpoints.ikd}/sim/people?region={r.region}'"
          for r in endpoints.regional),
        "Stop with Ctrl-C.",
    ])
