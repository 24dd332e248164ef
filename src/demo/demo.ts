import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { issue } from '../issue.js';
import { cliPlatform } from '../platform/cli.js';
import { revoke } from '../revoke.js';
import { readSettings } from '../settings.js';
import { errorMessage } from '../util/errors.js';
import { startLocalIssuer } from './issuer.js';
import { startLocalPostgres } from './postgres.js';

/** The whole life of one credential on this machine, told step by step. */
export async function runDemo(say: (line: string) => void): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ephemeral-credentials-demo-'));
  say('1. Starting an embedded PostgreSQL on 127.0.0.1 ...');
  const db = await startLocalPostgres();
  const issuerServer = await startLocalIssuer({
    repository: 'acme/app',
    repository_id: '123456789',
    run_id: '4242',
    run_attempt: '1',
    workflow: 'ci',
    ref: 'refs/heads/main',
    actor: 'octocat',
    sub: 'repo:acme/app:ref:refs/heads/main'
  });
  try {
    say(
      `   PostgreSQL listens on port ${db.port}. Creating role app_readonly and a table it may read.`
    );
    await withClient(db.adminUrl, (c) =>
      c.query(`CREATE ROLE app_readonly NOLOGIN;
               CREATE TABLE orders (id int PRIMARY KEY, item text);
               INSERT INTO orders VALUES (1, 'coffee'), (2, 'tea');
               GRANT SELECT ON orders TO app_readonly;`)
    );

    say(`2. A local OIDC issuer at ${issuerServer.issuer} signs a token for run 4242 of acme/app.`);
    const env = { DEMO_ID_TOKEN: await issuerServer.mint('ephemeral-credentials') };
    const platform = cliPlatform(
      {
        provider: 'postgres',
        'admin-url': db.adminUrl,
        roles: 'app_readonly',
        ttl: '15m',
        'id-token-env': 'DEMO_ID_TOKEN',
        'vars-file': join(dir, 'job.env'),
        'state-file': join(dir, 'state.json')
      },
      env,
      (line) => say(`   ${line}`)
    );

    say('3. Issuing a credential for this job ...');
    const credential = (await issue(readSettings(platform.input), platform))!;
    const shownUrl = new URL(credential.url);
    shownUrl.password = '***';
    say(
      `   DATABASE_URL=${shownUrl.href}   (the password is 43 random characters, masked in CI logs)`
    );

    say('4. Connecting as the new user ...');
    const { rows } = await withClient(credential.url, (c) =>
      c.query<{ user: string; items: string }>(
        `SELECT current_user AS user, string_agg(item, ', ') AS items FROM orders`
      )
    );
    say(`   connected as ${rows[0]!.user}; it can read orders: ${rows[0]!.items}`);
    const marker = await withClient(db.adminUrl, (c) =>
      c.query<{ valid: Date; marker: string }>(
        `SELECT rolvaliduntil AS valid, shobj_description(oid, 'pg_authid') AS marker FROM pg_roles WHERE rolname = $1`,
        [credential.username]
      )
    );
    say(
      `   PostgreSQL itself refuses it after ${marker.rows[0]!.valid.toISOString()} (VALID UNTIL).`
    );
    say(`   marker on the role: ${marker.rows[0]!.marker}`);

    say('5. Revoking at the end of the job ...');
    const state = await platform.loadState();
    await revoke(state!, platform);

    say('6. Connecting again with the same credential ...');
    try {
      await withClient(credential.url, (c) => c.query('SELECT 1'));
      throw new Error('the revoked credential still connects');
    } catch (err) {
      if (errorMessage(err) === 'the revoked credential still connects') throw err;
      say(`   refused, as it should be: ${errorMessage(err)}`);
    }
    say('Done: the credential lived only as long as the job.');
  } finally {
    await issuerServer.close();
    await db.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
