import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import mysql, { type QueryResult, type RowDataPacket } from 'mysql2/promise';
import { freePort } from '../../src/demo/postgres.js';

/** A MySQL-protocol server for the tests, with an admin URL that may create users and events. */
export interface LocalMariaDb {
  /** `mysql://admin:…@127.0.0.1:<port>/mysql`; the database `app` exists too. */
  adminUrl: string;
  port: number;
  /** `SELECT VERSION()`, e.g. `10.11.19-MariaDB-0+deb12u1` or `8.4.6`. */
  version: string;
  stop(): Promise<void>;
}

/** CI jobs that run a MySQL or MariaDB service container name it here instead. */
const EXTERNAL_URL_ENV = 'MYSQL_TEST_ADMIN_URL';
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;

const run = promisify(execFile);

/** Runs one statement on a fresh connection and resolves its rows (or its OK packet). */
export async function mysqlQuery<T extends QueryResult = RowDataPacket[]>(
  url: string,
  sql: string,
  values: unknown[] = []
): Promise<T> {
  const conn = await mysql.createConnection(url);
  try {
    const [rows] = await conn.query<T>(sql, values);
    return rows;
  } finally {
    await conn.end();
  }
}

/** Starts a throwaway MariaDB on a free loopback port, or uses $MYSQL_TEST_ADMIN_URL when set. */
export async function startLocalMariaDb(): Promise<LocalMariaDb> {
  const external = process.env[EXTERNAL_URL_ENV];
  if (external) return useExternal(external);

  const mariadbd = await findProgram(['mariadbd']);
  const installDb = await findProgram(['mariadb-install-db', 'mysql_install_db']);
  if (!mariadbd || !installDb) {
    throw new Error(
      `MariaDB is not installed (no mariadbd or mariadb-install-db on PATH or in /usr/sbin): ` +
        `install Debian's mariadb-server, or set ${EXTERNAL_URL_ENV} to a server's admin URL`
    );
  }
  // One port can be taken between freePort() and the server's bind; a fresh one then does.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServer(mariadbd, installDb);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof PortTakenError)) throw err;
    }
  }
}

class PortTakenError extends Error {}

async function startServer(mariadbd: string, installDb: string): Promise<LocalMariaDb> {
  const dir = await mkdtemp(join(tmpdir(), 'ephemeral-credentials-mariadb-'));
  const dataDir = join(dir, 'data');
  const errorLog = join(dir, 'error.log');
  const initFile = join(dir, 'init.sql');
  // mariadbd refuses to run as root unless told to, and CI runs everything as root.
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  const cleanUp = () => rm(dir, { recursive: true, force: true });

  try {
    await run(installDb, [
      '--no-defaults', // never read /etc/mysql: the system server's paths and port stay out of it
      `--datadir=${dataDir}`,
      // socket: root may log in only over the Unix socket, so no passwordless root on TCP ever.
      '--auth-root-authentication-method=socket',
      '--skip-test-db',
      '--skip-name-resolve', // no DNS lookup of the host name, which can hang without a network
      ...asRoot
    ]);
  } catch (err) {
    await cleanUp();
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(`${installDb} failed: ${(stderr || stdout).trim().slice(-2000)}`);
  }

  const password = randomBytes(18).toString('base64url');
  const port = await freePort();
  // --init-file runs before the server takes connections (unlike --extra-file of install-db,
  // which runs without grant tables and cannot CREATE USER), so the admin exists once it answers.
  await writeFile(
    initFile,
    [
      `CREATE USER 'admin'@'%' IDENTIFIED BY ${mysql.escape(password)};`,
      `GRANT ALL PRIVILEGES ON *.* TO 'admin'@'%' WITH GRANT OPTION;`,
      'CREATE DATABASE app;',
      ''
    ].join('\n'),
    { mode: 0o600 }
  );

  const child = spawn(
    mariadbd,
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      `--tmpdir=${dir}`,
      `--socket=${join(dir, 'mariadb.sock')}`,
      `--pid-file=${join(dir, 'mariadb.pid')}`,
      `--log-error=${errorLog}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--skip-networking=0',
      '--skip-name-resolve',
      '--event-scheduler=ON', // the providers' expiry is a one-shot event: it must fire
      `--init-file=${initFile}`,
      // Throwaway data: skipping an fsync per commit makes the tests faster, not less true.
      '--innodb-flush-log-at-trx-commit=0',
      ...asRoot
    ],
    { stdio: 'ignore' }
  );
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = signal ?? `code ${code}`;
      resolve();
    });
    child.once('error', (err) => {
      exited = err.message;
      resolve();
    });
  });
  // A test runner that dies without calling stop() must not leave a server behind.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      process.removeListener('exit', killOnExit);
      if (exited === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exit;
        clearTimeout(timer);
      }
      await cleanUp();
    })());

  const adminUrl = `mysql://admin:${password}@127.0.0.1:${port}/mysql`;
  try {
    const version = await waitUntilReady(adminUrl, () => exited !== undefined);
    await rm(initFile, { force: true }); // it holds the password, and it has done its work
    return { adminUrl, port, version, stop };
  } catch (err) {
    const log = await readFile(errorLog, 'utf8').catch(() => '');
    await stop();
    if (/Address already in use|Can't start server: Bind/i.test(log)) {
      throw new PortTakenError(`port ${port} was taken`);
    }
    const why = exited ? `exited (${exited})` : (err as Error).message;
    throw new Error(
      `mariadbd did not start: ${why}\n${log.trim().split('\n').slice(-15).join('\n')}`
    );
  }
}

async function useExternal(adminUrl: string): Promise<LocalMariaDb> {
  const version = await waitUntilReady(adminUrl, () => false);
  // The mariadb image starts with the event scheduler OFF and a service container takes no
  // server flags; the expiry events need it ON, as a real deployment of this tool would have.
  const [row] = await mysqlQuery<RowDataPacket[]>(adminUrl, 'SELECT @@event_scheduler AS s');
  if (String(row?.s).toUpperCase() === 'OFF') {
    await mysqlQuery(adminUrl, 'SET GLOBAL event_scheduler = ON');
  }
  await mysqlQuery(adminUrl, 'CREATE DATABASE IF NOT EXISTS app');
  const url = new URL(adminUrl);
  return { adminUrl, port: Number(url.port || 3306), version, stop: async () => undefined };
}

/** Polls until the admin can log in; resolves the server's version. */
async function waitUntilReady(adminUrl: string, gaveUp: () => boolean): Promise<string> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    try {
      const [row] = await mysqlQuery<RowDataPacket[]>(adminUrl, 'SELECT VERSION() AS v');
      return String(row?.v);
    } catch (err) {
      if (gaveUp()) throw err;
      if (Date.now() > deadline) {
        throw new Error(
          `no connection within ${READY_TIMEOUT_MS / 1000}s: ${(err as Error).message}`
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** The first of the names that is an executable on PATH or in the sbin folders root's PATH has. */
async function findProgram(names: string[]): Promise<string | undefined> {
  const path = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  const dirs = [...path, '/usr/local/sbin', '/usr/sbin', '/sbin'];
  const candidates = names.flatMap((name) => dirs.map((dir) => join(dir, name)));
  for (const candidate of candidates) {
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false
  );
}

/**
 * The command-line client on this machine and its first arguments: `mariadb`, or MySQL's `mysql`,
 * which needs the server's key to send a caching_sha2_password over plain TCP.
 */
export async function mysqlClient(): Promise<string[]> {
  const mariadb = await findProgram(['mariadb']);
  if (mariadb) return [mariadb];
  return [(await findProgram(['mysql'])) ?? 'mysql', '--get-server-public-key'];
}
