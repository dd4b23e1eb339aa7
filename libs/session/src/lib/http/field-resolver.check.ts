import type { ModulesContainer, Reflector } from '@nestjs/core';

import { RequireRecentAuth } from './require-recent-auth.decorator';
import { Roles } from './roles.decorator';

// `@nestjs/graphql`'s metadata keys and options token, read without importing it.
const RESOLVE_FIELD_METADATA = 'graphql:resolve_property';
const GRAPHQL_MODULE_OPTIONS = 'GqlModuleOptions';

/**
 * The field resolvers (`@ResolveField`) that name a requirement, on the handler or its class
 * (`@Roles`, `@RequireRecentAuth`), while GraphQL runs no guard on them: Nest's GraphQL module
 * guards field resolvers only when its `fieldResolverEnhancers` lists `'guards'`, and otherwise
 * resolves the field for anyone who reached its parent. Each as `Class.method`.
 */
export function unguardedFieldResolvers(modules: ModulesContainer, reflector: Reflector): string[] {
  const wrappers = [...modules.values()].flatMap((module) => [...module.providers.values()]);
  const options = wrappers.find(({ token }) => token === GRAPHQL_MODULE_OPTIONS)?.instance as
    | { fieldResolverEnhancers?: unknown }
    | undefined;
  const enhancers = options?.fieldResolverEnhancers;
  if (!options || (Array.isArray(enhancers) && enhancers.includes('guards'))) {
    return [];
  }
  const found = new Set<string>();
  for (const { metatype, instance } of wrappers) {
    if (typeof metatype !== 'function' || !instance || typeof instance !== 'object') {
      continue;
    }
    for (const [name, handler] of methodsOf(Object.getPrototypeOf(instance))) {
      if (
        reflector.get<boolean | undefined>(RESOLVE_FIELD_METADATA, handler) === true &&
        [handler, metatype].some(
          (target) =>
            reflector.get(Roles, target) !== undefined ||
            reflector.get(RequireRecentAuth, target) !== undefined,
        )
      ) {
        found.add(`${metatype.name}.${name}`);
      }
    }
  }
  return [...found];
}

/** The methods of a prototype chain, up to `Object.prototype`, read without calling getters. */
function methodsOf(prototype: object | null): Map<string, () => unknown> {
  const methods = new Map<string, () => unknown>();
  for (let at = prototype; at && at !== Object.prototype; at = Object.getPrototypeOf(at)) {
    for (const name of Object.getOwnPropertyNames(at)) {
      const { value } = Object.getOwnPropertyDescriptor(at, name) ?? {};
      if (name !== 'constructor' && typeof value === 'function' && !methods.has(name)) {
        methods.set(name, value);
      }
    }
  }
  return methods;
}
