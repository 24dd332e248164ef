// Measures what the action adds to a job: the wall time of the bundled main and post steps,
// run as the runner runs them, against the start-up of a bare `node -e 0` on the same machine.
// The commands are interleaved (one of each per round) so that noise on a shared machine
// falls on all of them alike, and only the ratios are meant to be compared between machines.
// After the rounds, an in-process broker serves issue+revoke pairs against the same PostgreSQL
// (bench/broker.ts); its throughput and p99 latencies are absolute numbers of this machine.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchBroker, type BrokerRun } from './broker.js';
import { startLocalIssuer, type LocalIssuer } from '../src/demo/issuer.js';
import { startLocalPostgres } from '../src/demo/postgres.js';
import { startLocalMariaDb } from '../test/helpers/mariadb.js';
import { startLocalSts } from '../test/helpers/sts.js';
import { newJob, parseCommandFile, RUN_ENV } from '../test/helpers/runner.js';

// Compiled to <out>/bench/run.js, so the repository is two levels up wherever npm was run from.
const root = fileURLToPath(new URL('../..', import.meta.url));

interface Sample {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Reads a count such as BENCH_RUNS; a bad value is a usage error, not a silent default. */
function countFromEnv(name: string, fallback: number): number {
  const raw = process.env[name] ?? String(fallback);
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 1) {
    console.error(`${name} "${raw}" is not a positive whole number; use e.g. ${name}=${fallback}`);
    process.exit(2);
  }
  return count;
}

/**
 * Times one child process from spawn to exit. All three commands go through here (rather than
 * the test helper's runStep, which also reads the command files inside its timing) so that the
 * baseline pays exactly the same spawn cost as the steps it is compared with.
 */
function timed(args: string[], env: Record<string, string>): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe']
    });
    let ms = 0;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('exit', () => (ms = performance.now() - started));
    child.on('close', (code) => resolve({ ms, code, stdout, stderr }));
  });
}

/** The environment the runner gives a step: its command files, INPUT_* and, for post, STATE_*. */
function stepEnv(
  files: Record<string, string>,
  inputs: Record<string, string>,
  state: Record<string, string> = {}
) {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    ...RUN_ENV,
    ...files
  };
  for (const [name, value] of Object.entries(inputs))
    env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  for (const [name, value] of Object.entries(state)) env[`STATE_${name}`] = value;
  return env;
}

/** Nearest-rank percentile: always a value that was actually measured. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

// Thrown rather than exiting on the spot, so the embedded PostgreSQL is still stopped.
function fail(what: string, sample: Sample): never {
  throw new Error(`${what} failed (exit ${sample.code}):\n${sample.stdout}${sample.stderr}`);
}

/** Runs main then post in one job, as the runner does; both must succeed. */
async function mainThenPost(
  inputs: Record<string, string>,
  extraEnv: Record<string, string> = {}
): Promise<{ main: number; post: number }> {
  const job = newJob();
  try {
    const main = await timed([join('dist', 'main', 'index.js')], {
      ...stepEnv(job.files, inputs),
      ...extraEnv
    });
    const state = parseCommandFile(readFileSync(job.files.GITHUB_STATE!, 'utf8'));
    if (main.code !== 0 || !state.lease) fail(`main (${inputs.provider})`, main);
    const post = await timed([join('dist', 'post', 'index.js')], stepEnv(job.files, inputs, state));
    // Post exits 0 even when revoking fails (it only warns), so success is what it says.
    if (post.code !== 0 || post.stdout.includes('::warning::'))
      fail(`post (${inputs.provider})`, post);
    return { main: main.ms, post: post.ms };
  } finally {
    rmSync(job.dir, { recursive: true, force: true });
  }
}

// The least any step that talks to PostgreSQL through pg can cost: load the driver, connect
// (SCRAM), one query. It shows how much of main's time is the driver's own.
const PG_FLOOR = `import pg from 'pg';
const c = new pg.Client({ connectionString: process.env.ADMIN_URL });
await c.connect(); await c.query('SELECT 1'); await c.end();`;

const NAMES = [
  'node -e 0',
  'pg floor',
  'pg main',
  'pg post',
  'pg main+token',
  'mysql main',
  'mysql post',
  'aws main'
] as const;
type Name = (typeof NAMES)[number];

/**
 * One round: the baseline, the pg floor, main and post for PostgreSQL, main again in a job with
 * `id-token: write` (which loads @actions/core to fetch the token), and main and post for MySQL.
 */
async function round(
  pgUrl: string,
  mysqlUrl: string,
  issuer: LocalIssuer,
  stsEndpoint: string
): Promise<Record<Name, number>> {
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  const baseline = await timed(['-e', '0'], env);
  if (baseline.code !== 0) fail('node -e 0', baseline);
  const floor = await timed(['--input-type=module', '-e', PG_FLOOR], { ...env, ADMIN_URL: pgUrl });
  if (floor.code !== 0) fail('pg floor', floor);
  const pgInputs = { provider: 'postgres', 'admin-url': pgUrl, ttl: '15m' };
  const pgRun = await mainThenPost(pgInputs);
  const tokenRun = await mainThenPost(pgInputs, issuer.actionsEnv);
  const mysqlRun = await mainThenPost({ provider: 'mysql', 'admin-url': mysqlUrl, ttl: '15m' });
  const awsRun = await mainThenPost(
    {
      provider: 'aws',
      'role-to-assume': 'arn:aws:iam::123456789012:role/bench',
      'aws-region': 'us-east-1',
      'sts-endpoint': stsEndpoint,
      ttl: '15m'
    },
    issuer.actionsEnv
  );
  return {
    'node -e 0': baseline.ms,
    'pg floor': floor.ms,
    'pg main': pgRun.main,
    'pg post': pgRun.post,
    'pg main+token': tokenRun.main,
    'mysql main': mysqlRun.main,
    'mysql post': mysqlRun.post,
    'aws main': awsRun.main
  };
}

const runs = countFromEnv('BENCH_RUNS', 15);
const brokerPairs = countFromEnv('BENCH_BROKER_PAIRS', 200);
const brokerConcurrency = countFromEnv('BENCH_BROKER_CONCURRENCY', 8);
const pgServer = await startLocalPostgres();
const mysqlServer = await startLocalMariaDb();
const mysqlUrl = Object.assign(new URL(mysqlServer.adminUrl), { pathname: '/app' }).href;
const issuer = await startLocalIssuer({
  repository: 'acme/app',
  repository_id: '1',
  run_id: '2',
  run_attempt: '1',
  sub: 'repo:acme/app:ref:refs/heads/main'
});
// No real STS can run here: the AWS steps talk to the tests' local STS-compatible endpoint.
const sts = await startLocalSts({
  issuer: issuer.issuer,
  jwksUri: `${issuer.issuer}/.well-known/jwks`
});
const samples = Object.fromEntries(NAMES.map((name) => [name, [] as number[]])) as Record<
  Name,
  number[]
>;
let brokerRun: BrokerRun | undefined;
try {
  // One untimed round first: the first spawn of each bundle pays for a cold file cache.
  await round(pgServer.adminUrl, mysqlUrl, issuer, sts.endpoint);
  for (let i = 0; i < runs; i++) {
    const r = await round(pgServer.adminUrl, mysqlUrl, issuer, sts.endpoint);
    for (const name of NAMES) samples[name].push(r[name]);
  }
  brokerRun = await benchBroker(pgServer.adminUrl, issuer, {
    pairs: brokerPairs,
    concurrency: brokerConcurrency,
    warmup: brokerConcurrency
  });
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  await sts.close();
  await issuer.close();
  await pgServer.stop();
  await mysqlServer.stop();
}
if (process.exitCode) process.exit();

const rows = Object.entries(samples).map(([name, values]) => ({
  name,
  median: median(values),
  p90: percentile(values, 90)
}));
console.log(
  `${runs} interleaved runs each (node ${process.version}, embedded PostgreSQL, ${mysqlServer.version} and a local STS on 127.0.0.1)\n`
);
console.log(`${'command'.padEnd(14)}${'median ms'.padStart(12)}${'p90 ms'.padStart(10)}`);
for (const row of rows) {
  console.log(
    `${row.name.padEnd(14)}${row.median.toFixed(1).padStart(12)}${row.p90.toFixed(1).padStart(10)}`
  );
}
const base = median(samples['node -e 0']);
const ratio = (name: Name) => (median(samples[name]) / base).toFixed(2);
console.log('');
if (brokerRun) {
  const { pairs, concurrency, seconds, issueMs, revokeMs } = brokerRun;
  const ms = (values: number[], p: number) => percentile(values, p).toFixed(1);
  console.log(
    `broker: ${pairs} issue+revoke pairs over HTTP, ${concurrency} in flight (in-process broker, embedded PostgreSQL)`
  );
  console.log(`broker pairs/s = ${(pairs / seconds).toFixed(1)}`);
  console.log(`broker issue p99 ms = ${ms(issueMs, 99)}   (median ${median(issueMs).toFixed(1)})`);
  console.log(
    `broker revoke p99 ms = ${ms(revokeMs, 99)}   (median ${median(revokeMs).toFixed(1)})`
  );
  console.log('');
}
console.log(`pg-floor/node-e-0 = ${ratio('pg floor')}   (reference: pg alone, connect + SELECT 1)`);
console.log(
  `main+token/node-e-0 = ${ratio('pg main+token')}   (postgres, job with id-token: write)`
);
console.log(`aws main/node-e-0 = ${ratio('aws main')}`);
console.log(`mysql main/node-e-0 = ${ratio('mysql main')}`);
console.log(`mysql post/node-e-0 = ${ratio('mysql post')}`);
console.log(`main/node-e-0 = ${ratio('pg main')}`);
console.log(`post/node-e-0 = ${ratio('pg post')}`);
