// The citizen journey against a running demo (`perlinsos demo`), with the generated typed documents
// only: sign in with the IKD simulator, read the consent screen, consent, register, then (the
// national office's part) run selection, and read "my decision" with its reasons and the inbox.
//
//   PERLINSOS_API=http://127.0.0.1:8600 PERLINSOS_IKD=http://127.0.0.1:8601 node dist/journey.js
//
// Exits non-zero, saying which step failed, when a step does not get the answer it needs.
import {
  ConsentScreenDocument,
  GiveConsentDocument,
  InboxDocument,
  MyDecisionDocument,
  RegisterHouseholdDocument,
  RunSelectionDocument,
  SelectionRunDocument,
  UnreadCountDocument,
  type TypedDocumentString,
} from "./gql/graphql.js";

const API = process.env.PERLINSOS_API ?? "http://127.0.0.1:8600";
const IKD = process.env.PERLINSOS_IKD ?? "http://127.0.0.1:8601";
const PILOT = process.env.PERLINSOS_PILOT ?? "BWI-2025";
const ADMIN = process.env.PERLINSOS_ADMIN ?? "admin-demo"; // the demo's national-office account
const POLICY_VERSION = "2025-08";

interface GraphQLError {
  message: string;
  extensions?: { code?: string };
}

/** One operation over HTTP: typed by its document, refused loudly on any top-level error. It is
 * sent by its id in the trusted-documents manifest (codegen's persistedDocuments: a few bytes
 * instead of the document, which a server in production requires); set PERLINSOS_SEND_DOCUMENTS=1
 * to send the whole document instead. */
async function execute<TResult, TVariables>(
  document: TypedDocumentString<TResult, TVariables>,
  variables: TVariables,
  token: string,
): Promise<TResult> {
  const hash: unknown = document.__meta__?.["hash"];
  const operation = typeof hash === "string" && !process.env.PERLINSOS_SEND_DOCUMENTS
    ? { documentId: hash }
    : { query: document.toString() };
  const response = await fetch(`${API}/graphql`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Authorization: `Bearer ${token}`,
      "X-Perlinsos-Pilot": PILOT,
      "Accept-Language": "id",
    },
    body: JSON.stringify({ ...operation, variables }),
  });
  const body = (await response.json()) as { data?: TResult | null; errors?: GraphQLError[] };
  if (!response.ok || body.errors?.length || body.data == null) {
    throw new Error(`HTTP ${response.status}: ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

/** A mutation's payload errors (code, message, field) as one failure. */
function refuse(step: string, errors: ReadonlyArray<{ code: string; message: string }>): void {
  if (errors.length > 0) {
    throw new Error(`${step}: ${errors.map((e) => `${e.code}: ${e.message}`).join("; ")}`);
  }
}

async function signIn(who: { nik: string } | { staff_id: string; name: string }): Promise<string> {
  const response = await fetch(`${IKD}/sim/sign-in`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(who),
  });
  if (!response.ok) throw new Error(`IKD sign-in refused: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

async function aCitizen(): Promise<{ nik: string; name: string }> {
  if (process.env.PERLINSOS_NIK) return { nik: process.env.PERLINSOS_NIK, name: "(given)" };
  const response = await fetch(`${IKD}/sim/people?role=HEAD&limit=1&offset=0`);
  const { people } = (await response.json()) as { people: Array<{ nik: string; name: string }> };
  const first = people[0];
  if (!first) throw new Error("the IKD simulator lists no head of household");
  return first;
}

async function until<T>(what: string, check: () => Promise<T | null>, seconds = 60): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const found = await check();
    if (found !== null) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const mask = (nik: string): string => `${nik.slice(0, 4)}********${nik.slice(-4)}`;

async function main(): Promise<void> {
  const person = await aCitizen();
  const citizen = await signIn({ nik: person.nik });
  console.log(`signed in as ${person.name} (${mask(person.nik)})`);

  // Consent screen: what the pilot asks for; consent to what registration and selection read
  // (registerHousehold refuses a consent that lacks a scope selection needs).
  const screen = await execute(ConsentScreenDocument, {}, citizen);
  const scopes = screen.consentScopes
    .filter((scope) => scope.requiredForSelection || scope.neededFor.includes("REGISTRATION"))
    .map((scope) => scope.code);
  if (!screen.programmes.some((programme) => programme.code === "PKH" && programme.registrationOpen)) {
    throw new Error("consent screen: PKH is not open for registration");
  }
  const consent = (await execute(GiveConsentDocument, { scopes, policyVersion: POLICY_VERSION }, citizen))
    .giveConsent;
  refuse("consent", consent.errors);
  console.log(`consented to ${scopes.join(", ")} (live: ${consent.consent?.live})`);

  const registered = (await execute(RegisterHouseholdDocument, { programme: "PKH" }, citizen)).registerHousehold;
  refuse("register", registered.errors);
  console.log(`registered for PKH (${registered.created ? "new" : "already registered"}, ` +
    `channel ${registered.registration?.channel})`);

  // The national office runs selection (in the background) and follows it.
  const admin = await signIn({ staff_id: ADMIN, name: "Kantor pusat (demo)" });
  const started = (await execute(RunSelectionDocument, { pilot: PILOT, programme: "PKH" }, admin)).runSelection;
  refuse("run selection", started.errors);
  const runId = started.run?.id;
  if (!runId) throw new Error("run selection: no run returned");
  const run = await until("selection to finish", async () => {
    const { selectionRun } = await execute(SelectionRunDocument, { id: runId }, admin);
    return selectionRun && selectionRun.status !== "RUNNING" ? selectionRun : null;
  });
  console.log(`selection ${run.status}: ${run.processed} processed, ${run.decided} decided`);

  // "My decision", with every reason in the citizen's language.
  const { me } = await execute(MyDecisionDocument, {}, citizen);
  const decision = me?.registrations.find((r) => r.pilot.code === PILOT && r.programme === "PKH")?.decision;
  if (!decision || decision.reasons.length === 0) throw new Error("my decision: no decision with reasons");
  console.log(`decision v${decision.version}: ${decision.outcome}`);
  for (const reason of decision.reasons) console.log(`  ${reason.verdict} ${reason.code}: ${reason.message}`);

  // The inbox: the decision arrives as the platform delivers it.
  const inbox = await until("the decision in the inbox", async () => {
    // notifications is null only with an error at that field, which execute() already refused
    const notifications = (await execute(InboxDocument, { first: 10 }, citizen)).me?.notifications;
    return notifications && notifications.edges.length > 0 ? notifications : null;
  });
  for (const { node } of inbox.edges) console.log(`inbox: ${node.title} (${node.template})`);
  const unread = (await execute(UnreadCountDocument, {}, citizen)).me?.unreadNotifications;
  console.log(`unread: ${unread}`);
  console.log("citizen journey: OK");
}

main().catch((error: unknown) => {
  console.error(`citizen journey FAILED: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
