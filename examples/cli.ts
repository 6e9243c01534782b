#!/usr/bin/env node
/**
 * ipmi-sol-bridge: the example single-node CLI. Flags follow ipmitool's (see USAGE).
 * On failure it prints one line, `CODE: sentence`, on stderr and exits non-zero; the password never appears.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import createDebug from 'debug';
import { IpmiError, IpmiSession } from '../lib/index.js';
import { checkCommandLine, COMMAND_USAGE, parseArgs, requireConnection, USAGE, type ParsedArgs } from './cli-args.js';
import { closeQuietly, commands } from './cli-commands.js';

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
    await closeQuietly(session);
  }
  return EXIT_OK;
}

/** The debug namespaces `-v` turns on (the library logs under ipmi:rmcp, ipmi:session, ipmi:sol, ipmi:bridge). */
export const VERBOSE_NAMESPACES = 'ipmi:*';

/** This package's version, from the package.json next to the sources (examples/) or the build (dist/examples/). */
export function packageVersion(): string {
  for (const up of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ipmi-sol-bridge' && pkg.version) return pkg.version;
    } catch {
      // not this one
    }
  }
  return 'unknown';
}

export async function main(argv: string[]): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseArgs(argv);
    checkCommandLine(args);
  } catch (err) {
    return fail(err);
  }
  if (args.flags.has('--version')) {
    process.stdout.write(`ipmi-sol-bridge ${packageVersion()}\n`);
    return EXIT_OK;
  }
  const help = args.flags.has('-h') || args.flags.has('--help');
  if (args.command === 'help' || help) {
    const topic = args.command === 'help' ? args.positional[0] : args.command;
    process.stdout.write((topic !== undefined && COMMAND_USAGE[topic]) || USAGE);
    return EXIT_OK;
  }
  if (args.command === undefined) return fail(new IpmiError('IPMI_ERR_BAD_ARGUMENT', 'a command is required: info, activate, deactivate or serve (try --help)'));
  if (args.flags.has('-v')) createDebug.enable(VERBOSE_NAMESPACES);
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
  // The last resort of "one line, never a stack trace": a rejection or exception nothing else caught.
  const lastResort = (err: unknown) => {
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
    process.exitCode = fail(err);
    process.exit();
  };
  process.on('unhandledRejection', lastResort);
  process.on('uncaughtException', lastResort);
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      process.exitCode = fail(err);
    },
  );
}
