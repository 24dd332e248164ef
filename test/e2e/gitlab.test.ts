import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseBrokerConfig } from '../../src/broker/config.js';
import { startBroker, type Broker } from '../../src/broker/server.js';
import { startLocalIssuer, type LocalIssuer } from '../../src/demo/issuer.js';
import {
  mysqlClient,
  mysqlQuery,
  startLocalMariaDb,
  type LocalMariaDb
} from '../helpers/mariadb.js';
import { query, roleFacts, startLocalPostgres, type LocalPostgres } from '../helpers/postgres.js';
import { leakedLines } from '../helpers/runner.js';
import { startLocalSts, type LocalSts } from '../helpers/sts.js';

// Real pipelines, run by gitlab-ci-local on its shell executor, include the component from this
// working tree and use real databases. gitlab-ci-local has no OIDC issuer and ignores id_tokens:,
// so the token a GitLab job would get under id_tokens: is passed in as a --variable.
const run = promisify(execFile);
const REPO = resolve('.');
const GITLAB_CI_LOCAL = join(REPO, 'node_modules', 'gitlab-ci-local', 'dist', 'index.js');
const TOKEN_VARIABLE = 'EPHEMERAL_CREDENTIALS_ID_TOKEN';
const ROLE = 'arn:aws:iam::123456789012:role/deploy';
const BROKER_AUDIENCE = 'https://creds.example.com';
// The package is not published, so the pipelines run the bundle that `npm run bundle` built.
const CLI = `"${process.execPath}" "${join(REPO, 'dist', 'cli', 'index.js')}"`;
// The GitLab way to test a component in its own project: this commit's copy of it.
const COMPONENT = '$CI_SERVER_FQDN/$CI_PROJECT_PATH/ephemeral-credentials@$CI_COMMIT_SHA';
const yaml = (value: string) => JSON.stringify(value); // a JSON string is a YAML scalar too

let pg: LocalPostgres;
let maria: LocalMariaDb;
let issuer: LocalIssuer;
let sts: LocalSts;
let broker: Broker;
let work: string;

interface Pipeline {
  code: number;
  /** gitlab-ci-local's own output: every job's log lines, prefixed with the job's name. */
  output: string;
  /** Each job's log, as gitlab-ci-local saved it. */
  logs: Record<string, string>;
  /** Files the jobs wrote outside their logs (see `keep`). */
  kept: string;
  project: string;
}

/**
 * Lays out a component project (a copy of gitlab/ with a .gitlab-ci.yml) as a git repository
 * and runs its pipeline. `variables` play the project's CI/CD variables.
 */
async function runPipeline(
  ci: (kept: string) => string,
  variables: Record<string, string>,
  token: string,
  extraArgs: string[] = []
): Promise<Pipeline> {
  const root = mkdtempSync(join(work, 'pipeline-'));
  const project = join(root, 'ephemeral-credentials');
  const kept = join(root, 'kept');
  mkdirSync(kept);
  cpSync(join(REPO, 'gitlab'), project, { recursive: true });
  writeFileSync(join(project, '.gitlab-ci.yml'), ci(kept));
  writeFileSync(
    join(project, '.gitlab-ci-local-variables.yml'),
    Object.entries(variables)
      .map(([name, value]) => `${name}: ${yaml(value)}\n`)
      .join('')
  );
  writeFileSync(join(project, 'check-pg.cjs'), CHECK_PG);
  const git = (...args: string[]) => run('git', args, { cwd: project });
  await git('init', '-q', '-b', 'main');
  await git('config', 'user.name', 'ci');
  await git('config', 'user.email', 'ci@example.com');
  // CI_PROJECT_PATH comes from the remote; the component is "local" when it names this project.
  await git('remote', 'add', 'origin', 'https://gitlab.example.com/acme/ephemeral-credentials.git');
  await git('add', '-A');
  await git('commit', '-q', '-m', 'component');
  // gitlab-ci-local asks for the remote's default branch, as a clone would know it.
  await git('update-ref', 'refs/remotes/origin/main', 'HEAD');
  await git('symbolic-ref', 'refs/remotes/origin/HEAD', 'refs/remotes/origin/main');

  let code = 0;
  let output: string;
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [
        GITLAB_CI_LOCAL,
        '--no-color',
        '--home',
        join(root, 'home'),
        '--variable',
        `${TOKEN_VARIABLE}=${token}`,
        ...extraArgs
      ],
      {
        cwd: project,
        env: { PATH: process.env.PATH ?? '', HOME: join(root, 'home') },
        maxBuffer: 16 << 20
      }
    );
    output = stdout + stderr;
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    code = e.code;
    output = e.stdout + e.stderr;
  }
  const logDir = join(project, '.gitlab-ci-local', 'output');
  if (!existsSync(logDir)) throw new Error(`gitlab-ci-local ran no job (exit ${code}):\n${output}`);
  const logs = Object.fromEntries(
    readdirSync(logDir).map((file) => [
      file.replace(/\.log$/, ''),
      readFileSync(join(logDir, file), 'utf8')
    ])
  );
  return { code, output, logs, kept, project };
}

/** A job's script line that saves the job's secrets where the test, not the log, can read them. */
const keep = (kept: string, job: string, ...vars: string[]) =>
  `printf '%s\\n' ${vars.map((name) => `"$${name}"`).join(' ')} > ${yaml(join(kept, job))}`;

/** What a job kept with `keep`: one value a line, none of them empty. */
function keptLines(pipeline: Pipeline, job: string): string[] {
  const lines = readFileSync(join(pipeline.kept, job), 'utf8').split('\n').slice(0, -1);
  for (const line of lines) expect(line).not.toBe('');
  return lines;
}

/** Connects as the job's user twice: with PG* (libpq's variables) and with DATABASE_URL. */
const CHECK_PG = `const pg = require('pg');
(async () => {
  const byEnv = new pg.Client();
  await byEnv.connect();
  const { rows } = await byEnv.query(
    "SELECT current_user AS user, pg_has_role(current_user, 'app_read', 'member') AS member");
  await byEnv.end();
  const byUrl = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await byUrl.connect();
  const url = await byUrl.query('SELECT current_user AS user');
  await byUrl.end();
  console.log('connected ' + JSON.stringify({ ...rows[0], urlUser: url.rows[0].user }));
})().catch((err) => { console.error(err.message); process.exit(1); });
`;

/** The user name a job's log says it created. */
function createdUser(log: string, provider: string): string {
  const match = new RegExp(`Created ${provider} user (\\w+) `).exec(log);
  expect(match).not.toBeNull();
  return match![1]!;
}

/** Every secret of a job, in each form it could take in a log. */
function secretForms(...secrets: string[]): string[] {
  return secrets.flatMap((secret) => [secret, encodeURIComponent(secret)]);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ec-gitlab-'));
  [pg, maria, issuer] = await Promise.all([
    startLocalPostgres(),
    startLocalMariaDb(),
    startLocalIssuer({
      project_id: '42',
      project_path: 'acme/ephemeral-credentials',
      pipeline_id: '7',
      job_id: '1001',
      ref: 'main',
      sub: 'project_path:acme/ephemeral-credentials:ref_type:branch:ref:main'
    })
  ]);
  sts = await startLocalSts({
    issuer: issuer.issuer,
    jwksUri: `${issuer.issuer}/.well-known/jwks`
  });
  await query(pg.adminUrl, 'CREATE ROLE app_read NOLOGIN');
  broker = await startBroker(
    parseBrokerConfig(
      {
        listen: { host: '127.0.0.1', port: 0 },
        issuers: [{ issuer: issuer.issuer, audiences: [BROKER_AUDIENCE] }],
        targets: { 'app-db': { provider: 'postgres', admin_url_env: 'APP_DB_ADMIN_URL' } },
        profiles: {
          'app-readonly': {
            target: 'app-db',
            roles: ['app_read'],
            max_ttl: '1h',
            bound_claims: { project_id: '42', ref: 'main' }
          }
        },
        sweep_interval: '1h',
        audit_log: join(work, 'audit.log')
      },
      { APP_DB_ADMIN_URL: pg.adminUrl }
    )
  );
  await mysqlQuery(maria.adminUrl, 'CREATE ROLE IF NOT EXISTS app_read');
  await mysqlQuery(maria.adminUrl, 'GRANT SELECT ON app.* TO app_read');
}, 60_000);
afterAll(async () => {
  await broker?.close();
  await sts?.close();
  await issuer?.close();
  await Promise.all([pg?.stop(), maria?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the GitLab component, run by gitlab-ci-local', () => {
  test('PostgreSQL: jobs connect with the loaded variables; after_script revokes, failed jobs included', async () => {
    const token = await issuer.mint('ephemeral-credentials');
    const pipeline = await runPipeline(
      (kept) => `
include:
  - component: ${COMPONENT}
    inputs:
      provider: postgres
      roles: app_read
      ttl: 10m
      username-prefix: glpg
      cli: ${yaml(CLI)}

variables:
  NODE_PATH: ${yaml(join(REPO, 'node_modules'))}

migrate:
  extends: .ephemeral-credentials
  script:
    - node check-pg.cjs
    - ${keep(kept, 'migrate', 'PGPASSWORD', 'DATABASE_URL')}
    # The files behind the job: a private directory, a 0600 state file, no vars file left.
    - dir="\${CI_PROJECT_DIR}.tmp/ephemeral-credentials-\${CI_JOB_ID}"
    - stat -c 'mode %a %n' "$dir" "$dir/state.json"
    - test ! -e "$dir/vars.env"
    - test -z "\${${TOKEN_VARIABLE}:-}" && test -z "\${EPHEMERAL_CREDENTIALS_ADMIN_URL:-}"

own-before-script:
  extends: .ephemeral-credentials
  before_script:
    - echo "own setup before the credential"
    - !reference [.ephemeral-credentials, before_script]
    - echo "own setup after the credential, as $PGUSER"
  script:
    - node check-pg.cjs

script-fails:
  extends: .ephemeral-credentials
  allow_failure: true
  script:
    - node check-pg.cjs
    - ${keep(kept, 'script-fails', 'PGPASSWORD', 'DATABASE_URL')}
    - exit 3

issue-fails:
  extends: .ephemeral-credentials
  allow_failure: true
  variables:
    EPHEMERAL_CREDENTIALS_TTL: 99x
  script:
    - echo "this line never runs"
`,
      { DATABASE_ADMIN_URL: pg.adminUrl },
      token
    );
    expect(pipeline.output).toContain('PASS  migrate');
    expect(pipeline.code).toBe(0);
    const { logs } = pipeline;

    const users: string[] = [];
    for (const job of ['migrate', 'own-before-script', 'script-fails']) {
      const log = logs[job]!;
      const user = createdUser(log, 'postgres');
      users.push(user);
      expect(user).toMatch(/^glpg_[a-f0-9]{8}_[a-z0-9]{8}$/);
      expect(log).toContain(`connected {"user":"${user}","member":true,"urlUser":"${user}"}`);
      expect(log).toContain(`Revoked postgres user ${user}`);
      expect(await roleFacts(pg.adminUrl, user)).toBeUndefined();
    }
    expect(new Set(users).size).toBe(3);
    expect(logs.migrate).toMatch(/mode 700 \S+\/ephemeral-credentials-\d+\n/);
    expect(logs.migrate).toMatch(/mode 600 \S+\/state\.json\n/);
    expect(logs['own-before-script']).toMatch(
      /own setup before the credential[\s\S]*Created postgres user[\s\S]*own setup after the credential, as glpg_/
    );
    expect(logs['script-fails']).toMatch(
      /\$ exit 3\n[\s\S]*revoke this job's credential[\s\S]*Revoked/
    );
    expect(logs['issue-fails']).toContain('ttl "99x" is not a duration');
    expect(logs['issue-fails']).not.toContain('this line never runs');
    expect(logs['issue-fails']).toContain(
      'no credential was issued in this job; nothing to revoke'
    );

    // Nothing is left behind: no user with the prefix, no file beside the checkout.
    const { rows } = await query(pg.adminUrl, "SELECT 1 FROM pg_roles WHERE rolname LIKE 'glpg%'");
    expect(rows).toEqual([]);
    expect(readdirSync(`${pipeline.project}.tmp`)).toEqual([]);

    const secrets = secretForms(
      ...keptLines(pipeline, 'migrate'),
      ...keptLines(pipeline, 'script-fails'),
      new URL(pg.adminUrl).password,
      token
    );
    for (const text of [pipeline.output, ...Object.values(logs)]) {
      expect(leakedLines(text, secrets)).toEqual([]);
    }
  });

  test('MariaDB: include: local with inputs; the mariadb client connects; failed jobs revoke too', async () => {
    const token = await issuer.mint('ephemeral-credentials');
    const client = (await mysqlClient()).map((word) => `'${word}'`).join(' ');
    const connect = `${client} -u "$MYSQL_USER" -N -e 'SELECT CONCAT(CURRENT_USER(), " ", CURRENT_ROLE())' "$MYSQL_DATABASE"`;
    const pipeline = await runPipeline(
      (kept) => `
include:
  - local: templates/ephemeral-credentials.yml
    inputs:
      provider: mysql
      admin-url: $MYSQL_ADMIN_URL
      database: app
      roles: app_read
      username-prefix: glmy
      cli: ${yaml(CLI)}

report:
  extends: .ephemeral-credentials
  script:
    - ${yaml(connect)}
    - ${keep(kept, 'report', 'MYSQL_PWD', 'DATABASE_URL')}

script-fails:
  extends: .ephemeral-credentials
  allow_failure: true
  script:
    - ${yaml(connect)}
    - ${keep(kept, 'script-fails', 'MYSQL_PWD', 'DATABASE_URL')}
    - exit 1
`,
      { MYSQL_ADMIN_URL: maria.adminUrl },
      token
    );
    expect(pipeline.output).toContain('PASS  report');
    expect(pipeline.code).toBe(0);

    const role = /mariadb/i.test(maria.version) ? 'app_read' : '`app_read`@`%`';
    for (const job of ['report', 'script-fails']) {
      const log = pipeline.logs[job]!;
      const user = createdUser(log, 'mysql');
      expect(log).toContain(`${user}@% ${role}`);
      expect(log).toContain(`Revoked mysql user ${user}`);
    }
    const left = await mysqlQuery(
      maria.adminUrl,
      "SELECT User FROM mysql.user WHERE User LIKE 'glmy%'"
    );
    expect(left).toEqual([]);

    const secrets = secretForms(
      ...keptLines(pipeline, 'report'),
      ...keptLines(pipeline, 'script-fails'),
      new URL(maria.adminUrl).password,
      token
    );
    for (const text of [pipeline.output, ...Object.values(pipeline.logs)]) {
      expect(leakedLines(text, secrets)).toEqual([]);
    }
  });

  test('a scheduled sweep job drops users whose after_script never ran', async () => {
    // A job whose runner died: the user was issued, and nothing revoked it.
    const { stdout } = await run(
      process.execPath,
      [
        join(REPO, 'dist', 'cli', 'index.js'),
        'issue',
        '--provider',
        'postgres',
        '--ttl',
        '1s',
        '--username-prefix',
        'glsw',
        '--format',
        'json'
      ],
      { env: { PATH: process.env.PATH ?? '', EPHEMERAL_CREDENTIALS_ADMIN_URL: pg.adminUrl } }
    );
    const leftover = (JSON.parse(stdout) as Record<string, string>).PGUSER!;
    await new Promise((done) => setTimeout(done, 2100)); // 1s, rounded up to a whole second

    const pipeline = await runPipeline(
      () => `
include:
  - component: ${COMPONENT}
    inputs:
      provider: postgres
      cli: ${yaml(CLI)}

sweep-credentials:
  extends: .ephemeral-credentials-sweep
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"

migrate:
  extends: .ephemeral-credentials
  rules:
    - if: $CI_PIPELINE_SOURCE != "schedule"
  script:
    - echo "not in a scheduled pipeline"
`,
      { DATABASE_ADMIN_URL: pg.adminUrl },
      await issuer.mint('ephemeral-credentials'),
      ['--variable', 'CI_PIPELINE_SOURCE=schedule']
    );
    expect(pipeline.code).toBe(0);
    expect(Object.keys(pipeline.logs)).toEqual(['sweep-credentials']);
    expect(pipeline.logs['sweep-credentials']).toContain(`revoked ${leftover}`);
    expect(await roleFacts(pg.adminUrl, leftover)).toBeUndefined();
    expect(leakedLines(pipeline.output, [new URL(pg.adminUrl).password])).toEqual([]);
  });

  test("broker: the broker creates the user and revokes it; the project's admin URL stays out", async () => {
    const token = await issuer.mint(BROKER_AUDIENCE);
    const pipeline = await runPipeline(
      (kept) => `
include:
  - component: ${COMPONENT}
    inputs:
      provider: postgres
      broker-url: ${broker.url}
      profile: app-readonly
      audience: ${BROKER_AUDIENCE}
      ttl: 10m
      cli: ${yaml(CLI)}

variables:
  NODE_PATH: ${yaml(join(REPO, 'node_modules'))}

report:
  extends: .ephemeral-credentials
  script:
    - node check-pg.cjs
    - ${keep(kept, 'report', 'PGPASSWORD', 'DATABASE_URL')}
`,
      // A project that keeps an admin URL for other jobs: the broker job must not pass it on.
      { DATABASE_ADMIN_URL: pg.adminUrl },
      token
    );
    expect(pipeline.output).toContain('PASS  report');
    expect(pipeline.code).toBe(0);
    const log = pipeline.logs.report!;
    const user = /The broker created postgres user (\w+) /.exec(log)?.[1];
    expect(user).toBeDefined();
    expect(log).toContain(`connected {"user":"${user}","member":true,"urlUser":"${user}"}`);
    expect(log).toContain(`Revoked postgres user ${user} through ${broker.url}`);
    expect(await roleFacts(pg.adminUrl, user!)).toBeUndefined();
    const secrets = secretForms(
      ...keptLines(pipeline, 'report'),
      new URL(pg.adminUrl).password,
      token
    );
    expect(leakedLines(pipeline.output, secrets)).toEqual([]);
  });

  test('aws: the session reaches the job, and a DATABASE_ADMIN_URL of the project does not get in the way', async () => {
    const token = await issuer.mint('sts.amazonaws.com');
    const pipeline = await runPipeline(
      (kept) => `
include:
  - local: templates/ephemeral-credentials.yml
    inputs:
      provider: aws
      audience: sts.amazonaws.com
      role-to-assume: ${ROLE}
      aws-region: eu-west-2
      sts-endpoint: ${sts.endpoint}
      ttl: 15m
      cli: ${yaml(CLI)}

deploy:
  extends: .ephemeral-credentials
  script:
    - echo "region $AWS_REGION"
    - ${keep(kept, 'deploy', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN')}
`,
      { DATABASE_ADMIN_URL: pg.adminUrl },
      token
    );
    expect(pipeline.output).toContain('PASS  deploy');
    expect(pipeline.code).toBe(0);
    const issued = sts.issued.at(-1)!;
    expect(keptLines(pipeline, 'deploy')).toEqual([
      issued.accessKeyId,
      issued.secretAccessKey,
      issued.sessionToken
    ]);
    expect(pipeline.logs.deploy).toContain('region eu-west-2');
    expect(pipeline.logs.deploy).toMatch(/AWS session \S+ cannot be revoked on its own/);
    const secrets = secretForms(issued.secretAccessKey, issued.sessionToken, token);
    expect(leakedLines(pipeline.output, secrets)).toEqual([]);
  });
});
