import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import {
  CHECKS,
  CONFORMANCE_TIMEOUTS,
  conformanceFixture,
  formatReport,
  HOST_LIFECYCLE_CHECKS,
  LIFESPAN_CHECKS,
  MIDDLEWARE_CHECKS,
  runConformance,
  UNTESTABLE,
} from 'rxgi/conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from '../../../protocols/server/tls.js';
import { closeServers, start } from '../../helpers.js';
import { minimalHost } from './minimal-host.js';

afterEach(closeServers);

describe('the conformance suite against serve', () => {
  it('passes every check over cleartext (HTTP/1.1 and h2c)', async () => {
    const server = await start(conformanceFixture(), CONFORMANCE_TIMEOUTS);
    const report = await runConformance(server.url);
    expect(formatReport(report)).not.toContain('FAIL');
    // Only the checks of a TLS port are skipped on a cleartext one.
    expect(report.results.filter((r) => r.outcome === 'skip').map((r) => r.id)).toEqual([
      'tls-alpn',
      'tls-cleartext-400',
    ]);
    expect(report.ok).toBe(true);
  });

  it('passes every check over TLS (HTTP/1.1 and h2 by ALPN)', async () => {
    const tls = await selfSignedCertificate(['127.0.0.1']);
    const server = await start(conformanceFixture(), { tls, ...CONFORMANCE_TIMEOUTS });
    const report = await runConformance(server.url);
    expect(formatReport(report)).not.toContain('FAIL');
    expect(report.results.filter((r) => r.outcome === 'skip')).toEqual([]);
    expect(report.ok).toBe(true);
  });
});

describe('the conformance suite against a host written from the spec alone', () => {
  const H1_ONLY = [
    'h1',
    'trailers',
    'request-trailers',
    'early-hints',
    'tunnel-refusal',
    'continue',
    'limits',
  ] as const;
  const hosts: Server[] = [];
  afterEach(() => {
    for (const host of hosts.splice(0)) host.close();
  });

  it('passes every check the host declares, and skips the rest with the reason', async () => {
    const { server, url } = await minimalHost(conformanceFixture());
    hosts.push(server);
    const report = await runConformance(url, { caps: H1_ONLY });
    expect(formatReport(report)).not.toContain('FAIL');
    expect(report.ok).toBe(true);
    const skipped = report.results.filter((r) => r.outcome === 'skip');
    expect(skipped.map((r) => r.id)).toEqual([
      'connect-target',
      'ws-session',
      'hints-handshake',
      'ws-h2',
      'h2-body-limit',
      'h2-connection-fields',
      'h2-reset',
      'h2-abort-bare-rst',
      'ws-message-limit',
      'ws-utf8',
      'ws-ping',
      'ws-close',
      'ws-close-own',
      'tls-alpn',
      'tls-cleartext-400',
      'timeout-head',
      'timeout-body',
      'timeout-send',
    ]);
    expect(skipped[1].detail).toBe('the host does not declare websocket');
  });

  it('fails a deliberately broken host, naming the rule it breaks', async () => {
    const { server, url } = await minimalHost(conformanceFixture(), { keepNameCase: true });
    hosts.push(server);
    const report = await runConformance(url, { caps: H1_ONLY });
    expect(report.ok).toBe(false);
    expect(report.results.filter((r) => r.outcome === 'fail').map((r) => r.id)).toEqual([
      'request-fields',
    ]);
    expect(formatReport(report)).toMatch(/FAIL {2}\[request-fields\] MUST: .*\n.*x-mixed-case/);
  });
});

describe('the rule ids of the specification and the checks', () => {
  // The normative documents: SPEC.md and the bindings and extension it lists under spec/.
  const root = new URL('../../../', import.meta.url);
  const documents = [
    'SPEC.md',
    ...readdirSync(new URL('spec/', root))
      .filter((name) => name.endsWith('.md'))
      .map((name) => `spec/${name}`),
  ];
  const ruleIds = documents.flatMap((path) =>
    [...readFileSync(new URL(path, root), 'utf8').matchAll(/\*\*\[([a-z0-9-]+)\]\*\*/g)].map(
      (m) => m[1],
    ),
  );

  it('reads every normative document SPEC.md lists', () => {
    const spec = readFileSync(new URL('SPEC.md', root), 'utf8');
    const listed = [...spec.matchAll(/\]\((spec\/[a-z0-9-]+\.md)\)/g)].map((m) => m[1]);
    expect(new Set(listed)).toEqual(new Set(documents.filter((path) => path !== 'SPEC.md')));
  });

  const checks = [...CHECKS, ...MIDDLEWARE_CHECKS, ...LIFESPAN_CHECKS, ...HOST_LIFECYCLE_CHECKS];

  it('every rule id in the specification is defined once, and checked or listed untestable', () => {
    expect(ruleIds.length).toBeGreaterThan(10);
    expect(new Set(ruleIds).size).toBe(ruleIds.length);
    const checked = new Set(checks.map((check) => check.id));
    expect(ruleIds.filter((id) => !checked.has(id) && !(id in UNTESTABLE))).toEqual([]);
  });

  it('every check cites a rule id that the specification defines, each once', () => {
    const ids = checks.map((check) => check.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.filter((id) => !ruleIds.includes(id))).toEqual([]);
  });

  it('every untestable id exists, is not checked, and says why', () => {
    const ids = new Set(checks.map((check) => check.id));
    for (const [id, why] of Object.entries(UNTESTABLE)) {
      expect(ruleIds, `UNTESTABLE lists ${id}`).toContain(id);
      expect(ids.has(id), `${id} is both checked and untestable`).toBe(false);
      expect(why.length, `the reason for ${id}`).toBeGreaterThan(20);
    }
  });
});
