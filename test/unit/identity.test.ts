import { describe, expect, test } from '@jest/globals';
import { hostname } from 'node:os';
import { cliIdentity, githubIdentity, runKey } from '../../src/oidc/identity.js';

const githubEnv = {
  GITHUB_ACTIONS: 'true',
  GITHUB_REPOSITORY: 'acme/app',
  GITHUB_REPOSITORY_ID: '123456789',
  GITHUB_RUN_ID: '9876543210',
  GITHUB_RUN_ATTEMPT: '1',
  GITHUB_WORKFLOW: 'CI',
  GITHUB_REF: 'refs/heads/main',
  GITHUB_ACTOR: 'octocat',
  GITHUB_JOB: 'migrate'
};

const githubClaims = {
  iss: 'https://token.actions.githubusercontent.com',
  sub: 'repo:acme/app:ref:refs/heads/main',
  repository: 'acme/app',
  repository_id: '123456789',
  run_id: '9876543210',
  run_attempt: '1',
  workflow: 'CI',
  ref: 'refs/heads/main',
  actor: 'octocat'
};

const gitlabEnv = {
  GITLAB_CI: 'true',
  CI_PROJECT_PATH: 'acme/app',
  CI_PROJECT_ID: '42',
  CI_JOB_ID: '7001',
  CI_PIPELINE_ID: '900',
  CI_COMMIT_REF_NAME: 'main',
  GITLAB_USER_LOGIN: 'dev',
  CI_JOB_NAME: 'migrate'
};

describe('githubIdentity', () => {
  test('takes the run facts from the token claims when there is a token', () => {
    expect(githubIdentity(githubEnv, githubClaims)).toEqual({
      platform: 'github',
      source: 'oidc',
      repository: 'acme/app',
      repository_id: '123456789',
      run_id: '9876543210',
      run_attempt: '1',
      workflow: 'CI',
      ref: 'refs/heads/main',
      actor: 'octocat',
      job: 'migrate',
      sub: 'repo:acme/app:ref:refs/heads/main'
    });
  });

  test('trusts the signed claims over environment variables that say otherwise', () => {
    const spoofed = {
      ...githubEnv,
      GITHUB_REPOSITORY: 'evil/fork',
      GITHUB_REPOSITORY_ID: '666',
      GITHUB_RUN_ID: '1'
    };
    const identity = githubIdentity(spoofed, githubClaims);
    expect(identity).toMatchObject({
      repository: 'acme/app',
      repository_id: '123456789',
      run_id: '9876543210'
    });
  });

  test('reads numeric claims as text', () => {
    const identity = githubIdentity(
      {},
      { ...githubClaims, repository_id: 123456789, run_id: 9876543210, run_attempt: 2 }
    );
    expect(identity).toMatchObject({
      repository_id: '123456789',
      run_id: '9876543210',
      run_attempt: '2'
    });
  });

  test("falls back to the runner's GITHUB_* variables without a token", () => {
    expect(githubIdentity(githubEnv)).toEqual({
      platform: 'github',
      source: 'env',
      repository: 'acme/app',
      repository_id: '123456789',
      run_id: '9876543210',
      run_attempt: '1',
      workflow: 'CI',
      ref: 'refs/heads/main',
      actor: 'octocat',
      job: 'migrate'
    });
  });

  test('leaves out facts that are missing or empty', () => {
    const identity = githubIdentity({
      GITHUB_REPOSITORY: 'acme/app',
      GITHUB_REPOSITORY_ID: '',
      GITHUB_RUN_ID: '5'
    });
    expect(identity).toEqual({
      platform: 'github',
      source: 'env',
      repository: 'acme/app',
      run_id: '5'
    });
  });
});

describe('runKey', () => {
  test('is the same for a run whether it is read from the token or from the environment', () => {
    expect(runKey(githubIdentity(githubEnv, githubClaims))).toBe(runKey(githubIdentity(githubEnv)));
  });

  test('is the same for every job and step of one run attempt', () => {
    const a = githubIdentity(
      { ...githubEnv, GITHUB_JOB: 'build' },
      { ...githubClaims, ref: 'refs/heads/x' }
    );
    const b = githubIdentity(
      { ...githubEnv, GITHUB_JOB: 'deploy' },
      { ...githubClaims, actor: 'someone' }
    );
    expect(runKey(a)).toBe(runKey(b));
    expect(runKey(a)).toBe(runKey(githubIdentity(githubEnv, githubClaims)));
  });

  test('differs between runs, attempts, repositories and platforms', () => {
    const base = githubIdentity(githubEnv, githubClaims);
    const keys = [
      base,
      { ...base, run_attempt: '2' },
      { ...base, run_id: '9876543211' },
      { ...base, repository_id: '123456780' },
      { ...base, platform: 'gitlab' as const }
    ].map(runKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  test('tells repositories apart by name when no id is known', () => {
    const a = githubIdentity({
      GITHUB_REPOSITORY: 'acme/app',
      GITHUB_RUN_ID: '5',
      GITHUB_RUN_ATTEMPT: '1'
    });
    const b = githubIdentity({
      GITHUB_REPOSITORY: 'acme/other',
      GITHUB_RUN_ID: '5',
      GITHUB_RUN_ATTEMPT: '1'
    });
    expect(runKey(a)).not.toBe(runKey(b));
  });
});

describe('cliIdentity', () => {
  test('is the GitHub identity on a GitHub runner', () => {
    expect(cliIdentity(githubEnv)).toEqual(githubIdentity(githubEnv));
    expect(cliIdentity(githubEnv, githubClaims)).toEqual(githubIdentity(githubEnv, githubClaims));
  });

  test('recognises a GitHub token anywhere by its run_id claim', () => {
    expect(cliIdentity({}, githubClaims)).toMatchObject({
      platform: 'github',
      source: 'oidc',
      repository_id: '123456789'
    });
  });

  test('reads a GitLab job from its CI_* variables: project and job ids play repository and run', () => {
    expect(cliIdentity(gitlabEnv)).toEqual({
      platform: 'gitlab',
      source: 'env',
      repository: 'acme/app',
      repository_id: '42',
      run_id: '7001',
      pipeline: '900',
      ref: 'main',
      actor: 'dev',
      job: 'migrate'
    });
  });

  test("takes a GitLab job's facts from its id token, over the variables", () => {
    const claims = {
      sub: 'project_path:acme/app:ref_type:branch:ref:main',
      project_id: '42',
      project_path: 'acme/app',
      job_id: '7001',
      pipeline_id: '900',
      ref: 'main',
      user_login: 'dev'
    };
    const identity = cliIdentity({ ...gitlabEnv, CI_PROJECT_ID: '1', CI_JOB_ID: '2' }, claims);
    expect(identity).toMatchObject({
      platform: 'gitlab',
      source: 'oidc',
      repository_id: '42',
      run_id: '7001',
      sub: 'project_path:acme/app:ref_type:branch:ref:main'
    });
    expect(runKey(identity)).toBe(runKey(cliIdentity(gitlabEnv)));
  });

  test('gives two GitLab jobs of one pipeline different run keys', () => {
    expect(runKey(cliIdentity({ ...gitlabEnv, CI_JOB_ID: '7002' }))).not.toBe(
      runKey(cliIdentity(gitlabEnv))
    );
  });

  test('describes this machine and process outside CI, with a stable run key', () => {
    const identity = cliIdentity({ USER: 'alice' });
    expect(identity).toMatchObject({ platform: 'local', source: 'env', actor: 'alice' });
    expect(identity.run_id).toBe(`${hostname()}:${process.pid}`);
    expect(runKey(cliIdentity({ USER: 'alice' }))).toBe(runKey(identity));
  });
});
