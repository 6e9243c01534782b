/**
 * `serve --config nodes.json`: many nodes, one process, one file (the conserver replacement an operator without
 * Ironic can run). The file is JSON:
 *
 *   {
 *     "address": "127.0.0.1",            listen address of every console (default 127.0.0.1)
 *     "portRange": "10000:20000",        ports for nodes without "listenPort" (Ironic's syntax)
 *     "logDir": "/var/log/ipmi-consoles", console log files (nodes with "log": true; needs capture)
 *     "defaults": { ...any node field but "id" },
 *     "nodes": [
 *       { "id": "node-1", "host": "10.0.0.5", "username": "admin", "passwordFile": "/etc/ipmi/node-1.pw",
 *         "listenPort": 10001, "capture": true, "log": true, "replay": "50lines", "extraClients": "spectate" }
 *     ]
 *   }
 *
 * Node fields: id, host, port (BMC UDP port), username, passwordFile | passwordEnv (the password itself is never
 * in the file), kgFile | kgEnv, cipherSuite, privilege, solInstance, listenPort, capture, log, logTimestamps, replay
 * ('4KiB', '50lines'), extraClients ('refuse' | 'spectate' | 'takeover'), maxClients.
 *
 * Reloading (SIGHUP): nodes added are started, removed are stopped, changed (any field, or the password file's
 * content) are restarted; the others are untouched. A file that does not parse leaves everything as it was.
 * Log lines name nodes and fields, never a password or a key.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  IpmiError,
  parseCipherSuite,
  parseReplay,
  type ConsoleInfo,
  type ConsoleManager,
  type ExtraClientPolicy,
  type IpmiConsoleOptions,
  type StartConsoleOptions,
} from '../lib/index.js';

/** With `extraClients: 'spectate'` and no maxClients: one writer and up to 7 spectators. */
export const DEFAULT_SPECTATE_MAX_CLIENTS = 8;

const NODE_FIELDS = new Set([
  'id', 'host', 'port', 'username', 'passwordFile', 'passwordEnv', 'kgFile', 'kgEnv', 'cipherSuite', 'privilege', 'solInstance',
  'listenPort', 'capture', 'log', 'logTimestamps', 'replay', 'extraClients', 'maxClients',
]);
const TOP_FIELDS = new Set(['address', 'portRange', 'logDir', 'defaults', 'nodes']);

export interface ConfiguredNode {
  id: string;
  bmcOptions: IpmiConsoleOptions;
  start: StartConsoleOptions;
  /** sha256 of everything that defines the node, the password included: equal fingerprints, same console */
  fingerprint: string;
}

export interface ServeConfig {
  address: string;
  portRange: string | undefined;
  logDir: string | undefined;
  nodes: ConfiguredNode[];
}

function bad(where: string, message: string): IpmiError {
  return new IpmiError('IPMI_ERR_BAD_ARGUMENT', `${where}: ${message}`);
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field<T>(node: Json, name: string, where: string, check: (v: unknown) => v is T, expected: string): T | undefined {
  const value = node[name];
  if (value === undefined) return undefined;
  if (!check(value)) throw bad(where, `${name} must be ${expected}`);
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
const isPort = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;

function readSecret(node: Json, fileField: string, envField: string, env: NodeJS.ProcessEnv, where: string): string | undefined {
  const file = field(node, fileField, where, isString, 'a file name');
  const name = field(node, envField, where, isString, 'an environment variable name');
  if (file !== undefined && name !== undefined) throw bad(where, `give ${fileField} or ${envField}, not both`);
  if (name !== undefined) {
    const value = env[name];
    if (value === undefined) throw bad(where, `${envField}: the environment variable ${name} is not set`);
    return value;
  }
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '';
  } catch (error) {
    throw bad(where, `${fileField}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function viewersOf(node: Json, where: string): StartConsoleOptions['viewers'] {
  const extra = field(node, 'extraClients', where, (v): v is ExtraClientPolicy => v === 'refuse' || v === 'spectate' || v === 'takeover', "'refuse', 'spectate' or 'takeover'");
  const max = field(node, 'maxClients', where, isCount, 'a positive integer');
  if (extra === undefined && max === undefined) return undefined;
  return { onExtra: extra ?? 'refuse', max: max ?? (extra === 'spectate' ? DEFAULT_SPECTATE_MAX_CLIENTS : 1) };
}

function resolveNode(raw: Json, logDir: string | undefined, env: NodeJS.ProcessEnv): ConfiguredNode {
  const id = raw.id;
  if (!isString(id)) throw bad('config', 'every node needs an "id" (a non-empty string)');
  const where = `node ${id}`;
  for (const key of Object.keys(raw)) if (!NODE_FIELDS.has(key)) throw bad(where, `unknown field ${key}`);
  const host = field(raw, 'host', where, isString, 'the BMC address');
  const username = field(raw, 'username', where, (v): v is string => typeof v === 'string', 'a string');
  if (host === undefined || username === undefined) throw bad(where, 'host and username are required');
  const password = readSecret(raw, 'passwordFile', 'passwordEnv', env, where);
  if (password === undefined) throw bad(where, 'a password is required: passwordFile or passwordEnv');
  const kg = readSecret(raw, 'kgFile', 'kgEnv', env, where);
  const suite = raw.cipherSuite;
  const bmcOptions: IpmiConsoleOptions = {
    host,
    username,
    password,
    ...(field(raw, 'port', where, isPort, 'a UDP port') !== undefined ? { port: raw.port as number } : {}),
    ...(kg !== undefined ? { kg } : {}),
    ...(suite !== undefined ? { cipherSuite: parseCipherSuite(String(suite)) } : {}),
    ...(raw.privilege !== undefined ? { privilege: field(raw, 'privilege', where, (v): v is 'user' | 'operator' | 'administrator' => v === 'user' || v === 'operator' || v === 'administrator', "'user', 'operator' or 'administrator'") } : {}),
    ...(raw.solInstance !== undefined ? { solInstance: field(raw, 'solInstance', where, isCount, 'a positive integer') } : {}),
  };
  const capture = field(raw, 'capture', where, isBoolean, 'true or false');
  const log = field(raw, 'log', where, isBoolean, 'true or false');
  if (log && logDir === undefined) throw bad(where, 'log: true needs "logDir" at the top of the file');
  const replay = field(raw, 'replay', where, isString, "a size like '4KiB' or '50lines'");
  const timestamps = field(raw, 'logTimestamps', where, isBoolean, 'true or false');
  const viewers = viewersOf(raw, where);
  const start: StartConsoleOptions = {
    ...(raw.listenPort !== undefined ? { port: field(raw, 'listenPort', where, isPort, 'a TCP port') } : {}),
    ...(capture !== undefined ? { capture } : {}),
    ...(log ? { logDir, log: { timestamps: timestamps ?? false } } : {}),
    ...(replay !== undefined ? { replay: parseReplay(replay) } : {}),
    ...(viewers ? { viewers } : {}),
  };
  const fingerprint = createHash('sha256').update(JSON.stringify({ bmcOptions, start })).digest('hex');
  return { id, bmcOptions, start, fingerprint };
}

/** A node's fields over the defaults; a node naming one source of a secret drops the defaults' other one. */
function withDefaults(defaults: Json, node: Json): Json {
  const merged = { ...defaults, ...node };
  for (const pair of [['passwordFile', 'passwordEnv'], ['kgFile', 'kgEnv']]) {
    const own = pair.filter((key) => key in node);
    if (own.length > 0) for (const key of pair) if (!own.includes(key)) delete merged[key];
  }
  return merged;
}

/** Parse and check a config file's text; secrets are read from their files and variables now. */
export function parseServeConfig(text: string, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw bad('config', `not JSON (${(error as Error).message})`);
  }
  if (!isObject(raw)) throw bad('config', 'the file must hold one JSON object');
  for (const key of Object.keys(raw)) if (!TOP_FIELDS.has(key)) throw bad('config', `unknown field ${key}`);
  const address = field(raw, 'address', 'config', isString, 'an address') ?? '127.0.0.1';
  const portRange = field(raw, 'portRange', 'config', isString, "a range like '10000:20000'");
  const logDir = field(raw, 'logDir', 'config', isString, 'a directory');
  const defaults = raw.defaults ?? {};
  if (!isObject(defaults) || 'id' in defaults) throw bad('config', 'defaults must be an object of node fields (no id)');
  if (!Array.isArray(raw.nodes)) throw bad('config', 'nodes must be an array');
  const nodes = raw.nodes.map((node: unknown) => {
    if (!isObject(node)) throw bad('config', 'every node must be an object');
    return resolveNode(withDefaults(defaults, node), logDir, env);
  });
  const ids = new Set<string>();
  for (const { id } of nodes) {
    if (ids.has(id)) throw bad('config', `node ${id} is listed twice`);
    ids.add(id);
  }
  return { address, portRange, logDir, nodes };
}

export function loadServeConfig(file: string, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw bad('config', `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseServeConfig(text, env);
}

export interface ConfigDiff {
  added: ConfiguredNode[];
  removed: string[];
  changed: ConfiguredNode[];
}

export function diffConfigs(before: readonly ConfiguredNode[], after: readonly ConfiguredNode[]): ConfigDiff {
  const old = new Map(before.map((n) => [n.id, n]));
  const next = new Set(after.map((n) => n.id));
  return {
    added: after.filter((n) => !old.has(n.id)),
    removed: before.filter((n) => !next.has(n.id)).map((n) => n.id),
    changed: after.filter((n) => old.has(n.id) && old.get(n.id)!.fingerprint !== n.fingerprint),
  };
}

/**
 * Applies configs to a ConsoleManager, one after another: the first starts every node, each later one only
 * what changed. One log line per node touched (`node-1: started tcp://...`, `node-2: CODE: sentence`).
 */
export class ConfigRunner {
  readonly #manager: ConsoleManager;
  readonly #log: (line: string) => void;
  #nodes: ConfiguredNode[] = [];

  constructor(manager: ConsoleManager, log: (line: string) => void) {
    this.#manager = manager;
    this.#log = log;
  }

  get nodes(): readonly ConfiguredNode[] {
    return this.#nodes;
  }

  /** Bring the running consoles in line with `config`. Never rejects for one node's failure. */
  async apply(config: ServeConfig): Promise<ConfigDiff> {
    const diff = diffConfigs(this.#nodes, config.nodes);
    for (const id of diff.removed) {
      await this.#manager.stopConsole(id);
      this.#log(`${id}: stopped`);
    }
    const applied = new Map(this.#nodes.filter((n) => !diff.removed.includes(n.id)).map((n) => [n.id, n]));
    for (const node of [...diff.changed, ...diff.added]) {
      const verb = applied.has(node.id) ? 'restarted' : 'started';
      try {
        const info: ConsoleInfo = await this.#manager.startConsole(node.id, node.bmcOptions, node.start);
        applied.set(node.id, node);
        this.#log(`${node.id}: ${verb} ${info.url}`);
      } catch (error) {
        const e = error as IpmiError;
        if (verb === 'restarted') applied.delete(node.id); // startConsole stopped the old console first
        this.#log(`${node.id}: ${e.code ?? 'IPMI_ERR_SOCKET'}: ${e.message}`);
      }
    }
    this.#nodes = [...applied.values()];
    return diff;
  }
}
