/**
 * The CLI's SOL and bridge commands (activate, deactivate, serve), registered by name.
 */
import type { ParsedArgs } from './cli-args.js';

export type Command = (args: ParsedArgs) => Promise<number>;

export const commands: Record<string, Command | undefined> = {};
