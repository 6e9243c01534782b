// Loaded with `node --import` by optional-dependencies.spec.ts: makes `ssh2` and `ws` unresolvable, exactly as
// for a user who installed only ipmi-sol-bridge (Node's own error: ERR_MODULE_NOT_FOUND, "Cannot find package").
import { register } from 'node:module';

const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier === 'ssh2' || specifier === 'ws' || specifier.startsWith('ssh2/') || specifier.startsWith('ws/')) {
    const error = new Error("Cannot find package '" + specifier.split('/')[0] + "' imported from " + context.parentURL);
    error.code = 'ERR_MODULE_NOT_FOUND';
    throw error;
  }
  return next(specifier, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
