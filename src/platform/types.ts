import type { RunIdentity } from '../oidc/identity.js';
import type { TokenSource } from '../oidc/token.js';
import type { LeaseState } from '../state.js';

/** One credential's facts for the job summary. */
export interface SummaryFacts {
  /** The user name, or the AWS session name. */
  who: string;
  /** Roles granted, or the role assumed. */
  grants: string[];
  where: string;
  expiresAt: string;
}

/** Where we run: GitHub, GitLab, a plain CLI or a test. issue and revoke only talk to this. */
export interface Platform {
  /** Reads an input or flag by its kebab-case name; "" when unset. */
  input(name: string): string;
  tokens: TokenSource;
  identity(claims?: Record<string, unknown>): RunIdentity;
  /** Hides one exact string from every later log line. */
  mask(secret: string): void;
  exportVariable(name: string, value: string): void;
  /** Delivers what was exported where the platform holds it back (the CLI's vars file or stdout). */
  flush(): Promise<void>;
  setOutput(name: string, value: string): void;
  saveState(state: LeaseState): Promise<void>;
  loadState(): Promise<LeaseState | undefined>;
  info(message: string): void;
  /** Something the user should notice that is not a problem (GitHub's ::notice::). */
  notice(message: string): void;
  warning(message: string): void;
  summary(facts: SummaryFacts): Promise<void>;
  /** Adds a line to the job summary, e.g. when the credential was revoked. */
  summaryNote(line: string): Promise<void>;
}
