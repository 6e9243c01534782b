/**
 * `ipmi-sol-bridge/websocket`: the WebSocket console source itself, for building a ConsoleBridge by hand.
 * Importing this entry loads ws (an optional peer dependency: `npm install ws`); the main entry never does.
 */
export { WebSocketConsoleSource, WEBSOCKET_RELEASE_TIMEOUT_MS } from './websocket-console-source.js';
export {
  REDFISH_SESSIONS_PATH,
  DEFAULT_REDFISH_SYSTEM_PATH,
  DEFAULT_WEBSOCKET_HANDSHAKE_TIMEOUT_MS,
  MAX_WEBSOCKET_MESSAGE_BYTES,
  MAX_HTTP_BODY_BYTES,
  type WebSocketConsoleOptions,
  type WebSocketAuth,
  type WebSocketTlsOptions,
} from './websocket-options.js';
export { RelayConsoleStream } from './relay-stream.js';
