#!/usr/bin/env node
/**
 * ipmi-sol-bridge: the example single-node CLI. Flags follow ipmitool's (see USAGE).
 * On failure it prints one line, `CODE: sentence`, on stderr and exits non-zero; the password never appears.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { IpmiError } from '../lib/errors.js';
import { IpmiSession } from '../lib/session/rmcpplus-session.js';
import { parseArgs, requireConnection, USAGE, type ParsedArgs } from './cli-args.js';
import { commands } from './cli-commands.js';

/** Exit codes: 0 ok, 1 a BMC or runtime error, 2 bad arguments. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export async function info(args: ParsedArgs): Promise<number> {
  requireConnection(args);
  const session = await IpmiSession.open(args.session);
  try {
    const device = await session.getDeviceId();
    const out = {
      host: session.host,
      port: session.port,
      cipherSuite: session.cipherSuite,
      privilege: session.privilege,
      deviceId: device.deviceId,
      deviceRevision: device.deviceRevision,
      firmwareRevision: device.firmwareRevision,
      ipmiVersion: device.ipmiVersion,
      manufacturerId: device.manufacturerId,
      productId: device.productId,
      deviceAvailable: device.deviceAvailable,
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    await session.close();
  }
  return EXIT_OK;
}

export async function main(argv: string[]): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    return fail(err);
  }
  if (args.flags.has('-h') || args.flags.has('--help') || args.command === undefined || args.command === 'help') {
    process.stdout.write(USAGE);
    return args.command === undefined && !args.flags.has('-h') && !args.flags.has('--help') ? EXIT_USAGE : EXIT_OK;
  }
  const run = args.command === 'info' ? info : commands[args.command];
  if (!run) return fail(new IpmiError('IPMI_ERR_BAD_ARGUMENT', `unknown command "${args.command}" (try --help)`));
  try {
    return await run(args);
  } catch (err) {
    return fail(err);
  }
}

export function fail(err: unknown): number {
  if (err instanceof IpmiError) {
    process.stderr.write(`${err.code}: ${err.message}\n`);
    return err.code === 'IPMI_ERR_BAD_ARGUMENT' ? EXIT_USAGE : EXIT_FAILURE;
  }
  process.stderr.write(`IPMI_ERR_INTERNAL: ${(err as Error)?.message ?? String(err)}\n`);
  return EXIT_FAILURE;
}

/** Run when executed directly, also through npm's bin symlink (node_modules/.bin/ipmi-sol-bridge). */
function isMain(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.exitCode = fail(err);
    },
  );
}
