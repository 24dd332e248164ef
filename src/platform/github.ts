import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { EOL } from 'node:os';
import { githubIdentity } from '../oidc/identity.js';
import { parseState, STATE_KEY, stringifyState } from '../state.js';
import type { Platform, SummaryFacts } from './types.js';

// The runner's workflow commands and command files are written here directly, as the runner
// documents them: importing @actions/core evaluates its HTTP client (undici) at start-up, which
// costs more than Node's own start and is needed only to fetch an OIDC token. So @actions/core
// is loaded on that path alone.

/** Escapes a workflow command's data the way the runner unescapes it. */
function escapeData(text: string): string {
  return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** The GitHub Actions runner as a platform. */
export function githubPlatform(env: NodeJS.ProcessEnv = process.env): Platform & {
  fail(message: string): void;
} {
  const command = (name: string, message: string) =>
    process.stdout.write(`::${name}::${escapeData(message)}${EOL}`);

  // GITHUB_ENV, GITHUB_OUTPUT, GITHUB_STATE: `name<<delimiter` blocks with an unguessable delimiter.
  const fileCommand = (file: string, name: string, value: string) => {
    const path = env[file];
    if (!path)
      throw new Error(`${file} is not set: this does not look like a GitHub Actions runner`);
    const delimiter = `ghadelimiter_${randomUUID()}`;
    if (name.includes(delimiter) || value.includes(delimiter))
      throw new Error(`unexpected delimiter in ${name}`);
    appendFileSync(path, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`, 'utf8');
  };

  const appendSummary = (markdown: string) => {
    if (env.GITHUB_STEP_SUMMARY)
      appendFileSync(env.GITHUB_STEP_SUMMARY, `${markdown}${EOL}`, 'utf8');
  };

  return {
    input: (name) => (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim(),
    tokens: {
      available: () =>
        Boolean(env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN),
      request: async (audience) => (await import('@actions/core')).getIDToken(audience),
      missingHint:
        'Add `permissions: id-token: write` to the job (or workflow) that uses this action.'
    },
    identity: (claims) => githubIdentity(env, claims),
    mask: (secret) => command('add-mask', secret),
    exportVariable: (name, value) => {
      fileCommand('GITHUB_ENV', name, value);
      process.env[name] = value; // as the runner's own toolkit does, for later code in this step
    },
    setOutput: (name, value) => fileCommand('GITHUB_OUTPUT', name, value),
    flush: async () => undefined, // the runner's files are written as we go
    async saveState(state) {
      fileCommand('GITHUB_STATE', STATE_KEY, stringifyState(state));
    },
    async loadState() {
      return parseState(env[`STATE_${STATE_KEY}`]);
    },
    info: (message) => process.stdout.write(`${message}${EOL}`),
    notice: (message) => command('notice', message),
    warning: (message) => command('warning', message),
    async summary(facts: SummaryFacts) {
      appendSummary(
        [
          '### Ephemeral credentials',
          '',
          '| user | roles | where | expires at |',
          '| --- | --- | --- | --- |',
          `| ${facts.who} | ${facts.grants.join(', ') || '(none)'} | ${facts.where} | ${facts.expiresAt} |`,
          ''
        ].join(EOL)
      );
    },
    async summaryNote(line: string) {
      appendSummary(`${line}${EOL}`);
    },
    fail: (message) => {
      command('error', message);
      process.exitCode = 1;
    }
  };
}
