// Measures what the action adds to a job: the wall time of the bundled main and post steps,
// run as the runner runs them, against the start-up of a bare `node -e 0` on the same machine.
// The commands are interleaved (one of each per round) so that noise on a shared machine
// falls on all of them alike, and only the ratios are meant to be compared between machines.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { startLocalIssuer, type LocalIssuer } from '../src/demo/issuer.js';
import { startLocalPostgres } from '../src/demo/postgres.js';
import { newJob, parseCommandFile, RUN_ENV } from '../test/helpers/runner.js';

// Compiled to <out>/bench/run.js, so the repository is two levels up wherever npm was run from.
const root = fileURLToPath(new URL('../..', import.meta.url));

interface Sample {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Reads BENCH_RUNS; a bad value is a usage error, not a silent default. */
function runsFromEnv(): number {
  const raw = process.env.BENCH_RUNS ?? '15';
  const runs = Number(raw);
  if (!Number.isInteger(runs) || runs < 1) {
    console.error(`BENCH_RUNS "${raw}" is not a positive whole number; use e.g. BENCH_RUNS=30`);
    process.exit(2);
  }
  return runs;
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

async function roleExists(adminUrl: string, username: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [
      username
    ]);
    return (rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}

// The least any step that talks to PostgreSQL through pg can cost: load the driver, connect
// (SCRAM), one query. It shows how much of main's time is the driver's own.
const PG_FLOOR = `import pg from 'pg';
const c = new pg.Client({ connectionString: process.env.ADMIN_URL });
await c.connect(); await c.query('SELECT 1'); await c.end();`;

/**
 * One round: the baseline, the pg floor, main issuing a user, post revoking it, and main again
 * in a job with `id-token: write` (which loads @actions/core to fetch the token).
 */
async function round(adminUrl: string, issuer: LocalIssuer): Promise<Record<Name, number>> {
  const inputs = { provider: 'postgres', 'admin-url': adminUrl, ttl: '15m' };
  const job = newJob();
  const tokenJob = newJob();
  try {
    const floor = await timed(['--input-type=module', '-e', PG_FLOOR], {
      PATH: process.env.PATH ?? '',
      ADMIN_URL: adminUrl
    });
    if (floor.code !== 0) fail('pg floor', floor);

    const baseline = await timed(['-e', '0'], {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? ''
    });
    if (baseline.code !== 0) fail('node -e 0', baseline);

    const main = await timed([join('dist', 'main', 'index.js')], stepEnv(job.files, inputs));
    const state = parseCommandFile(readFileSync(job.files.GITHUB_STATE!, 'utf8'));
    if (main.code !== 0 || !state.lease) fail('main', main);
    const { username } = JSON.parse(state.lease!) as { username: string };

    const post = await timed([join('dist', 'post', 'index.js')], stepEnv(job.files, inputs, state));
    // Post exits 0 even when revoking fails (it only warns), so success is what the database says.
    if (post.code !== 0 || post.stdout.includes('::warning::')) fail('post', post);
    if (await roleExists(adminUrl, username)) fail(`post (user ${username} still exists)`, post);

    const withToken = await timed([join('dist', 'main', 'index.js')], {
      ...stepEnv(tokenJob.files, inputs),
      ...issuer.actionsEnv
    });
    const tokenState = parseCommandFile(readFileSync(tokenJob.files.GITHUB_STATE!, 'utf8'));
    if (withToken.code !== 0 || !tokenState.lease) fail('main with id-token', withToken);
    const cleanup = await timed(
      [join('dist', 'post', 'index.js')],
      stepEnv(tokenJob.files, inputs, tokenState)
    );
    if (cleanup.code !== 0 || cleanup.stdout.includes('::warning::')) fail('post', cleanup);

    return {
      'node -e 0': baseline.ms,
      'pg floor': floor.ms,
      main: main.ms,
      post: post.ms,
      'main+token': withToken.ms
    };
  } finally {
    rmSync(job.dir, { recursive: true, force: true });
    rmSync(tokenJob.dir, { recursive: true, force: true });
  }
}

const NAMES = ['node -e 0', 'pg floor', 'main', 'post', 'main+token'] as const;
type Name = (typeof NAMES)[number];

const runs = runsFromEnv();
const pgServer = await startLocalPostgres();
const issuer = await startLocalIssuer({
  repository: 'acme/app',
  repository_id: '1',
  run_id: '2',
  run_attempt: '1'
});
const samples = Object.fromEntries(NAMES.map((name) => [name, [] as number[]])) as Record<
  Name,
  number[]
>;
try {
  // One untimed round first: the first spawn of each bundle pays for a cold file cache.
  await round(pgServer.adminUrl, issuer);
  for (let i = 0; i < runs; i++) {
    const r = await round(pgServer.adminUrl, issuer);
    for (const name of NAMES) samples[name].push(r[name]);
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  await issuer.close();
  await pgServer.stop();
}
if (process.exitCode) process.exit();

const rows = Object.entries(samples).map(([name, values]) => ({
  name,
  median: median(values),
  p90: percentile(values, 90)
}));
console.log(
  `${runs} interleaved runs each (node ${process.version}, embedded PostgreSQL on 127.0.0.1)\n`
);
console.log(`${'command'.padEnd(12)}${'median ms'.padStart(12)}${'p90 ms'.padStart(10)}`);
for (const row of rows) {
  console.log(
    `${row.name.padEnd(12)}${row.median.toFixed(1).padStart(12)}${row.p90.toFixed(1).padStart(10)}`
  );
}
const base = median(samples['node -e 0']);
console.log('');
console.log(
  `pg-floor/node-e-0 = ${(median(samples['pg floor']) / base).toFixed(2)}   (reference: pg alone, connect + SELECT 1)`
);
console.log(
  `main+token/node-e-0 = ${(median(samples['main+token']) / base).toFixed(2)}   (job with id-token: write)`
);
console.log(`main/node-e-0 = ${(median(samples.main) / base).toFixed(2)}`);
console.log(`post/node-e-0 = ${(median(samples.post) / base).toFixed(2)}`);
