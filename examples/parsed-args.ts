/**
 * What the CLI's parser makes of a command line (examples/cli-args.ts), apart from the parser so that the files
 * reading it (cli-commands.ts, cli-sources.ts) and the parser do not import each other.
 */
import type { IpmiSessionOptions } from '../lib/index.js';

export interface ParsedArgs {
  command: string | undefined;
  session: IpmiSessionOptions;
  flags: Map<string, string | true>;
  positional: string[];
}
