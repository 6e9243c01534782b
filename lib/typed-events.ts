/**
 * Typed `on`/`once`/`off` for the library's emitters: a class lists its events as a map of listener types and
 * overrides the three methods with `TypedListen<Events, this>` signatures, so `stream.on('close', (reason) => ...)`
 * types `reason` under `strict`. Events not in the map keep Node's own (untyped) signature.
 */
import { EventEmitter } from 'node:events';

/** Any listener, as Node's EventEmitter types it (the catch-all overload). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyListener = (...args: any[]) => void;

/** An event map: event name -> listener type. */
export type EventMap<E> = { [K in keyof E]: AnyListener };

/*
 * For a plain emitter (not a stream): TypedEventEmitter<Args>, where Args maps each event name to the tuple of
 * its listener's arguments. `on`/`once`/`off`/`emit`/`listenerCount` then accept only the declared names and
 * type each listener, so `bridge.on('state', (state, previous) => ...)` needs no annotation and a misspelt event
 * does not compile. Pure typing over Node's own generic EventEmitter (@types/node >= 20.11): no runtime cost,
 * still an EventEmitter for `events.once()` / `events.on()`.
 *
 *   interface DoorEvents { open: [by: string]; close: [] }
 *   class Door extends TypedEventEmitter<DoorEvents> {}
 */
/** Event name -> the tuple of its listener's arguments. */
export type EventArgs<T> = { [K in keyof T]: unknown[] };

export class TypedEventEmitter<T extends EventArgs<T>> extends EventEmitter<T> {}
