// Measures the broker as many jobs at once would use it: a fixed number of issue+revoke pairs
// over HTTP, a fixed number in flight, against a broker in this process and a real PostgreSQL.
// Each issue verifies a token and creates a user; each revoke verifies a token, reads the
// user's marker and drops the user, so this is the cost of the whole lease, not of HTTP alone.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { parseBrokerConfig } from '../src/broker/config.js';
import { startBroker } from '../src/broker/server.js';
import type { LocalIssuer } from '../src/demo/issuer.js';

/** What one broker run measured: wall time of the timed pairs and each request's latency. */
export interface BrokerRun {
  pairs: number;
  concurrency: number;
  seconds: number;
  issueMs: number[];
  revokeMs: number[];
}

const AUDIENCE = 'https://broker.bench.invalid';
// The admin URL reaches the broker as it would in a deployment: through an environment variable.
const ADMIN_URL_ENV = 'BENCH_BROKER_ADMIN_URL';
const PREFIX = 'benchbroker';
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Starts a broker for `adminUrl` that trusts `issuer` (a profile bound on repository_id, as the
 * README recommends), runs `warmup` untimed pairs, then `pairs` timed pairs with `concurrency`
 * in flight, and checks that every user made is gone again.
 */
export async function benchBroker(
  adminUrl: string,
  issuer: LocalIssuer,
  options: { pairs: number; concurrency: number; warmup: number }
): Promise<BrokerRun> {
  const dir = mkdtempSync(join(tmpdir(), 'ec-bench-broker-'));
  const auditFile = join(dir, 'audit.jsonl');
  const config = parseBrokerConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      issuers: [{ issuer: issuer.issuer, audiences: [AUDIENCE] }],
      targets: { 'bench-db': { provider: 'postgres', admin_url_env: ADMIN_URL_ENV } },
      profiles: {
        bench: {
          target: 'bench-db',
          username_prefix: PREFIX,
          default_ttl: '15m',
          max_ttl: '1h',
          bound_claims: { repository_id: String(issuer.runClaims.repository_id) }
        }
      },
      sweep_interval: '1h', // the sweeper is not what is measured
      audit_log: auditFile
    },
    { ...process.env, [ADMIN_URL_ENV]: adminUrl }
  );
  const broker = await startBroker(config);
  try {
    // Tokens are minted up front, as the runner would hand them out: signing is not the broker's.
    const total = options.warmup + options.pairs;
    const tokens = await Promise.all(
      Array.from({ length: 2 * total }, () => issuer.mint(AUDIENCE))
    );
    const pair = async (i: number) => {
      let started = performance.now();
      const created = await fetch(`${broker.url}/v1/credentials`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens[2 * i]}`, 'content-type': 'application/json' },
        body: JSON.stringify({ profile: 'bench', ttl: '15m' }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
      });
      const lease = (await created.json()) as { lease_id?: string; error?: string };
      if (created.status !== 201 || !lease.lease_id)
        throw new Error(`issue answered ${created.status} ${lease.error ?? ''}`);
      const issueMs = performance.now() - started;
      started = performance.now();
      const removed = await fetch(
        `${broker.url}/v1/credentials/${encodeURIComponent(lease.lease_id)}`,
        {
          method: 'DELETE',
          headers: { authorization: `Bearer ${tokens[2 * i + 1]}` },
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
        }
      );
      const answer = await removed.text();
      if (removed.status !== 204) throw new Error(`revoke answered ${removed.status} ${answer}`);
      return { issueMs, revokeMs: performance.now() - started };
    };

    // Workers take the next pair until none are left; the first failure stops them all.
    const runPairs = async (first: number, count: number, inFlight: number) => {
      const issueMs: number[] = [];
      const revokeMs: number[] = [];
      let next = first;
      let failed = false;
      const worker = async () => {
        while (!failed && next < first + count) {
          try {
            const r = await pair(next++);
            issueMs.push(r.issueMs);
            revokeMs.push(r.revokeMs);
          } catch (err) {
            failed = true;
            throw err;
          }
        }
      };
      const results = await Promise.allSettled(Array.from({ length: inFlight }, worker));
      const failure = results.find((r) => r.status === 'rejected');
      if (failure) throw new Error(`broker: ${(failure.reason as Error).message}`);
      return { issueMs, revokeMs };
    };

    // Untimed: loads the provider, fetches the issuer's discovery document and JWKS once.
    await runPairs(0, options.warmup, Math.min(options.warmup, options.concurrency));
    const started = performance.now();
    const timed = await runPairs(options.warmup, options.pairs, options.concurrency);
    const seconds = (performance.now() - started) / 1000;

    await checkNothingLeft(adminUrl, auditFile, total);
    return { pairs: options.pairs, concurrency: options.concurrency, seconds, ...timed };
  } finally {
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A benchmark that left users behind, or lost audit lines, measured the wrong thing. */
async function checkNothingLeft(adminUrl: string, auditFile: string, total: number) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_roles WHERE rolname LIKE $1`,
      [`${PREFIX}\\_%`]
    );
    if (rows[0]!.n !== 0) throw new Error(`broker: ${rows[0]!.n} users were left behind`);
  } finally {
    await client.end();
  }
  const events = readFileSync(auditFile, 'utf8')
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { event: string }).event);
  const count = (event: string) => events.filter((e) => e === event).length;
  if (count('issued') !== total || count('revoked') !== total)
    throw new Error(
      `broker: audit log has ${count('issued')} issued and ${count('revoked')} revoked, not ${total}`
    );
}
