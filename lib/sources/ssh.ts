/**
 * `ipmi-sol-bridge/ssh`: the SSH console source itself, for building a ConsoleBridge by hand. Importing this
 * entry loads ssh2 (an optional peer dependency: `npm install ssh2`); the main entry never does.
 */
export { SshConsoleSource } from './ssh-console-source.js';
export {
  SSH_VENDOR_COMMANDS,
  DEFAULT_SSH_KEEPALIVE_MS,
  DEFAULT_SSH_KEEPALIVE_COUNT_MAX,
  DEFAULT_SSH_READY_TIMEOUT_MS,
  SSH_RELEASE_TIMEOUT_MS,
  type SshConsoleOptions,
  type SshHostKeyOptions,
  type SshVendor,
} from './ssh-options.js';
export { sshFingerprint, checkKnownHosts, MAX_KNOWN_HOSTS_BYTES, type HostKeyVerdict } from './host-keys.js';
export { RelayConsoleStream } from './relay-stream.js';
