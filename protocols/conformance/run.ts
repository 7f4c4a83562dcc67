import type { ClientHttp2Session } from 'node:http2';
import {
  ALL_CAPABILITIES,
  type Capability,
  CHECKS,
  type Check,
  Failure,
  type Target,
} from './checks.js';
import { h2session } from './clients.js';

/** The outcome of one check. */
export interface Result {
  id: string;
  level: 'MUST' | 'SHOULD';
  title: string;
  outcome: 'pass' | 'fail' | 'skip';
  /** Why it failed, or the capabilities it needed. */
  detail: string;
}

/** Options of `runConformance`. */
export interface ConformanceOptions {
  /** What the host declares it can do; checks that need more are skipped. Default: all. */
  caps?: Iterable<Capability>;
  /** Run only the checks with these rule ids. */
  only?: string[];
  /** Milliseconds a check may take. Default 15 s. */
  timeout?: number;
  /** The checks to run. Default: every check of the suite. */
  checks?: Check[];
}

/** A conformance report: one result per check, and whether every MUST passed. */
export interface Report {
  url: string;
  results: Result[];
  ok: boolean;
}

/**
 * Check a host that serves `conformanceFixture()` at `url` against the rules of SPEC.md, over
 * the wire. Never throws for a failing host: failures are results.
 *
 * @example
 * const report = await runConformance('http://127.0.0.1:8000', { caps: ['h1', 'h2'] });
 * console.log(formatReport(report));
 */
export async function runConformance(
  url: string,
  options: ConformanceOptions = {},
): Promise<Report> {
  const caps = new Set<Capability>(options.caps ?? ALL_CAPABILITIES);
  // One HTTP/2 session shared by the checks, opened on first use; a check that broke it
  // leaves a fresh one to the next.
  const h2 = { session: null as Promise<ClientHttp2Session> | null };
  const target: Target = {
    url: url.replace(/\/$/, ''),
    caps,
    h2: () => {
      h2.session ??= h2session(url);
      return h2.session;
    },
  };
  const alive = async () => {
    const session = await h2.session?.catch(() => null);
    return session !== undefined && session !== null && !session.destroyed && !session.closed;
  };
  const results: Result[] = [];
  const timeout = options.timeout ?? 15_000;
  try {
    for (const check of options.checks ?? CHECKS) {
      if (options.only !== undefined && !options.only.includes(check.id)) continue;
      results.push(await runOne(check, target, timeout));
      if (!(await alive())) h2.session = null;
    }
  } finally {
    (await h2.session?.catch(() => null))?.close();
  }
  return { url, results, ok: results.every((r) => r.outcome !== 'fail' || r.level !== 'MUST') };
}

async function runOne(check: Check, target: Target, timeout: number): Promise<Result> {
  const { id, level, title } = check;
  if (check.https && !target.url.startsWith('https:'))
    return { id, level, title, outcome: 'skip', detail: 'the check needs an https: URL' };
  const missing = check.needs.filter((need) => !target.caps.has(need));
  if (missing.length > 0)
    return {
      id,
      level,
      title,
      outcome: 'skip',
      detail: `the host does not declare ${missing.join(', ')}`,
    };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Failure(`no verdict within ${timeout} ms`)), timeout);
  });
  try {
    await Promise.race([check.run(target), late]);
    return { id, level, title, outcome: 'pass', detail: '' };
  } catch (error) {
    const detail =
      error instanceof Failure
        ? error.message
        : `the exchange failed: ${(error as Error)?.message ?? error}`;
    return { id, level, title, outcome: 'fail', detail };
  } finally {
    clearTimeout(timer);
  }
}

/** The report as lines for a terminal: one per rule, then a summary. */
export function formatReport(report: Report): string {
  const lines = [`rxgi conformance: ${report.url}`];
  for (const r of report.results) {
    const mark = r.outcome === 'pass' ? 'pass' : r.outcome === 'skip' ? 'skip' : 'FAIL';
    lines.push(
      `${mark}  [${r.id}] ${r.level}: ${r.title}${r.detail ? `\n        ${r.detail}` : ''}`,
    );
  }
  const count = (outcome: Result['outcome']) =>
    report.results.filter((r) => r.outcome === outcome).length;
  const failedMust = report.results.filter(
    (r) => r.outcome === 'fail' && r.level === 'MUST',
  ).length;
  lines.push(
    `${count('pass')} passed, ${count('fail')} failed (${failedMust} MUST), ${count('skip')} skipped`,
  );
  return lines.join('\n');
}
