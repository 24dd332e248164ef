import type { RunIdentity } from '../oidc/identity.js';

/** What we store in the database to prove that this tool made a user, and for whom. */
export interface Marker {
  tool: 'ephemeral-credentials';
  version: string;
  created: string;
  expires: string;
  run: RunIdentity;
}

/** One user to create: the name and password are made by the caller, never from claims. */
export interface IssueRequest {
  username: string;
  password: string;
  roles: string[];
  database: string;
  expiresAt: Date;
  marker: Marker;
}

/** What a job receives: where to connect and the variables a client reads. */
export interface IssuedCredential {
  username: string;
  host: string;
  port: number;
  database: string;
  url: string;
  env: Record<string, string>;
  expiresAt: Date;
  /** Things the job should be told, e.g. that the server will not enforce the expiry itself. */
  notes?: string[];
}

/**
 * The promise every database provider keeps (PostgreSQL, MySQL/MariaDB).
 * Each call opens its own admin connection and closes it before returning.
 */
export interface CredentialProvider {
  /**
   * Creates a login user that the database itself refuses after expiresAt, grants the roles and
   * stores the marker. All or nothing: on any failure no user is left behind.
   */
  issue(req: IssueRequest): Promise<IssuedCredential>;
  /**
   * Ends the user's open sessions, then drops it. Resolves "absent" when the user is already
   * gone (revoking twice is not an error). Refuses a user that does not carry our marker, and
   * throws NotOwnerError when `allow` rejects the marker (a broker's check of the caller's run).
   */
  revoke(username: string, allow?: (marker: Marker) => boolean): Promise<'revoked' | 'absent'>;
  /**
   * Revokes every user that carries our marker and whose expiry has passed, and returns their
   * names; with dryRun it only lists them. Safe to run from several places at once.
   */
  sweep(options: { dryRun: boolean }): Promise<string[]>;
}

/** The caller may not revoke this user: its marker names another run. */
export class NotOwnerError extends Error {
  override name = 'NotOwnerError';
}

export const MARKER_PREFIX = 'ephemeral-credentials:v1 ';

/** Serialises a marker for a comment or attribute. */
export function encodeMarker(marker: Marker): string {
  return MARKER_PREFIX + JSON.stringify(marker);
}

/** Reads a stored marker; undefined when the text is not one of ours. */
export function decodeMarker(text: string | null | undefined): Marker | undefined {
  if (!text?.startsWith(MARKER_PREFIX)) return undefined;
  try {
    const marker = JSON.parse(text.slice(MARKER_PREFIX.length)) as Marker;
    return marker.tool === 'ephemeral-credentials' ? marker : undefined;
  } catch {
    return undefined;
  }
}
