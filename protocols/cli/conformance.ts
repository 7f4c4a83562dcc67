/**
 * `rxgi conformance [URL]`: the conformance suite (rxgi/conformance) from the command line,
 * against a host that serves the fixture, or against rxgi's own `serve` of it.
 */
import { ERR } from '../../core/errors.js';
import { type Logger, logger, setLogger } from '../../core/log.js';
import { CONFORMANCE_TIMEOUTS } from '../conformance/capabilities.js';
import { CHECKS } from '../conformance/checks.js';
import { conformanceFixture } from '../conformance/fixture.js';
import { formatReport, runConformance } from '../conformance/run.js';
import { serve } from '../server/serve.js';
import { selfSignedCertificate } from '../server/tls.js';
import type { ConformanceCommand } from './args.js';

/** Run the suite and print its report; resolves with 0, or 1 when a MUST failed. */
export async function conformance(command: ConformanceCommand): Promise<number> {
  const unknown = command.only?.filter((id) => !CHECKS.some((check) => check.id === id)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(
      `rxgi: no rule "${unknown[0]}" in the suite: the ids are ${CHECKS.map((c) => c.id).join(', ')}\n`,
    );
    return 2;
  }
  const options = { caps: command.caps, only: command.only };
  if (command.url !== undefined) return report(await runConformance(command.url, options));
  // The fixture breaks the contract on purpose twice (a status of 700, an unknown event):
  // its own server would log each as an error, which here is the expected answer.
  const base = logger();
  setLogger(quietAbout(base, ERR.INVALID_EVENT));
  const tls = command.tls ? await selfSignedCertificate(['127.0.0.1', 'localhost']) : undefined;
  // The time limits the `timeouts` checks need, so that they finish in seconds.
  const server = await serve(conformanceFixture(), {
    host: '127.0.0.1',
    port: 0,
    tls,
    ...CONFORMANCE_TIMEOUTS,
  });
  try {
    return report(await runConformance(server.url, options));
  } finally {
    await server.close();
    setLogger(base);
  }
}

function report(result: Awaited<ReturnType<typeof runConformance>>): number {
  process.stdout.write(`${formatReport(result)}\n`);
  return result.ok ? 0 : 1;
}

/** `base`, without the error records of one code. */
function quietAbout(base: Logger, code: string): Logger {
  return {
    error: (message, fields) => {
      if (fields?.code !== code) base.error(message, fields);
    },
    warn: (message, fields) => base.warn(message, fields),
    info: (message, fields) => base.info(message, fields),
    debug: (message, fields) => base.debug(message, fields),
  };
}
