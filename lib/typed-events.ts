/**
 * Typed `on`/`once`/`off` for the library's emitters: a class lists its events as a map of listener types and
 * overrides the three methods with `TypedListen<Events, this>` signatures, so `stream.on('close', (reason) => ...)`
 * types `reason` under `strict`. Events not in the map keep Node's own (untyped) signature.
 */

/** Any listener, as Node's EventEmitter types it (the catch-all overload). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyListener = (...args: any[]) => void;

/** An event map: event name -> listener type. */
export type EventMap<E> = { [K in keyof E]: AnyListener };
