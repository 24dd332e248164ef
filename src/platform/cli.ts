import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { cliIdentity } from '../oidc/identity.js';
import { parseState, stringifyState } from '../state.js';
import type { Platform } from './types.js';

/** Writes a file that holds secrets: created 0600 under a temporary name, then moved into place. */
export function writePrivateFile(path: string, text: string): void {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}`);
  writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
  renameSync(temp, path);
}

/** Renders variables as `NAME='value'` lines, which `set -a; . FILE` and dotenv readers both load. */
export function renderVars(vars: Record<string, string>): string {
  return Object.entries(vars)
    .map(([name, value]) => {
      if (/['\n\r]/.test(value))
        throw new Error(`the value of ${name} cannot be written to a vars file`);
      return `${name}='${value}'\n`;
    })
    .join('');
}

/** The CLI as a platform: flags (or EPHEMERAL_CREDENTIALS_* variables) in, files and stdout out. */
export function cliPlatform(
  flags: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv = process.env,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  out: (text: string) => void = (text) => process.stdout.write(text)
): Platform & { vars: Record<string, string> } {
  const input = (name: string): string => {
    const flag = flags[name];
    if (typeof flag === 'string') return flag;
    if (flag === true) return 'true';
    return env[`EPHEMERAL_CREDENTIALS_${name.toUpperCase().replace(/-/g, '_')}`] ?? '';
  };
  const tokenVar = input('id-token-env');
  const vars: Record<string, string> = {};
  return {
    vars,
    input,
    tokens: {
      available: () => Boolean(tokenVar && env[tokenVar]),
      // A variable cannot be asked again: every attempt gets the same token.
      request: async () => env[tokenVar] ?? '',
      missingHint: tokenVar
        ? `The variable ${tokenVar} named by --id-token-env is empty; declare it under id_tokens: in the job.`
        : 'Pass --id-token-env with the variable named under id_tokens: in the GitLab job.'
    },
    identity: (claims) => cliIdentity(env, claims),
    mask: () => undefined, // nothing reads our stdout as commands; GitLab masks its own variables
    exportVariable: (name, value) => {
      vars[name] = value;
    },
    setOutput: () => undefined,
    async flush() {
      const path = input('vars-file');
      if (path) writePrivateFile(path, renderVars(vars));
      else
        out(input('format') === 'json' ? `${JSON.stringify(vars, null, 2)}\n` : renderVars(vars));
    },
    async saveState(state) {
      const path = input('state-file');
      if (path) writePrivateFile(path, `${stringifyState(state)}\n`);
    },
    async loadState() {
      const path = input('state-file');
      return path ? parseState(readFileSync(path, 'utf8')) : undefined;
    },
    info: log,
    notice: (message) => log(`notice: ${message}`),
    warning: (message) => log(`warning: ${message}`),
    summary: async () => undefined,
    summaryNote: async () => undefined
  };
}
